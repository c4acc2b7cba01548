"""Score and grade triggers after a full rescore or a decay run: those write their
score_changed / grade_changed activities already processed, and scoring calls
settings.SCORING_RESCORE_HOOKS (nurture.handlers.leads_rescored) once each batch
committed. Issue 5: "a lead reaches a grade or score" works whatever changed the score."""

import logging
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from nurture.handlers import leads_rescored
from nurture.models import Enrollment, EnrollmentState
from nurture.services import enrollment_exit
from scoring import services as scoring
from scoring.engine.rules import snapshot_cache_clear
from scoring.services.hooks import ScoreChanges
from tests.factories import ActivityFactory, FitRuleFactory, LeadFactory, RuleFactory
from tests.nurture.conftest import make_sequence
from tests.scoring.conftest import T0

pytestmark = pytest.mark.django_db

PRICING = [{"field": "url", "op": "contains", "value": "/pricing"}]
SIZED = [{"field": "company_size", "op": "gte", "value": 1}]


@pytest.fixture(autouse=True)
def _clock_and_rules():
    snapshot_cache_clear()
    with time_machine.travel(T0, tick=False):
        yield
    snapshot_cache_clear()


@pytest.fixture
def rescore(django_capture_on_commit_callbacks):
    """A full rescore, in-process, with its on-commit hooks run (as in production)."""
    def run():
        with django_capture_on_commit_callbacks(execute=True):
            return scoring.rescore_run_inline()
    return run


def viewer(views=2, **fields):
    lead = LeadFactory(**fields)
    for v in range(views):
        ActivityFactory(lead=lead, data={"url": "https://x.example/pricing"},
                        occurred_at=T0 - timedelta(hours=v + 1))
    return lead


def enrollments(sequence, lead=None):
    qs = Enrollment.objects.filter(sequence=sequence)
    return qs.filter(lead=lead) if lead is not None else qs


def test_a_rule_change_that_lifts_a_lead_over_a_score_trigger_enrolls_it_once(rescore):
    hot = make_sequence(name="Hot", triggers=[{"type": "score_reached", "score": 15}])
    lead, other = viewer(), viewer(views=1)
    rule = RuleFactory(conditions=PRICING, points=5)
    rescore()  # 10 and 5: below the trigger
    assert not enrollments(hot).exists()

    scoring.rule_update(rule=rule, points=10, rescore=False)
    job = rescore()  # 20 (crosses 15) and 10 (does not)

    lead.refresh_from_db()
    assert lead.score == 20
    enrollment = enrollments(hot).get()
    assert (enrollment.lead_id, enrollment.source, enrollment.state) == (
        lead.pk, "score_reached", EnrollmentState.ACTIVE)
    assert not enrollments(hot, other).exists()

    rescore()  # nothing changes: nothing to do
    assert job.scores_changed == 2
    assert enrollments(hot).count() == 1


def test_the_hook_called_twice_for_one_batch_enrolls_once(django_capture_on_commit_callbacks):
    hot = make_sequence(name="Hot", triggers=[{"type": "score_reached", "score": 15}])
    lead = viewer()
    RuleFactory(conditions=PRICING, points=10)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        scoring.rescore_run_inline()
    assert len(callbacks) == 1  # one batch that changed something
    callbacks[0]()
    callbacks[0]()  # a retried hook
    assert enrollments(hot, lead).count() == 1

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        scoring.rescore_run_inline()
    assert callbacks == []  # nothing changed: no hook call


def test_a_grade_trigger_enrolls_leads_whose_grade_a_rescore_raised(rescore):
    fit = make_sequence(name="Fit", triggers=[{"type": "grade_reached", "grade": "B"}])
    sized, unsized = LeadFactory(company_size=50), LeadFactory(company_size=None)
    rule = FitRuleFactory(conditions=SIZED, points=5)
    rescore()  # D and D
    assert not enrollments(fit).exists()

    scoring.rule_update(rule=rule, points=25, rescore=False)
    rescore()  # sized: B

    sized.refresh_from_db()
    assert sized.grade == "B"
    assert list(enrollments(fit).values_list("lead_id", "source")) == [
        (sized.pk, "grade_reached")]
    assert not enrollments(fit, unsized).exists()


