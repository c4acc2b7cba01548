"""The only code that changes a lead's stage or owner, so the API, the UI and scoring
all obey the same rules and leave the same trace."""

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from capture.models import ActivityKind, Lead, Stage
from capture.services import activity_record
from pipeline.models import (
    MILESTONE_FIELDS,
    Deal,
    LeadMilestone,
    NotificationKind,
    PipelineSettings,
    StageTransition,
)
from pipeline.selectors import board_changed
from pipeline.services.notifications import notify
from pipeline.services.records import lead_assign_by_rules, lead_touch

# Where a lead may go from each stage. Going back is allowed where sales really does it
# (rejecting an MQL, recycling a stalled deal into nurture); a customer stays a customer.
ALLOWED_TRANSITIONS: dict[str, set[str]] = {
    Stage.LEAD: {Stage.MQL, Stage.SQL, Stage.OPPORTUNITY, Stage.CUSTOMER, Stage.DISQUALIFIED},
    Stage.MQL: {Stage.LEAD, Stage.SQL, Stage.OPPORTUNITY, Stage.CUSTOMER, Stage.DISQUALIFIED},
    Stage.SQL: {Stage.LEAD, Stage.OPPORTUNITY, Stage.CUSTOMER, Stage.DISQUALIFIED},
    Stage.OPPORTUNITY: {Stage.LEAD, Stage.SQL, Stage.CUSTOMER, Stage.DISQUALIFIED},
    Stage.CUSTOMER: set(),
    Stage.DISQUALIFIED: {Stage.LEAD},
}

# Moves that must say why: marketing reads rejection reasons, sales reads disqualifications.
REASON_REQUIRED = {(Stage.MQL, Stage.LEAD)}
REASON_REQUIRED_TO = {Stage.DISQUALIFIED}


def transition_refusal(from_stage: str, to_stage: str, reason: str = "") -> str | None:
    """Why a move is refused, in words for the person who tried it; None if allowed."""
    if to_stage not in Stage.values:
        return f"“{to_stage}” is not a stage."
    if from_stage == to_stage:
        return f"The lead is already in {Stage(to_stage).label}."
    if to_stage not in ALLOWED_TRANSITIONS[from_stage]:
        return f"A lead cannot move from {Stage(from_stage).label} to {Stage(to_stage).label}."
    needs_reason = (from_stage, to_stage) in REASON_REQUIRED or to_stage in REASON_REQUIRED_TO
    if needs_reason and not reason.strip():
        return (
            f"Moving a lead from {Stage(from_stage).label} to {Stage(to_stage).label} "
            "needs a reason."
        )
    return None


# Moves into these stages from an unqualified one (lead, MQL) must pass the BANT items the
# admin requires; skipping SQL straight to opportunity must not skip the check.
BANT_CHECKED_STAGES = {Stage.SQL, Stage.OPPORTUNITY, Stage.CUSTOMER}
UNQUALIFIED_STAGES = {Stage.LEAD, Stage.MQL, Stage.DISQUALIFIED}


def bant_refusal(lead_id: int, from_stage: str, to_stage: str) -> str | None:
    """Why qualification stops this move (naming what is missing); None if it does not."""
    if to_stage not in BANT_CHECKED_STAGES or from_stage not in UNQUALIFIED_STAGES:
        return None
    required = PipelineSettings.load().required_bant
    if not required:
        return None
    deal = Deal.objects.filter(lead_id=lead_id).first() or Deal(lead_id=lead_id)
    missing = deal.bant_missing(required)
    if not missing:
        return None
    return (
        f"Before a lead moves to {Stage(to_stage).label}, qualification must confirm: "
        f"{', '.join(missing)} (set each to “yes” in the BANT checklist on the lead page)."
    )


@transaction.atomic
def lead_change_stage(
    *, lead: Lead, to_stage: str, actor=None, by_system: str = "", reason: str = ""
) -> StageTransition:
    """Move a lead to another stage: checks the move, records a StageTransition (and, on
    the lead's LeadMilestone, its first move into each funnel stage) and a stage_changed
    activity. Raises ValidationError({"stage": ...}) when refused."""
    # Lock the row: two reps moving one card at once must not both pass the check
    # against the same old stage.
    current = Lead.objects.select_for_update().only("stage", "owner").get(pk=lead.pk)
    refusal = transition_refusal(current.stage, to_stage, reason) or bant_refusal(
        lead.pk, current.stage, to_stage
    )
    if refusal:
        raise ValidationError({"stage": refusal})
    now = timezone.now()
    transition = StageTransition.objects.create(
        lead=lead,
        from_stage=current.stage,
        to_stage=to_stage,
        by_user=actor,
        by_system=by_system,
        reason=reason.strip(),
    )
    _milestone_keep_first(lead.pk, to_stage, transition.created_at)
    Lead.objects.filter(pk=lead.pk).update(stage=to_stage, stage_changed_at=now, updated_at=now)
    lead.stage, lead.stage_changed_at = to_stage, now
    transaction.on_commit(board_changed)
    activity_record(
        lead=lead,
        kind=ActivityKind.STAGE_CHANGED,
        actor=actor,
        data={
            "from": current.stage,
            "to": to_stage,
            "reason": transition.reason,
            "by": by_system or (actor.username if actor else "system"),
            "transition": transition.pk,
        },
    )
    owner_id = current.owner_id
    if to_stage == Stage.MQL:
        # A new MQL hand-off: speed-to-lead counts afresh, whoever made it an MQL.
        Deal.objects.filter(lead_id=lead.pk).update(first_touch_at=None)
        assigned = False
        if owner_id is None and (owner := lead_assign_by_rules(lead=lead)) is not None:
            lead_assign_owner(lead=lead, owner=owner, by_system="assignment rules")
            owner_id, assigned = owner.pk, True
        if owner_id is not None:
            StageTransition.objects.filter(pk=transition.pk).update(owner_id=owner_id)
            transition.owner_id = owner_id
            if actor is None or actor.pk != owner_id:
                _tell_owner_of_new_mql(lead, owner_id, assigned=assigned)
    # A person's move is a touch; a move to MQL only when they are the one who must
    # follow it up (a rep marking their own lead): an integration's token, or a rep
    # handing an unowned lead to the rules, has not worked the lead for its new owner.
    if actor is not None and (to_stage != Stage.MQL or owner_id == actor.pk):
        lead_touch(lead=lead, at=now)
    return transition


