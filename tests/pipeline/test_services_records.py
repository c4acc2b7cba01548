"""BANT qualification enforced inside lead_change_stage; the deal, notes and tasks
services and the timeline activities they leave; speed-to-lead's first touch."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from capture.models import ActivityKind, Stage
from pipeline.models import Deal, PipelineSettings
from pipeline.services import (
    deal_update,
    lead_change_stage,
    leads_promote_to_mql,
    note_add,
    note_edit,
    task_add,
    task_complete,
)
from tests.factories import DealFactory, LeadFactory, NoteFactory, SalesRepFactory, TaskFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def bant_required():
    return PipelineSettings.objects.create(pk=1, require_budget=True, require_need=True)


@pytest.mark.parametrize("to_stage", [Stage.SQL, Stage.OPPORTUNITY, Stage.CUSTOMER])
def test_a_move_to_sql_or_beyond_needs_the_required_bant_items(rep, bant_required, to_stage):
    lead = LeadFactory(stage=Stage.MQL)
    DealFactory(lead=lead, budget="yes", need="unknown")
    with pytest.raises(ValidationError) as exc:
        lead_change_stage(lead=lead, to_stage=to_stage, actor=rep)
    message = exc.value.message_dict["stage"][0]
    assert "need" in message and "budget" not in message
    lead.refresh_from_db()
    assert lead.stage == Stage.MQL
    deal_update(lead=lead, actor=rep, need="yes")
    lead_change_stage(lead=lead, to_stage=to_stage, actor=rep)
    lead.refresh_from_db()
    assert lead.stage == to_stage


def test_a_lead_without_a_deal_row_is_missing_every_required_item(rep, bant_required):
    lead = LeadFactory(stage=Stage.LEAD)
    with pytest.raises(ValidationError) as exc:
        lead_change_stage(lead=lead, to_stage=Stage.SQL, actor=rep)
    assert "budget, need" in exc.value.message_dict["stage"][0]


def test_bant_does_not_stop_moves_between_qualified_stages_or_to_mql(rep, bant_required):
    lead = LeadFactory(stage=Stage.SQL)
    lead_change_stage(lead=lead, to_stage=Stage.OPPORTUNITY, actor=rep)
    other = LeadFactory(stage=Stage.LEAD)
    assert leads_promote_to_mql(lead_ids=[other.pk], reason="score 100") == 1


def test_nothing_is_required_by_default(rep):
    lead = LeadFactory(stage=Stage.MQL)
    lead_change_stage(lead=lead, to_stage=Stage.SQL, actor=rep)


def test_deal_update_records_what_changed(rep):
    lead = LeadFactory()
    deal = deal_update(lead=lead, actor=rep, value=Decimal("1500.50"),
                       expected_close=timezone.now().date(), budget="yes", budget_note=" ok ")
    assert deal.value == Decimal("1500.50") and deal.budget_note == "ok"
    activity = lead.activities.get(kind="deal_updated")
    assert activity.data["changes"]["value"] == {"old": None, "new": "1500.50"}
    assert activity.actor == rep
    deal_update(lead=lead, actor=rep, value=Decimal("1500.50"))  # no change, no activity
    assert lead.activities.filter(kind="deal_updated").count() == 1


def test_deal_update_refuses_bad_values(rep):
    lead = LeadFactory()
    with pytest.raises(ValidationError) as exc:
        deal_update(lead=lead, actor=rep, value=Decimal("-1"))
    assert "value" in exc.value.message_dict
    with pytest.raises(ValidationError):
        deal_update(lead=lead, actor=rep, budget="maybe")
    with pytest.raises(ValidationError):
        deal_update(lead=lead, actor=rep, stage="customer")


def test_notes_are_timeline_activities_and_only_the_author_edits_them(rep):
    lead = LeadFactory()
    note = note_add(lead=lead, author=rep, text="  Spoke to Ann.  ")
    assert note.text == "Spoke to Ann."
    activity = lead.activities.get(kind=ActivityKind.NOTE_ADDED)
    assert activity.data == {"note": note.pk, "text": "Spoke to Ann.", "note_kind": "note"}
    note_edit(note=note, editor=rep, text="Spoke to Ann and Bob.")
    assert lead.activities.get(kind="note_edited").data["old"] == "Spoke to Ann."
    with pytest.raises(PermissionDenied):
        note_edit(note=note, editor=SalesRepFactory(), text="mine now")
    with pytest.raises(ValidationError):
        note_add(lead=lead, author=rep, text="   ")


def test_tasks_are_added_and_completed_once(rep):
    lead = LeadFactory()
    task = task_add(lead=lead, creator=rep, title="Call back",
                    due_at=timezone.now() + timedelta(days=1))
    assert task.assignee == rep
    task_complete(task=task, actor=rep)
    task_complete(task=task, actor=rep)
    assert lead.activities.filter(kind="task_done").count() == 1
    assert lead.activities.filter(kind="task_added").count() == 1
    task_complete(task=task, actor=rep, done=False)
    task.refresh_from_db()
    assert task.done_at is None


def test_overdue_is_open_and_past_due(rep):
    now = timezone.now()
    assert TaskFactory(due_at=now - timedelta(hours=1)).is_overdue(now)
    assert not TaskFactory(due_at=now - timedelta(hours=1), done_at=now).is_overdue(now)
    assert not TaskFactory(due_at=now + timedelta(hours=1)).is_overdue(now)


def test_a_person_touching_an_mql_stops_the_speed_to_lead_clock(rep):
    lead = LeadFactory(stage=Stage.LEAD)
    leads_promote_to_mql(lead_ids=[lead.pk], reason="score")
    assert not Deal.objects.filter(lead=lead, first_touch_at__isnull=False).exists()
    note_add(lead=lead, author=rep, text="Called")
    first = Deal.objects.get(lead=lead).first_touch_at
    assert first is not None
    NoteFactory(lead=lead)
    note_add(lead=lead, author=rep, text="Called again")
    assert Deal.objects.get(lead=lead).first_touch_at == first