def test_never_re_enrol_keeps_a_lead_out_after_a_rescore_crossing(rescore):
    never = make_sequence(name="Once", reenrollment="never",
                          triggers=[{"type": "score_reached", "score": 15}])
    again = make_sequence(name="Again", reenrollment="after_finished",
                          triggers=[{"type": "score_reached", "score": 15}])
    lead = viewer()
    rule = RuleFactory(conditions=PRICING, points=10)
    rescore()  # 20: enrolled in both
    for sequence in (never, again):
        enrollment_exit(enrollment=enrollments(sequence, lead).get(), reason="by hand")

    scoring.rule_update(rule=rule, points=5, rescore=False)
    rescore()  # 10: below
    scoring.rule_update(rule=rule, points=10, rescore=False)
    rescore()  # 20: crosses again

    assert enrollments(never, lead).count() == 1  # the exited run only
    assert enrollments(again, lead).count() == 2
    assert enrollments(again, lead).filter(state=EnrollmentState.ACTIVE).count() == 1


def test_unsubscribed_and_draft_are_left_alone(rescore):
    from nurture.services import lead_unsubscribe

    draft = make_sequence(name="Draft", status="draft",
                          triggers=[{"type": "score_reached", "score": 15}])
    live = make_sequence(name="Live", triggers=[{"type": "score_reached", "score": 15}])
    gone, kept = viewer(), viewer()
    lead_unsubscribe(lead=gone, how="test")
    RuleFactory(conditions=PRICING, points=10)
    rescore()

    assert not enrollments(draft).exists()
    assert list(enrollments(live).values_list("lead_id", flat=True)) == [kept.pk]


def test_without_score_or_grade_triggers_the_hook_costs_one_query(rescore):
    make_sequence(name="Forms", triggers=[{"type": "form_submitted"}])
    viewer()
    RuleFactory(conditions=PRICING, points=10)
    changes = ScoreChanges(cause={"rescore": 1}, lo=0, hi=10**9, after_id=0,
                           upto_id=10**12, scores_changed=1, grades_changed=1)
    with CaptureQueriesContext(connection) as queries:
        assert leads_rescored(changes=changes) == 0
    assert len(queries) == 1


def test_a_failing_hook_is_logged_and_the_rescore_stays(rescore, settings, caplog):
    settings.SCORING_RESCORE_HOOKS = ["tests.nurture.test_rescore_triggers.broken_hook",
                                      "nurture.handlers.leads_rescored"]
    hot = make_sequence(name="Hot", triggers=[{"type": "score_reached", "score": 15}])
    lead = viewer()
    RuleFactory(conditions=PRICING, points=10)
    with caplog.at_level(logging.ERROR, logger="scoring.services.hooks"):
        rescore()
    lead.refresh_from_db()
    assert lead.score == 20
    assert "broken_hook failed" in caplog.text
    assert enrollments(hot, lead).count() == 1  # the next hook still ran


def broken_hook(*, changes):
    raise RuntimeError("boom")


def test_the_decay_run_calls_the_hooks_too(settings, django_capture_on_commit_callbacks):
    seen = recording_hook.seen = []
    settings.SCORING_RESCORE_HOOKS = ["tests.nurture.test_rescore_triggers.recording_hook"]
    lead = viewer()
    RuleFactory(conditions=PRICING, points=10, expires_after_days=1)
    with django_capture_on_commit_callbacks(execute=True):
        job = scoring.rescore_run_inline()
    assert [c.cause for c in seen] == [{"rescore": job.pk}]
    seen.clear()

    with time_machine.travel(T0 + timedelta(days=2), tick=False), \
            django_capture_on_commit_callbacks(execute=True):
        scoring.scores_decay()  # the points expired: 20 → 0

    assert [c.cause for c in seen] == [{"decay": True}]
    assert [(a.lead_id, a.kind, a.data["new"]) for a in seen[0].activities()] == [
        (lead.pk, "score_changed", 0)]


def recording_hook(*, changes):
    recording_hook.seen.append(changes)
