"""Enrolling leads, ending enrollments, unsubscribes and the suppression list.

Each function may run twice for the same cause (a retried task, a double click) and
leaves the same result: enrollment keeps one active row per (sequence, lead) by a
partial unique constraint and remembers the activity that caused it; exits, unsubscribes
and suppressions are conditional updates that change a row once.
"""

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef
from django.db.models.functions import Lower
from django.utils import timezone

from capture.models import Lead, normalize_email
from capture.services import activities_record_bulk, activity_record
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


# Why a lead may not be enrolled, by code (the bulk path counts them), in the order the
# rules are checked; the exit-stage message names the stage, so it is built where used.
UNSUBSCRIBED, SUPPRESSED, PAST_EXIT = "unsubscribed", "suppressed", "past_exit_stage"
IN_SEQUENCE, BEEN_IN = "already_enrolled", "enrolled_before"
REFUSAL_MESSAGES = {
    UNSUBSCRIBED: "The lead has unsubscribed from emails.",
    SUPPRESSED: "The lead's address is on the suppression list.",
    IN_SEQUENCE: "The lead is already in this sequence.",
    BEEN_IN: "The lead has been in this sequence before, and it does not re-enrol.",
}
# How a count of each reads in a summary ("3 already in it").
REFUSAL_SHORT = {
    UNSUBSCRIBED: "unsubscribed",
    SUPPRESSED: "suppressed",
    PAST_EXIT: "past the sequence's exit stage",
    IN_SEQUENCE: "already in it",
    BEEN_IN: "in it before (it does not re-enrol)",
}


def _refusal_code(sequence: Sequence, *, unsubscribed: bool, suppressed, stage: str,
                  in_sequence, been_in) -> str | None:
    """The one place the rules are written. ``suppressed``, ``in_sequence`` and
    ``been_in`` are values or callables (asked only when the rules before them pass, so a
    single enrollment runs only the queries it needs)."""
    def ask(fact):
        return fact() if callable(fact) else fact

    if unsubscribed:
        return UNSUBSCRIBED
    if ask(suppressed):
        return SUPPRESSED
    if stage_reached(stage, sequence.exit_on_stage):
        return PAST_EXIT
    if ask(in_sequence):
        return IN_SEQUENCE
    if sequence.reenrollment == Reenrollment.NEVER and ask(been_in):
        return BEEN_IN
    return None


def _refusal_message(code: str, lead: Lead) -> str:
    if code == PAST_EXIT:
        return (f"The lead is already in stage {lead.get_stage_display()}, where this "
                "sequence stops.")
    return REFUSAL_MESSAGES[code]


def _lead_refusal_code(sequence: Sequence, lead: Lead) -> str | None:
    previous = Enrollment.objects.filter(sequence=sequence, lead=lead)
    return _refusal_code(
        sequence, unsubscribed=lead.unsubscribed_at is not None,
        suppressed=lambda: is_suppressed(lead.email), stage=lead.stage,
        in_sequence=lambda: previous.filter(state=EnrollmentState.ACTIVE).exists(),
        been_in=previous.exists)


def enrollment_refusal(*, sequence: Sequence, lead: Lead) -> str | None:
    """Why ``lead`` may not be enrolled in ``sequence`` now, in words; None if it may."""
    if sequence.status == SequenceStatus.DRAFT:
        return "The sequence is a draft; activate it first."
    code = _lead_refusal_code(sequence, lead)
    return _refusal_message(code, lead) if code else None


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


BULK_CHUNK = 500  # leads checked, inserted and recorded per statement group


@dataclass
class BulkEnrollment:
    """What ``enrollments_create_bulk`` did: the leads enrolled, and how many were
    skipped for each refusal code (REFUSAL_SHORT says them in words)."""

    enrolled: list[int] = field(default_factory=list)
    skipped: Counter = field(default_factory=Counter)

    def add(self, other: "BulkEnrollment") -> None:
        self.enrolled += other.enrolled
        self.skipped.update(other.skipped)

    def skipped_text(self) -> str:
        """"2 already in it, 1 unsubscribed" (most first)."""
        return ", ".join(f"{n:,} {REFUSAL_SHORT.get(code, code)}"
                         for code, n in self.skipped.most_common())


