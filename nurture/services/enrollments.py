"""Enrolling leads, ending enrollments, unsubscribes and the suppression list.

Each function may run twice for the same cause (a retried task, a double click) and
leaves the same result: enrollment keeps one active row per (sequence, lead) by a
partial unique constraint and remembers the activity that caused it; exits, unsubscribes
and suppressions are conditional updates that change a row once.
"""

from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models.functions import Lower
from django.utils import timezone

from capture.models import Lead, normalize_email
from capture.services import activity_record
from nurture import schedule
from nurture.models import (
    EmailMessage,
    Enrollment,
    EnrollmentState,
    MessageStatus,
    Reenrollment,
    Sequence,
    SequenceStatus,
    Suppression,
    SuppressionReason,
    TriggerType,
    stage_reached,
)

# Activity kinds nurture writes (docs/activities.md).
ENROLLED = "sequence_enrolled"
EXITED = "sequence_exited"


def is_suppressed(email: str) -> bool:
    return Suppression.objects.annotate(lower=Lower("email")).filter(
        lower=normalize_email(email)
    ).exists()


def enrollment_refusal(*, sequence: Sequence, lead: Lead) -> str | None:
    """Why ``lead`` may not be enrolled in ``sequence`` now, in words; None if it may."""
    if sequence.status == SequenceStatus.DRAFT:
        return "The sequence is a draft; activate it first."
    if lead.unsubscribed_at is not None:
        return "The lead has unsubscribed from emails."
    if is_suppressed(lead.email):
        return "The lead's address is on the suppression list."
    if stage_reached(lead.stage, sequence.exit_on_stage):
        return (f"The lead is already in stage {lead.get_stage_display()}, where this "
                "sequence stops.")
    previous = Enrollment.objects.filter(sequence=sequence, lead=lead)
    if previous.filter(state=EnrollmentState.ACTIVE).exists():
        return "The lead is already in this sequence."
    if sequence.reenrollment == Reenrollment.NEVER and previous.exists():
        return "The lead has been in this sequence before, and it does not re-enrol."
    return None


@transaction.atomic
def enrollment_create(
    *,
    sequence: Sequence,
    lead: Lead,
    source: str = TriggerType.MANUAL,
    activity_id: int | None = None,
    actor=None,
    now: datetime | None = None,
) -> Enrollment:
    """Enroll ``lead``; its first step comes due after the step's delay (and window).
    Raises ValidationError({"lead": …}) when the lead may not be enrolled. Leads waiting
    for a double opt-in confirmation may be enrolled; nothing is sent before it."""
    now = now or timezone.now()
    if activity_id is not None and Enrollment.objects.filter(
        sequence=sequence, lead=lead, trigger_activity_id=activity_id
    ).exists():
        raise ValidationError({"lead": "Already enrolled by this activity."})
    if refusal := enrollment_refusal(sequence=sequence, lead=lead):
        raise ValidationError({"lead": refusal})
    first = sequence.steps.order_by("position").first()
    if first is None:
        raise ValidationError({"lead": "The sequence has no steps."})
    try:
        # A savepoint: losing the race for the one active row to a concurrent enrollment
        # leaves the caller's transaction usable.
        with transaction.atomic():
            enrollment = Enrollment.objects.create(
                sequence=sequence,
                lead=lead,
                source=source,
                trigger_activity_id=activity_id,
                next_step=first,
                next_due_at=schedule.due_after(first, now),
                enrolled_at=now,
            )
    except IntegrityError as exc:
        raise ValidationError({"lead": "The lead is already in this sequence."}) from exc
    activity_record(
        lead=lead, kind=ENROLLED, actor=actor, occurred_at=now,
        data={"sequence": sequence.pk, "enrollment": enrollment.pk, "source": source,
              "sequence_name": sequence.name},
    )
    return enrollment


@transaction.atomic
def enrollment_exit(
    *, enrollment: Enrollment, reason: str, actor=None, now: datetime | None = None
) -> bool:
    """Stop an active enrollment at once: no further step is claimed, and its queued
    emails not yet handed to the mail server are cancelled. True if this call ended it."""
    now = now or timezone.now()
    changed = Enrollment.objects.filter(pk=enrollment.pk, state=EnrollmentState.ACTIVE).update(
        state=EnrollmentState.EXITED, exit_reason=reason[:100], next_due_at=None,
        finished_at=now, held_for_optin=False,
    )
    if changed != 1:
        return False
    enrollment.state, enrollment.exit_reason = EnrollmentState.EXITED, reason[:100]
    enrollment.next_due_at, enrollment.finished_at = None, now
    EmailMessage.objects.filter(enrollment=enrollment, status=MessageStatus.QUEUED).update(
        status=MessageStatus.CANCELLED, error=f"Enrollment exited: {reason}"[:500]
    )
    activity_record(
        lead=enrollment.lead, kind=EXITED, actor=actor, occurred_at=now,
        data={"sequence": enrollment.sequence_id, "enrollment": enrollment.pk,
              "reason": reason},
    )
    return True


def lead_exit_all(*, lead: Lead, reason: str, sequences=None, actor=None) -> int:
    """Exit the lead's active enrollments (in ``sequences`` only, if given)."""
    qs = Enrollment.objects.filter(lead=lead, state=EnrollmentState.ACTIVE).select_related(
        "lead")
    if sequences is not None:
        qs = qs.filter(sequence__in=sequences)
    return sum(enrollment_exit(enrollment=e, reason=reason, actor=actor) for e in qs)


@transaction.atomic
def lead_unsubscribe(
    *, lead: Lead, how: str, message: EmailMessage | None = None, now: datetime | None = None
) -> bool:
    """Unsubscribe the lead from all nurture email (nurture owns Lead.unsubscribed_at):
    records ``unsubscribed`` and exits every sequence. True if this call did it."""
    now = now or timezone.now()
    changed = Lead.objects.filter(pk=lead.pk, unsubscribed_at__isnull=True).update(
        unsubscribed_at=now, updated_at=now
    )
    if changed == 1:
        lead.unsubscribed_at = now
        activity_record(lead=lead, kind="unsubscribed", occurred_at=now,
                        data={"message": message.pk if message else None, "how": how})
    lead_exit_all(lead=lead, reason="unsubscribed")
    return changed == 1


@transaction.atomic
def suppression_add(*, email: str, reason: str = SuppressionReason.MANUAL,
                    detail: str = "") -> Suppression:
    """Put an address on the suppression list (once) and exit its lead's sequences."""
    email = normalize_email(email)
    existing = Suppression.objects.annotate(lower=Lower("email")).filter(lower=email).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            suppression = Suppression.objects.create(email=email, reason=reason,
                                                     detail=detail[:1000])
    except IntegrityError:
        return Suppression.objects.annotate(lower=Lower("email")).get(lower=email)
    lead = Lead.objects.with_email(email).first()
    if lead is not None:
        lead_exit_all(lead=lead, reason=f"suppressed ({reason})")
    return suppression
