"""LeadMilestone: lead_change_stage keeps each lead's first move into each funnel stage
(and copies of its created_at and source), migration 0006 backfills the same rows from
the transitions, and bench.data makes them with the migration's statement."""

import importlib
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from capture.models import Stage
from pipeline.models import LeadMilestone, StageTransition
from pipeline.services import lead_change_stage
from tests.factories import LeadFactory

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
MIGRATION = importlib.import_module("pipeline.migrations.0006_lead_milestones")
BEFORE = ("pipeline", "0005_handoff_owner_and_first_touch")
WITH_MILESTONES = ("pipeline", "0006_lead_milestones")
COLUMNS = ("lead_id", "lead_created_at", "source", "mql_at", "sql_at", "opportunity_at",
           "customer_at")


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def move(lead, to: str, when: datetime, reason: str = "") -> StageTransition:
    with time_machine.travel(when, tick=False):
        return lead_change_stage(lead=lead, to_stage=to, by_system="test", reason=reason)


def milestones(lead) -> dict:
    return LeadMilestone.objects.filter(lead=lead).values(*COLUMNS[1:]).get()


def all_rows() -> list[tuple]:
    return sorted(LeadMilestone.objects.values_list(*COLUMNS))


@pytest.fixture
def lead(db):
    return LeadFactory(created_at=at(-24), source="webinar")


def test_a_lead_that_never_moved_has_no_row(lead):
    assert not LeadMilestone.objects.filter(lead=lead).exists()


def test_the_first_move_into_a_stage_makes_the_row_with_the_leads_created_at_and_source(
        lead):
    transition = move(lead, Stage.MQL, at(1))
    assert milestones(lead) == {
        "lead_created_at": at(-24), "source": "webinar", "mql_at": transition.created_at,
        "sql_at": None, "opportunity_at": None, "customer_at": None}
    assert transition.created_at == at(1)


def test_each_later_stage_is_timed_on_the_same_row(lead):
    for hours, stage in enumerate((Stage.MQL, Stage.SQL, Stage.OPPORTUNITY, Stage.CUSTOMER), 1):
        move(lead, stage, at(hours))
    row = milestones(lead)
    assert (row["mql_at"], row["sql_at"], row["opportunity_at"], row["customer_at"]) == (
        at(1), at(2), at(3), at(4))
    assert LeadMilestone.objects.count() == 1


def test_going_back_and_forth_keeps_the_first_times(lead):
    move(lead, Stage.MQL, at(1))
    move(lead, Stage.LEAD, at(2), "Not ready")
    move(lead, Stage.MQL, at(3))
    move(lead, Stage.SQL, at(4))
    move(lead, Stage.LEAD, at(5), "Stalled")
    move(lead, Stage.SQL, at(6))
    move(lead, Stage.OPPORTUNITY, at(7))
    move(lead, Stage.SQL, at(8))
    move(lead, Stage.OPPORTUNITY, at(9))
    row = milestones(lead)
    assert (row["mql_at"], row["sql_at"], row["opportunity_at"]) == (at(1), at(4), at(7))
    assert row["customer_at"] is None


def test_a_skipped_stage_stays_empty(lead):
    move(lead, Stage.SQL, at(1))
    row = milestones(lead)
    assert row["mql_at"] is None and row["sql_at"] == at(1)
    # Reaching MQL later (sent back, then qualified again) times it then: after SQL.
    move(lead, Stage.LEAD, at(2), "Wrong contact")
    move(lead, Stage.MQL, at(3))
    assert milestones(lead)["mql_at"] == at(3) and milestones(lead)["sql_at"] == at(1)


def test_a_move_out_of_the_funnel_makes_the_row_without_times(lead):
    # Every lead that has moved has a row: the source filter finds its moves through it.
    move(lead, Stage.DISQUALIFIED, at(1), "Student: thesis")
    assert milestones(lead) == {
        "lead_created_at": at(-24), "source": "webinar", "mql_at": None, "sql_at": None,
        "opportunity_at": None, "customer_at": None}
    move(lead, Stage.LEAD, at(2))
    move(lead, Stage.MQL, at(3))
    assert milestones(lead)["mql_at"] == at(3)


def test_a_refused_move_writes_nothing(lead):
    move(lead, Stage.CUSTOMER, at(1))
    with pytest.raises(ValidationError):
        move(lead, Stage.MQL, at(2))  # a customer stays a customer
    assert milestones(lead)["mql_at"] is None and milestones(lead)["customer_at"] == at(1)


def test_the_move_and_its_milestone_are_one_transaction(lead, monkeypatch):
    from pipeline.services import stages

    def fail(**kwargs):
        raise RuntimeError("the activity could not be written")

    monkeypatch.setattr(stages, "activity_record", fail)
    with pytest.raises(RuntimeError):
        move(lead, Stage.MQL, at(1))
    assert not StageTransition.objects.exists()
    assert not LeadMilestone.objects.exists()


def _histories() -> None:
    """Leads with every kind of history: straight through, back and forth, skipping,
    disqualified and recycled, never moved; two moves in the same instant."""
    paths = [
        [Stage.MQL, Stage.SQL, Stage.OPPORTUNITY, Stage.CUSTOMER],
        [Stage.MQL, Stage.LEAD, Stage.MQL, Stage.SQL, Stage.LEAD, Stage.SQL],
        [Stage.SQL, Stage.OPPORTUNITY, Stage.SQL, Stage.CUSTOMER],
        [Stage.DISQUALIFIED, Stage.LEAD, Stage.MQL],
        [Stage.MQL, Stage.DISQUALIFIED],
        [],
    ]
    for n, path in enumerate(paths):
        made = LeadFactory(created_at=at(-100 - n), source=f"source-{n % 2}")
        before = Stage.LEAD
        for step, stage in enumerate(path):
            reason = "A reason" if stage == Stage.DISQUALIFIED or (
                before, stage) == (Stage.MQL, Stage.LEAD) else ""
            move(made, stage, at(n * 10 + step), reason)
            before = stage
    same_instant = LeadFactory(created_at=at(-50), source="")
    move(same_instant, Stage.MQL, at(70))
    move(same_instant, Stage.SQL, at(70))


@pytest.mark.django_db(transaction=True)
def test_the_migration_backfills_the_rows_live_writing_made():
    _histories()
    live = all_rows()
    assert len(live) == 6 and any(row[3] is None for row in live)
    executor = MigrationExecutor(connection)
    try:
        executor.migrate([BEFORE])  # drops the table, as before the feature
        executor.loader.build_graph()
        executor.migrate([WITH_MILESTONES])  # makes it and backfills from the transitions
        assert all_rows() == live
    finally:
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.django_db
def test_the_backfill_statement_remakes_the_same_rows():
    _histories()
    live = all_rows()
    LeadMilestone.objects.all().delete()
    from bench.data import milestone_backfill_sql

    with connection.cursor() as cursor:
        cursor.execute(*milestone_backfill_sql())
    assert all_rows() == live