def _bulk_chunk(sequence: Sequence, lead_ids: list[int], *, first, due, source: str,
                actor, now: datetime) -> BulkEnrollment:
    """One chunk, in one transaction: the rules checked for all its leads in one query,
    the enrollments inserted in one, their activities in one (one follow-up task)."""
    result = BulkEnrollment()
    suppressed = Suppression.objects.annotate(lower=Lower("email")).filter(
        lower=Lower(OuterRef("email")))
    previous = Enrollment.objects.filter(sequence=sequence, lead=OuterRef("pk"))
    rows = (Lead.objects.filter(pk__in=lead_ids)
            .annotate(is_suppressed=Exists(suppressed),
                      in_sequence=Exists(previous.filter(state=EnrollmentState.ACTIVE)),
                      been_in=Exists(previous))
            .order_by("pk")
            .values_list("pk", "unsubscribed_at", "stage", "is_suppressed", "in_sequence",
                         "been_in"))
    eligible: list[int] = []
    for pk, unsubscribed_at, stage, is_suppressed_, in_sequence, been_in in rows:
        code = _refusal_code(sequence, unsubscribed=unsubscribed_at is not None,
                             suppressed=is_suppressed_, stage=stage,
                             in_sequence=in_sequence, been_in=been_in)
        if code:
            result.skipped[code] += 1
        else:
            eligible.append(pk)
    if not eligible:
        return result
    try:
        # A savepoint: a lead enrolled concurrently since the check above (the partial
        # unique constraint refuses its second active row) sends this chunk the slow
        # way, one lead at a time through enrollment_create, which decides each.
        with transaction.atomic():
            created = Enrollment.objects.bulk_create([
                Enrollment(sequence=sequence, lead_id=pk, source=source, next_step=first,
                           next_due_at=due, enrolled_at=now)
                for pk in eligible])
    except IntegrityError:
        for lead in Lead.objects.filter(pk__in=eligible).order_by("pk"):
            if code := _lead_refusal_code(sequence, lead):
                result.skipped[code] += 1
                continue
            try:
                enrollment_create(sequence=sequence, lead=lead, source=source, actor=actor,
                                  now=now)
            except ValidationError:
                result.skipped[IN_SEQUENCE] += 1  # lost a race for the one active run
            else:
                result.enrolled.append(lead.pk)
        return result
    activities_record_bulk(
        {"lead_id": e.lead_id, "kind": ENROLLED, "actor": actor, "occurred_at": now,
         "data": {"sequence": sequence.pk, "enrollment": e.pk, "source": source,
                  "sequence_name": sequence.name}}
        for e in created)
    result.enrolled += [e.lead_id for e in created]
    return result


def enrollments_create_bulk(
    *,
    sequence: Sequence,
    lead_ids: Iterable[int],
    source: str = TriggerType.MANUAL,
    actor=None,
    now: datetime | None = None,
) -> BulkEnrollment:
    """Enroll many leads at once, by the same rules as ``enrollment_create`` (one active
    run per lead, re-enrolment policy, exit stage, unsubscribed and suppressed leads
    skipped), set-based: per BULK_CHUNK leads, one query checks them, one INSERT enrolls
    them and one records their ``sequence_enrolled`` activities (one follow-up task).
    Each chunk commits on its own (a failure later keeps the chunks before it). Raises
    ValidationError on ``sequence`` for a draft or a sequence without steps."""
    now = now or timezone.now()
    if sequence.status == SequenceStatus.DRAFT:
        raise ValidationError({"sequence": "The sequence is a draft; activate it first."})
    first = sequence.steps.order_by("position").first()
    if first is None:
        raise ValidationError({"sequence": "The sequence has no steps."})
    due = schedule.due_after(first, now)  # the same first step and moment for every lead
    ids = sorted(set(lead_ids))
    result = BulkEnrollment()
    for start in range(0, len(ids), BULK_CHUNK):
        with transaction.atomic():
            result.add(_bulk_chunk(sequence, ids[start:start + BULK_CHUNK], first=first,
                                   due=due, source=source, actor=actor, now=now))
    return result


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