def _milestone_keep_first(lead_id: int, to_stage: str, at) -> None:
    """Record a move on the lead's LeadMilestone row in one upsert: made at its first
    move (with the lead's created_at and source), and the move's time kept as its first
    into a funnel stage unless one is there already. Raw SQL: the ORM's update_conflicts
    can only overwrite. The lead row is locked by the caller."""
    quote = connection.ops.quote_name
    table = quote(LeadMilestone._meta.db_table)
    columns = [quote(name) for name in ("lead_id", "lead_created_at", "source")]
    picked = [quote(name) for name in ("id", "created_at", "source")]
    params = []
    column = MILESTONE_FIELDS.get(to_stage)
    if column is None:  # into Lead or Disqualified: only the row itself
        on_conflict = "DO NOTHING"
    else:
        name = quote(column)
        columns.append(name)
        picked.append("%s")
        params.append(connection.ops.adapt_datetimefield_value(at))
        on_conflict = f"DO UPDATE SET {name} = COALESCE({table}.{name}, EXCLUDED.{name})"
    # "WHERE": SQLite parses INSERT … SELECT … ON CONFLICT only with one.
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({', '.join(columns)}) "  # noqa: S608
            f"SELECT {', '.join(picked)} FROM {quote(Lead._meta.db_table)} "
            f"WHERE {quote('id')} = %s ON CONFLICT ({quote('lead_id')}) {on_conflict}",
            [*params, lead_id],
        )


def _tell_owner_of_new_mql(lead: Lead, owner_id: int, *, assigned: bool) -> None:
    """In the app now (with the move's transaction), by email once it commits."""
    from pipeline.tasks import mql_assigned_notify

    owner = get_user_model().objects.get(pk=owner_id)
    what = "is now yours" if assigned else "is yours to follow up"
    notify(recipient=owner, kind=NotificationKind.MQL_ASSIGNED, lead=lead,
           text=f"{lead} became an MQL and {what}.")
    lead_id = lead.pk
    transaction.on_commit(lambda: mql_assigned_notify.delay(lead_id, owner_id), robust=True)


@transaction.atomic
def lead_assign_owner(*, lead: Lead, owner, actor=None, by_system: str = "") -> Lead:
    """Give a lead to a user (or to nobody, with owner=None); records owner_changed."""
    if owner is not None and not owner.is_active:
        raise ValidationError({"owner": "That user is deactivated and cannot own leads."})
    current = Lead.objects.select_for_update().only("owner").get(pk=lead.pk)
    if current.owner_id == (owner.pk if owner else None):
        return lead
    now = timezone.now()
    Lead.objects.filter(pk=lead.pk).update(owner=owner, updated_at=now)
    lead.owner = owner
    activity_record(
        lead=lead,
        kind=ActivityKind.OWNER_CHANGED,
        actor=actor,
        data={
            "from": current.owner_id,
            "to": owner.pk if owner else None,
            "to_name": owner.display_name if owner else "",
            "by": by_system or (actor.username if actor else "system"),
        },
    )
    return lead


def leads_promote_to_mql(*, lead_ids, reason: str) -> int:
    """Scoring's promoter (settings.SCORING_MQL_PROMOTER): move each of these leads that
    is still in stage "lead" to MQL, by "scoring", with ``reason``; returns how many
    moved. A lead anywhere else (already MQL, further on, disqualified) stays put."""
    moved = 0
    for lead in Lead.objects.filter(pk__in=list(lead_ids), stage=Stage.LEAD).order_by("pk"):
        try:
            lead_change_stage(lead=lead, to_stage=Stage.MQL, by_system="scoring",
                              reason=reason)
        except ValidationError:
            continue  # moved by someone else since it was read: lead_change_stage refused
        moved += 1
    return moved
