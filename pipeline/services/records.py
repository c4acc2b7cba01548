"""A lead's deal (value, expected close), its BANT checklist, notes and tasks. Each
change leaves a timeline Activity, as stage and owner changes do."""

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models, transaction
from django.utils import timezone

from capture.models import ActivityKind, Lead, Stage
from capture.services import activity_record
from pipeline.models import (
    BANT_ITEMS,
    Bant,
    Deal,
    Note,
    NoteKind,
    NotificationKind,
    StageTransition,
    Task,
)
from pipeline.selectors import board_changed
from pipeline.services.notifications import notify

# Timeline kinds written here besides note_added (docs/activities.md).
NOTE_EDITED = "note_edited"
TASK_ADDED = "task_added"
TASK_DONE = "task_done"
DEAL_UPDATED = "deal_updated"

DEAL_FIELDS = ("value", "expected_close",
               *[f for item in BANT_ITEMS for f in (item, f"{item}_note")])


def _full_clean(obj, exclude=None) -> None:
    obj.full_clean(exclude=exclude, validate_unique=False, validate_constraints=False)


def lead_touch(*, lead: Lead, at: datetime | None = None) -> None:
    """Record that a person worked the lead (for speed-to-lead), once per MQL hand-off."""
    at = at or timezone.now()
    deal, _ = Deal.objects.get_or_create(lead_id=lead.pk)
    Deal.objects.filter(pk=deal.pk, first_touch_at__isnull=True).update(first_touch_at=at)
    # The hand-off this touch answers: the lead's latest move into MQL, if untouched.
    latest_handoff = StageTransition.objects.filter(
        lead_id=lead.pk, to_stage=Stage.MQL).order_by("-created_at", "-id").values("pk")[:1]
    StageTransition.objects.filter(pk__in=latest_handoff, first_touch_at__isnull=True).update(
        first_touch_at=at)


def _json_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


@transaction.atomic
def deal_update(*, lead: Lead, actor=None, **fields: Any) -> Deal:
    """Set any of DEAL_FIELDS (deal value, expected close, BANT items and notes).
    Records one deal_updated activity with the changes; nothing when nothing changed."""
    unknown = set(fields) - set(DEAL_FIELDS)
    if unknown:
        raise ValidationError({name: "Not a deal field." for name in sorted(unknown)})
    deal, _ = Deal.objects.select_for_update().get_or_create(lead_id=lead.pk)
    changes = {}
    for name, value in fields.items():
        if name.endswith("_note") or name in BANT_ITEMS:
            value = (value or "").strip() if name.endswith("_note") else (value or Bant.UNKNOWN)
        old = getattr(deal, name)
        if old != value:
            changes[name] = {"old": _json_value(old), "new": _json_value(value)}
            setattr(deal, name, value)
    if not changes:
        return deal
    _full_clean(deal, exclude=["lead"])
    deal.save()
    if "value" in changes:
        transaction.on_commit(board_changed)
    activity_record(lead=lead, kind=DEAL_UPDATED, actor=actor, data={"changes": changes})
    return deal


def _check_text(text: str, field: str = "text", limit: int = 10_000) -> str:
    text = (text or "").strip()
    if not text:
        raise ValidationError({field: "This field may not be blank."})
    if len(text) > limit:
        raise ValidationError({field: f"At most {limit:,} characters."})
    return text


@transaction.atomic
def note_add(*, lead: Lead, author, text: str, kind: str = NoteKind.NOTE) -> Note:
    """A note, or a call, email or meeting logged (``kind``): each counts as a touch."""
    if kind not in NoteKind.values:
        raise ValidationError({"kind": f"Choose one of: {', '.join(NoteKind.values)}."})
    text = _check_text(text)
    note = Note.objects.create(lead=lead, author=author, text=text, kind=kind)
    activity_record(lead=lead, kind=ActivityKind.NOTE_ADDED, actor=author,
                    data={"note": note.pk, "text": text, "note_kind": kind})
    if author is not None:
        lead_touch(lead=lead)
    return note


@transaction.atomic
def note_edit(*, note: Note, editor, text: str) -> Note:
    """Only a note's author may edit it."""
    if note.author_id is None or note.author_id != editor.pk:
        raise PermissionDenied("Only the note's author may edit it.")
    text = _check_text(text)
    if text == note.text:
        return note
    old = note.text
    note.text = text
    note.save(update_fields=["text", "updated_at"])
    activity_record(lead=note.lead, kind=NOTE_EDITED, actor=editor,
                    data={"note": note.pk, "old": old, "text": text})
    return note


@transaction.atomic
def task_add(*, lead: Lead, creator, title: str, due_at: datetime, assignee=None) -> Task:
    title = _check_text(title, "title", 300)
    if due_at is None:
        raise ValidationError({"due_at": "This field is required."})
    assignee = assignee or creator
    if assignee is None or not assignee.is_active:
        raise ValidationError({"assignee": "Choose an active user."})
    task = Task.objects.create(lead=lead, title=title, due_at=due_at, assignee=assignee,
                               created_by=creator)
    activity_record(lead=lead, kind=TASK_ADDED, actor=creator,
                    data={"task": task.pk, "title": title, "due_at": due_at.isoformat(),
                          "assignee": assignee.pk})
    if creator is not None:
        lead_touch(lead=lead)
    if creator is None or assignee.pk != creator.pk:
        by = f" by {creator.display_name}" if creator is not None else ""
        notify(recipient=assignee, kind=NotificationKind.TASK_ASSIGNED, lead=lead,
               text=f"Task for {lead}{by}: {title}")
    return task


@transaction.atomic
def task_complete(*, task: Task, actor, done: bool = True) -> Task:
    """Mark a task done (or open again). The conditional update makes a double click
    record one task_done, not two."""
    if done:
        changed = Task.objects.filter(pk=task.pk, done_at__isnull=True).update(
            done_at=timezone.now()
        )
        task.refresh_from_db(fields=["done_at"])
        if changed:
            activity_record(lead=task.lead, kind=TASK_DONE, actor=actor,
                            data={"task": task.pk, "title": task.title})
    else:
        Task.objects.filter(pk=task.pk).update(done_at=None)
        task.done_at = None
    return task


def lead_assign_by_rules(*, lead: Lead):
    """The owner the assignment rules pick for ``lead`` (None when no rule matches or
    the matching rule has no active member). Call inside a transaction: the matching
    rule's row is locked while its turn counter moves on, so two MQLs arriving at once
    go to two different reps, not both to the same one."""
    from pipeline.models import AssignmentRule

    rules = list(AssignmentRule.objects.filter(active=True))
    if rules:
        # The caller's copy may be partial (only the stage was read): match on the row.
        lead = Lead.objects.get(pk=lead.pk)
    for rule in rules:
        if not rule.matches(lead):
            continue
        rule = AssignmentRule.objects.select_for_update().get(pk=rule.pk)
        members = list(rule.members.filter(is_active=True).order_by("id"))
        if not members:
            continue  # an empty team passes the lead on to the next rule
        owner = members[rule.dealt % len(members)]
        AssignmentRule.objects.filter(pk=rule.pk).update(dealt=models.F("dealt") + 1)
        return owner
    return None
