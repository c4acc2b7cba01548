"""nurture's entry in settings.ACTIVITY_HANDLERS (after scoring, so score and grade
changes an activity causes are already recorded when their own activities arrive).

Called by capture.tasks.activity_process with each new activity after its transaction
committed, and again if the task runs twice. Idempotent: an enrollment remembers the
activity that caused it (and only one per sequence and lead may be active); exits are
conditional updates.

- exits: ``stage_changed`` to the sequence's exit stage or later, ``unsubscribed``, the
  sequence's goal activity;
- enrolls: form submissions and lead-magnet downloads, custom events, stage entered, a
  rejected MQL (stage_changed from mql back to lead), score and grade reached
  (score_changed / grade_changed from incremental scoring), and a lead that came to match
  a watched segment (checked at once for the changes the leads list filters on; every
  lead is also checked each minute: nurture.services.segments);
- ``confirmed`` (double opt-in): the lead's held steps become due at once.

A full rescore and the decay run write their score_changed / grade_changed activities
already processed, so they never come here: scoring calls ``leads_rescored`` (named in
settings.SCORING_RESCORE_HOOKS) after each committed batch instead.
"""

import logging

from django.core.exceptions import ValidationError
from django.db.models import FloatField, Q, QuerySet, TextField, Value
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Coalesce
from django.utils import timezone

