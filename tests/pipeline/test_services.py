import itertools

import pytest
from django.core.exceptions import ValidationError

from capture.models import ActivityKind, Stage
from pipeline.models import StageTransition
from pipeline.services import (
    ALLOWED_TRANSITIONS,
    lead_assign_owner,
    lead_change_stage,
    transition_refusal,
)
from tests.factories import LeadFactory, SalesRepFactory

pytestmark = pytest.mark.django_db

ALL_MOVES = [(a, b) for a, b in itertools.product(Stage.values, Stage.values) if a != b]


@pytest.mark.parametrize(("from_stage", "to_stage"), ALL_MOVES)
def test_every_move_is_either_recorded_or_refused_without_a_trace(rep, from_stage, to_stage):
    lead = LeadFactory(stage=from_stage)
    allowed = to_stage in ALLOWED_TRANSITIONS[from_stage]

    if allowed:
        transition = lead_change_stage(lead=lead, to_stage=to_stage, actor=rep, reason="why not")
        lead.refresh_from_db()
        assert lead.stage == to_stage
        assert (transition.from_stage, transition.to_stage, transition.by_user) == (
            from_stage, to_stage, rep)
        activity = lead.activities.get(kind=ActivityKind.STAGE_CHANGED)
        assert activity.data["from"] == from_stage
        assert activity.data["to"] == to_stage
        assert activity.data["transition"] == transition.pk
    else:
        with pytest.raises(ValidationError) as exc:
            lead_change_stage(lead=lead, to_stage=to_stage, actor=rep, reason="why not")
        assert "cannot move" in exc.value.message_dict["stage"][0]
        lead.refresh_from_db()
        assert lead.stage == from_stage
        assert not StageTransition.objects.exists()
        assert not lead.activities.exists()


def test_a_customer_cannot_become_an_mql():
    assert transition_refusal(Stage.CUSTOMER, Stage.MQL) == (
        "A lead cannot move from Customer to MQL."
    )


def test_moving_to_the_same_stage_is_refused():
    lead = LeadFactory(stage=Stage.SQL)

    with pytest.raises(ValidationError, match="already in SQL"):
        lead_change_stage(lead=lead, to_stage=Stage.SQL)


def test_an_unknown_stage_is_refused():
    lead = LeadFactory()

    with pytest.raises(ValidationError, match="not a stage"):
        lead_change_stage(lead=lead, to_stage="won")


@pytest.mark.parametrize(
    ("from_stage", "to_stage"),
    [(Stage.MQL, Stage.LEAD), (Stage.LEAD, Stage.DISQUALIFIED), (Stage.SQL, Stage.DISQUALIFIED)],
)
def test_rejecting_an_mql_or_disqualifying_needs_a_reason(from_stage, to_stage):
    lead = LeadFactory(stage=from_stage)

    with pytest.raises(ValidationError, match="needs a reason"):
        lead_change_stage(lead=lead, to_stage=to_stage, reason="   ")

    transition = lead_change_stage(lead=lead, to_stage=to_stage, reason=" Student, no budget ")
    assert transition.reason == "Student, no budget"


def test_a_system_move_records_what_made_it():
    lead = LeadFactory()

    transition = lead_change_stage(lead=lead, to_stage=Stage.MQL, by_system="scoring",
                                   reason="Score 80 ≥ 75 and grade B")

    assert transition.by_user is None
    assert transition.by_label == "scoring"
    assert lead.activities.get().data["by"] == "scoring"


def test_a_stage_change_resets_time_in_stage():
    lead = LeadFactory()
    before = lead.stage_changed_at

    lead_change_stage(lead=lead, to_stage=Stage.MQL)

    lead.refresh_from_db()
    assert lead.stage_changed_at > before


def test_it_assigns_an_owner_and_records_it(admin_user):
    rep = SalesRepFactory(first_name="Sam", last_name="Seller")
    lead = LeadFactory()

    lead_assign_owner(lead=lead, owner=rep, actor=admin_user)

    lead.refresh_from_db()
    assert lead.owner == rep
    activity = lead.activities.get(kind=ActivityKind.OWNER_CHANGED)
    assert activity.data == {"from": None, "to": rep.pk, "to_name": "Sam Seller",
                             "by": admin_user.username}


def test_reassigning_to_the_same_owner_records_nothing():
    rep = SalesRepFactory()
    lead = LeadFactory(owner=rep)

    lead_assign_owner(lead=lead, owner=rep)

    assert not lead.activities.exists()


def test_it_can_unassign_a_lead():
    rep = SalesRepFactory()
    lead = LeadFactory(owner=rep)

    lead_assign_owner(lead=lead, owner=None)

    lead.refresh_from_db()
    assert lead.owner is None
    assert lead.activities.get().data["to"] is None


def test_a_deactivated_user_cannot_be_given_leads():
    rep = SalesRepFactory(is_active=False)
    lead = LeadFactory()

    with pytest.raises(ValidationError) as exc:
        lead_assign_owner(lead=lead, owner=rep)

    assert "owner" in exc.value.message_dict
    lead.refresh_from_db()
    assert lead.owner is None


def test_filtering_by_stage_or_grade_never_asks_for_distinct_rows():
    """DISTINCT over a lead's columns defeats the (stage, score, id) index (bench: 78 ms
    against 0.4 ms for one page of MQLs on 100,000 leads)."""
    from pipeline.selectors import LeadFilter

    qs = LeadFilter({"stage": ["mql", "sql"], "grade": ["A", "none"]},
                    queryset=LeadFactory._meta.model.objects.all()).qs

    assert "DISTINCT" not in str(qs.query)
