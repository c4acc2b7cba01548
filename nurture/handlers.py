"""nurture's entry in settings.ACTIVITY_HANDLERS (after scoring, so score and grade
changes an activity causes are already recorded when their own activities arrive).

Called by capture.tasks.activity_process with each new activity after its transaction
committed, and again if the task runs twice. Idempotent: an enrollment remembers the
activity that caused it (and only one per sequence and lead may be active); exits are
conditional updates.

- exits: ``stage_changed`` to the sequence's exit stage or later, ``unsubscribed``, the
  sequence's goal activity;
- enrolls: form submissions and lead-magnet downloads, custom events, stage entered,
  score and grade reached (score_changed / grade_changed from incremental scoring; a full
  rescore writes its activities already processed, so a rescore does not enroll);
- ``confirmed`` (double opt-in): the lead's held steps become due at once.
"""

from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils import timezone

from capture.models import Activity, ActivityKind, Grade, Lead
from nurture.models import (
    Enrollment,
    EnrollmentState,
    Sequence,
    SequenceStatus,
    Trigger,
    TriggerType,
    stage_reached,
)
from nurture.services.enrollments import (
    ENROLLED,
    EXITED,
    enrollment_create,
    lead_exit_all,
)

# What nurture writes itself: never a trigger (a goal may still be one of them).
OWN_KINDS = {ENROLLED, EXITED, ActivityKind.EMAIL_SENT}
KIND_TRIGGERS = {
    ActivityKind.FORM_SUBMITTED: TriggerType.FORM_SUBMITTED,
    "lead_magnet_downloaded": TriggerType.LEAD_MAGNET,
    ActivityKind.STAGE_CHANGED: TriggerType.STAGE_ENTERED,
    ActivityKind.SCORE_CHANGED: TriggerType.SCORE_REACHED,
    ActivityKind.GRADE_CHANGED: TriggerType.GRADE_REACHED,
}
GRADE_RANK = {g: i for i, g in enumerate(reversed(Grade.values))}  # F=0 … A=4


def _grade_crossed(old, new, wanted) -> bool:
    if new not in GRADE_RANK or wanted not in GRADE_RANK:
        return False
    before = GRADE_RANK.get(old, -1)
    return before < GRADE_RANK[wanted] <= GRADE_RANK[new]


def _score_crossed(old, new, wanted) -> bool:
    try:
        return float(old) < float(wanted) <= float(new)
    except (TypeError, ValueError):
        return False


def _matches(trigger: Trigger, activity: Activity) -> bool:
    kind, data = activity.kind, activity.data or {}
    params = trigger.params or {}
    if trigger.type == TriggerType.FORM_SUBMITTED:
        return kind == ActivityKind.FORM_SUBMITTED and (
            trigger.form_id is None or data.get("form") == trigger.form_id)
    if trigger.type == TriggerType.LEAD_MAGNET:
        return kind == "lead_magnet_downloaded" and (
            params.get("page") is None or data.get("page") == params.get("page"))
    if trigger.type == TriggerType.CUSTOM_EVENT:
        return kind == params.get("event")
    if trigger.type == TriggerType.STAGE_ENTERED:
        return kind == ActivityKind.STAGE_CHANGED and data.get("to") == params.get("stage")
    if trigger.type == TriggerType.SCORE_REACHED:
        return kind == ActivityKind.SCORE_CHANGED and _score_crossed(
            data.get("old"), data.get("new"), params.get("score"))
    if trigger.type == TriggerType.GRADE_REACHED:
        return kind == ActivityKind.GRADE_CHANGED and _grade_crossed(
            data.get("old"), data.get("new"), params.get("grade"))
    return False


def _exits(activity: Activity, lead: Lead) -> None:
    active = Enrollment.objects.filter(lead=lead, state=EnrollmentState.ACTIVE)
    if activity.kind == ActivityKind.UNSUBSCRIBED:
        lead_exit_all(lead=lead, reason="unsubscribed")
        return
    if activity.kind == ActivityKind.STAGE_CHANGED:
        to_stage = (activity.data or {}).get("to", "")
        sequences = [e.sequence for e in active.select_related("sequence")
                     if stage_reached(to_stage, e.sequence.exit_on_stage)]
        if sequences:
            lead_exit_all(lead=lead, reason=f"stage {to_stage}", sequences=sequences)
    goals = Sequence.objects.filter(goal_kind=activity.kind,
                                    pk__in=active.values("sequence_id"))
    if activity.kind and goals.exists():
        lead_exit_all(lead=lead, reason=f"goal {activity.kind}", sequences=goals)


def _enrolls(activity: Activity, lead: Lead) -> None:
    if activity.kind in OWN_KINDS or activity.kind in (
        ActivityKind.EMAIL_OPENED, ActivityKind.EMAIL_CLICKED, ActivityKind.UNSUBSCRIBED
    ):
        return
    candidates = Q(type=TriggerType.CUSTOM_EVENT, params__event=activity.kind)
    if trigger_type := KIND_TRIGGERS.get(activity.kind):
        candidates |= Q(type=trigger_type)
    triggers = (Trigger.objects.filter(candidates, sequence__status=SequenceStatus.ACTIVE)
                .select_related("sequence").order_by("sequence_id", "id"))
    done: set[int] = set()
    for trigger in triggers:
        if trigger.sequence_id in done or not _matches(trigger, activity):
            continue
        done.add(trigger.sequence_id)
        try:
            enrollment_create(sequence=trigger.sequence, lead=lead, source=trigger.type,
                              activity_id=activity.pk, now=max(activity.occurred_at,
                                                               timezone.now()))
        except ValidationError:
            continue  # not eligible (already in it, unsubscribed, …): nothing to do


def activity_enroll_and_exit(activity: Activity) -> None:
    lead = Lead.objects.filter(pk=activity.lead_id).first()
    if lead is None:
        return  # deleted with its timeline
    if activity.kind == ActivityKind.CONFIRMED:
        Enrollment.objects.filter(lead=lead, state=EnrollmentState.ACTIVE,
                                  held_for_optin=True).update(
            next_due_at=timezone.now(), held_for_optin=False)
    _exits(activity, lead)
    _enrolls(activity, lead)
