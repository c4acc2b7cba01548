"""The MQL threshold: a lead that comes to meet it is moved from "lead" to "mql" through
the pipeline's stage transition (by "scoring", with the reason), once; a lead beyond MQL
is never moved back; a rejected MQL is promoted again only after it fell below."""

from datetime import timedelta

import pytest
import time_machine

from capture.models import Activity, ActivityKind, Stage
from pipeline.models import StageTransition
from pipeline.services import lead_change_stage, leads_promote_to_mql
from scoring import services
from scoring.handlers import activity_score
from scoring.models import LeadScore, ScoreCategory
from tests.factories import ActivityFactory, FitRuleFactory, LeadFactory, RuleFactory
from tests.scoring.conftest import T0

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def rules():
    with time_machine.travel(T0, tick=False):
        services.settings_update(mql_score=30, mql_min_grade="B", rescore=False)
        RuleFactory(conditions=[{"field": "url", "op": "contains", "value": "/pricing"}],
                    points=20, expires_after_days=10)
        FitRuleFactory(conditions=[{"field": "job_title", "op": "contains",
                                    "value": "VP"}], points=25)
    with time_machine.travel(T0, tick=False) as clock:
        yield clock


def visit(lead, at=T0):
    activity = ActivityFactory(lead=lead, data={"url": "https://x.example/pricing"},
                               occurred_at=at)
    activity_score(activity)
    lead.refresh_from_db()


def test_a_lead_that_meets_the_threshold_becomes_an_mql_through_the_pipeline():
    lead = LeadFactory(job_title="VP Sales")

    visit(lead)
    assert lead.stage == Stage.LEAD  # 20 points: not yet
    visit(lead, T0 + timedelta(hours=1))

    assert (lead.score, lead.grade, lead.stage) == (40, "B", Stage.MQL)
    transition = StageTransition.objects.get(lead=lead)
    assert (transition.from_stage, transition.to_stage, transition.by_system) == (
        Stage.LEAD, Stage.MQL, "scoring")
    assert transition.reason == ("Reached the MQL threshold "
                                 "(score ≥ 30, grade B or better).")
    stage_changed = Activity.objects.get(lead=lead, kind=ActivityKind.STAGE_CHANGED)
    assert stage_changed.data["by"] == "scoring"
    assert stage_changed.data["reason"] == transition.reason


def test_the_grade_must_be_good_enough():
    lead = LeadFactory(job_title="Engineer")

    visit(lead)
    visit(lead, T0 + timedelta(hours=1))

    assert (lead.score, lead.grade, lead.stage) == (40, "D", Stage.LEAD)


def test_a_category_threshold_must_be_met_too():
    intent = ScoreCategory.objects.get(key="intent")
    services.settings_update(mql_category=intent, mql_category_min=10, rescore=False)
    lead = LeadFactory(job_title="VP Sales")

    visit(lead)
    visit(lead, T0 + timedelta(hours=1))
    assert lead.stage == Stage.LEAD  # the pricing rule counts as engagement

    RuleFactory(activity_kind="trial_started", points=10, category=intent)
    activity_score(ActivityFactory(lead=lead, kind="trial_started", data={}))
    lead.refresh_from_db()
    assert lead.stage == Stage.MQL


def test_it_promotes_once():
    lead = LeadFactory(job_title="VP Sales")

    for hour in range(5):
        visit(lead, T0 + timedelta(hours=hour))

    assert StageTransition.objects.filter(lead=lead).count() == 1


@pytest.mark.parametrize("stage", [Stage.SQL, Stage.OPPORTUNITY, Stage.CUSTOMER,
                                   Stage.DISQUALIFIED])
def test_a_lead_beyond_mql_is_never_moved_back(stage):
    lead = LeadFactory(job_title="VP Sales", stage=stage)

    visit(lead)
    visit(lead, T0 + timedelta(hours=1))

    assert lead.stage == stage
    assert not StageTransition.objects.filter(lead=lead).exists()
    assert LeadScore.objects.get(pk=lead.pk).qualified


def test_a_rejected_mql_is_promoted_again_only_after_it_fell_below(rules, rep):
    lead = LeadFactory(job_title="VP Sales")
    visit(lead)
    visit(lead, T0 + timedelta(hours=1))
    lead_change_stage(lead=lead, to_stage=Stage.LEAD, actor=rep, reason="Not ready")

    visit(lead, T0 + timedelta(hours=2))  # still over the bar: sales said no
    assert lead.stage == Stage.LEAD

    rules.move_to(T0 + timedelta(days=30))  # the points expire: it cools down
    services.scores_decay()
    lead.refresh_from_db()
    assert lead.score == 0 and not LeadScore.objects.get(pk=lead.pk).qualified

    visit(lead, T0 + timedelta(days=30))
    visit(lead, T0 + timedelta(days=30, hours=1))  # …and crosses again
    assert lead.stage == Stage.MQL
    assert StageTransition.objects.filter(lead=lead, to_stage=Stage.MQL).count() == 2


def test_without_a_promoter_nobody_is_moved(settings):
    settings.SCORING_MQL_PROMOTER = ""
    lead = LeadFactory(job_title="VP Sales")

    visit(lead)
    visit(lead, T0 + timedelta(hours=1))

    assert lead.stage == Stage.LEAD


def test_a_rescore_promotes_leads_that_now_meet_a_lowered_threshold():
    lead = LeadFactory(job_title="VP Sales")
    visit(lead)
    assert lead.stage == Stage.LEAD

    services.settings_update(mql_score=20, rescore=False)
    job = services.rescore_run_inline()

    lead.refresh_from_db()
    assert lead.stage == Stage.MQL
    assert job.promoted == 1
    transition = StageTransition.objects.get(lead=lead)
    assert transition.by_system == "scoring"
    assert f"rescore #{job.pk}" in transition.reason


def test_the_promoter_moves_only_leads_still_in_stage_lead():
    waiting = LeadFactory()
    mql = LeadFactory(stage=Stage.MQL)
    sql = LeadFactory(stage=Stage.SQL)
    gone = LeadFactory(stage=Stage.DISQUALIFIED)

    moved = leads_promote_to_mql(lead_ids=[waiting.pk, mql.pk, sql.pk, gone.pk, 999_999],
                                 reason="Reached the MQL threshold.")

    assert moved == 1
    assert [lead.stage for lead in (waiting, mql, sql, gone) if lead.refresh_from_db() is None
            ] == [Stage.MQL, Stage.MQL, Stage.SQL, Stage.DISQUALIFIED]
    assert StageTransition.objects.get().lead == waiting