from capture.models import Activity, ActivityKind, Grade, Lead, Stage
from nurture.models import (
    Enrollment,
    EnrollmentState,
    Reenrollment,
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
from nurture.services.segments import segments_evaluate

logger = logging.getLogger(__name__)

# What nurture writes itself: never a trigger (a goal may still be one of them).
OWN_KINDS = {ENROLLED, EXITED, ActivityKind.EMAIL_SENT, "email_failed"}
KIND_TRIGGERS = {
    ActivityKind.FORM_SUBMITTED: (TriggerType.FORM_SUBMITTED,),
    "lead_magnet_downloaded": (TriggerType.LEAD_MAGNET,),
    ActivityKind.STAGE_CHANGED: (TriggerType.STAGE_ENTERED, TriggerType.MQL_REJECTED),
    ActivityKind.SCORE_CHANGED: (TriggerType.SCORE_REACHED,),
    ActivityKind.GRADE_CHANGED: (TriggerType.GRADE_REACHED,),
}
# Changes that can move a lead into or out of a segment (the leads list filters on name,
# email, company, stage, grade, owner, source and creation date): checked at once.
SEGMENT_KINDS = {ActivityKind.LEAD_CREATED, ActivityKind.LEAD_UPDATED,
                 ActivityKind.FORM_SUBMITTED, ActivityKind.STAGE_CHANGED,
                 ActivityKind.GRADE_CHANGED, ActivityKind.OWNER_CHANGED}
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
    if trigger.type == TriggerType.MQL_REJECTED:
        # Sales sent the MQL back (docs/activities.md: stage_changed's from and to), not
        # any lead entering Lead (a disqualified lead revived, a stalled deal recycled).
        return (kind == ActivityKind.STAGE_CHANGED and data.get("from") == Stage.MQL
                and data.get("to") == Stage.LEAD)
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
    if trigger_types := KIND_TRIGGERS.get(activity.kind):
        candidates |= Q(type__in=trigger_types)
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
    if activity.kind in SEGMENT_KINDS:
        segments_evaluate(lead_ids=[lead.pk])


# --- After a full rescore or a decay run (settings.SCORING_RESCORE_HOOKS) ---------------------

RESCORE_CHUNK = 500  # leads loaded (and enrolled) at a time


def _reached_sql(trigger: Trigger, activities: QuerySet) -> QuerySet | None:
    """The batch's activities by which a lead crossed ``trigger``'s score or grade (as
    ``_matches`` decides for one activity), for leads that still meet it: in SQL."""
    params = trigger.params or {}
    if trigger.type == TriggerType.SCORE_REACHED:
        try:
            wanted = float(params.get("score"))
        except (TypeError, ValueError):
            return None
        return activities.filter(kind=ActivityKind.SCORE_CHANGED).annotate(
            score_old=Cast(KeyTextTransform("old", "data"), FloatField()),
            score_new=Cast(KeyTextTransform("new", "data"), FloatField()),
        ).filter(score_old__lt=wanted, score_new__gte=wanted, lead__score__gte=wanted)
    wanted = params.get("grade")
    if trigger.type != TriggerType.GRADE_REACHED or wanted not in GRADE_RANK:
        return None
    allowed = [g for g, rank in GRADE_RANK.items() if rank >= GRADE_RANK[wanted]]
    return activities.filter(kind=ActivityKind.GRADE_CHANGED).annotate(
        grade_old=Coalesce(KeyTextTransform("old", "data"), Value(""),
                           output_field=TextField()),
        grade_new=Coalesce(KeyTextTransform("new", "data"), Value(""),
                           output_field=TextField()),
    ).filter(grade_new__in=allowed, lead__grade__in=allowed).exclude(grade_old__in=allowed)


def leads_rescored(*, changes) -> int:
    """Enroll the leads a full rescore or decay batch made reach a score_reached /
    grade_reached trigger (``changes`` is scoring's ScoreChanges). No such trigger: one
    query. Otherwise, per sequence, the candidates are found in SQL (crossed the value in
    this batch, still meet it, not unsubscribed, not in the sequence — or never been in
    it, under "never") and only those leads are loaded, in chunks, and go through
    ``enrollment_create`` (every refusal rule applies; the activity is remembered, so a
    second call enrolls nobody). A batch that changed grades also has the leads whose
    grade changed checked against the watched segments (a segment may filter on grade).
    Returns how many were enrolled."""
    triggers = list(
        Trigger.objects.filter(type__in=[TriggerType.SCORE_REACHED, TriggerType.GRADE_REACHED,
                                         TriggerType.SEGMENT],
                               sequence__status=SequenceStatus.ACTIVE)
        .select_related("sequence").order_by("sequence_id", "id"))
    if not triggers:
        return 0
    activities = changes.activities()
    enrolled = 0
    if changes.grades_changed and any(t.type == TriggerType.SEGMENT for t in triggers):
        # A grade the rescore changed can move a lead into a segment that filters on it.
        enrolled += segments_evaluate(lead_ids=activities.filter(
            kind=ActivityKind.GRADE_CHANGED).values("lead_id"))
    triggers = [t for t in triggers if t.type != TriggerType.SEGMENT]
    by_sequence: dict[int, list[Trigger]] = {}
    for trigger in triggers:
        by_sequence.setdefault(trigger.sequence_id, []).append(trigger)
    for sequence_triggers in by_sequence.values():
        sequence = sequence_triggers[0].sequence
        earlier = Enrollment.objects.filter(sequence=sequence)
        if sequence.reenrollment != Reenrollment.NEVER:
            earlier = earlier.filter(state=EnrollmentState.ACTIVE)
        candidates: dict[int, tuple[int, str]] = {}  # lead id → (activity id, source)
        for trigger in sequence_triggers:
            reached = _reached_sql(trigger, activities)
            if reached is None:
                continue
            rows = (reached.filter(lead__unsubscribed_at__isnull=True)
                    .exclude(lead_id__in=earlier.values("lead_id"))
                    .order_by("id").values_list("lead_id", "id"))
            for lead_id, activity_id in rows:
                candidates.setdefault(lead_id, (activity_id, trigger.type))
        lead_ids = sorted(candidates)
        for start in range(0, len(lead_ids), RESCORE_CHUNK):
            chunk = lead_ids[start:start + RESCORE_CHUNK]
            leads = Lead.objects.in_bulk(chunk)
            for lead_id in chunk:
                if (lead := leads.get(lead_id)) is None:
                    continue  # deleted meanwhile
                activity_id, source = candidates[lead_id]
                try:
                    enrollment_create(sequence=sequence, lead=lead, source=source,
                                      activity_id=activity_id, now=timezone.now())
                except ValidationError:
                    continue  # not eligible (suppressed, past the exit stage, …)
                enrolled += 1
    if enrolled:
        logger.info("Nurture: %d leads enrolled after %s", enrolled, changes.cause)
    return enrolled
