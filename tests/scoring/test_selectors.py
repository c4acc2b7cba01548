"""What the scoring pages read: a lead's breakdown, the impact preview of an unsaved or
changed rule, "test against a lead", and rule effectiveness (and its CSV), on small
hand-made data sets whose right answers are worked out in the comments."""

import csv
import io
from datetime import timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError

from capture.models import Stage
from scoring import selectors, services
from scoring.models import ScoreCategory
from tests.factories import (
    ActivityFactory,
    FitRuleFactory,
    LeadFactory,
    RescoreJobFactory,
    RuleFactory,
    StageTransitionFactory,
)
from tests.scoring.conftest import T0

pytestmark = pytest.mark.django_db

PRICING = [{"field": "url", "op": "contains", "value": "/pricing"}]


@pytest.fixture
def clock():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def views(lead, count, *, start=T0 - timedelta(days=1)):
    return [ActivityFactory(lead=lead, data={"url": "https://x.example/pricing"},
                            occurred_at=start + timedelta(hours=i)) for i in range(count)]


def behaviour(**values):
    return {"name": "Pricing", "kind": "behavior", "activity_kind": "page_viewed",
            "conditions": PRICING, "points": 10, **values}


@pytest.fixture
def scored(clock):
    """A: 2 pricing views (20), B: 1 (10), C: none (0), D: 3 but already SQL (30).
    MQL threshold: 25, any grade."""
    services.settings_update(mql_score=25, mql_min_grade="", rescore=False)
    a, b, c = LeadFactory(job_title="VP Sales"), LeadFactory(), LeadFactory()
    d = LeadFactory(stage=Stage.SQL, job_title="VP Ops")
    views(a, 2)
    views(b, 1)
    views(d, 3)
    rule = RuleFactory(conditions=PRICING, points=10)
    services.rescore_run_inline()
    for lead in (a, b, c, d):
        lead.refresh_from_db()
    assert [lead.score for lead in (a, b, c, d)] == [20, 10, 0, 30]
    return rule, a, b, c, d


def test_raising_a_rules_points_previews_who_changes_and_who_crosses(scored):
    rule, a, *_ = scored

    impact = selectors.rule_impact(behaviour(points=15), rule=rule)

    # A 20 → 30 (crosses 25, in stage lead), B 10 → 15, D 30 → 45 (already over, and SQL).
    assert impact == selectors.Impact(leads_scored=4, leads_changed=3, leads_up=3,
                                      leads_down=0, would_become_mql=1, would_drop_below=0,
                                      points_delta=30)
    a.refresh_from_db()
    assert a.score == 20 and a.stage == Stage.LEAD  # nothing was written


def test_capping_a_rule_previews_the_losses(scored):
    rule, *_ = scored

    impact = selectors.rule_impact(behaviour(max_times=1), rule=rule)

    # A 20 → 10, D 30 → 10 (falls below 25); B keeps its one view.
    assert (impact.leads_changed, impact.leads_down, impact.would_drop_below,
            impact.points_delta) == (2, 2, 1, -30)


def test_deleting_a_rule_previews_its_points_going(scored):
    rule, *_ = scored

    impact = selectors.rule_impact(None, rule=rule)

    assert (impact.leads_changed, impact.leads_down, impact.would_drop_below,
            impact.points_delta) == (3, 3, 1, -60)


def test_a_new_rule_previews_its_points_and_expiry(scored, clock):
    _, a, b, *_ = scored
    ActivityFactory(lead=b, kind="trial_started", data={"properties": {"plan": "pro"}},
                    occurred_at=T0 - timedelta(days=10))
    ActivityFactory(lead=a, kind="trial_started", data={"properties": {"plan": "pro"}},
                    occurred_at=T0 - timedelta(days=1))

    impact = selectors.rule_impact({
        "name": "Trial", "kind": "behavior", "activity_kind": "trial_started", "points": 20,
        "expires_after_days": 7,
        "conditions": [{"field": "properties.plan", "op": "equals", "value": "pro"}],
    })

    # B's trial is 10 days old: its points would have expired. A: 20 → 40, crosses.
    assert (impact.leads_changed, impact.would_become_mql, impact.points_delta) == (1, 1, 20)


def test_a_category_threshold_is_previewed_per_category(scored):
    rule, *_ = scored
    intent = ScoreCategory.objects.get(key="intent")
    services.settings_update(mql_category=intent, mql_category_min=10, rescore=False)

    same_category = selectors.rule_impact(behaviour(points=15), rule=rule)
    to_intent = selectors.rule_impact(behaviour(points=15, category=intent), rule=rule)

    # In engagement, A reaches 30 but has no intent points; moved to intent, it has 30.
    assert same_category.would_become_mql == 0
    assert to_intent.would_become_mql == 1


def test_a_fit_rule_previews_grade_changes(scored):
    services.settings_update(mql_min_grade="B", rescore=False)

    impact = selectors.rule_impact({
        "name": "VP", "kind": "fit", "points": 25,
        "conditions": [{"field": "job_title", "op": "contains", "value": "VP"}],
    })

    # Nobody is graded yet: all four would be (A and D: B; B and C: D). A (20) is under 25.
    assert (impact.leads_changed, impact.leads_up, impact.would_become_mql) == (4, 2, 0)


def test_an_invalid_rule_cannot_be_previewed(scored):
    with pytest.raises(ValidationError) as raised:
        selectors.rule_impact(behaviour(points=0, conditions=[{"field": "x"}]))

    assert set(raised.value.message_dict) == {"points", "conditions"}


def test_testing_a_rule_against_a_lead_lists_what_earns_points(scored, clock):
    rule, a, *_ = scored

    result = selectors.rule_test_against_lead(
        behaviour(points=5, max_times=1, expires_after_days=1), a, rule=rule)

    # Two views a day ago: the first earns 5 (expired: exactly one day old), the
    # second is over the cap.
    assert [(line.points, line.expired) for line in result.lines] == [(5, True), (0, False)]
    assert result.points == 0
    assert (result.score_now, result.score_then) == (20, 0)


def test_testing_a_fit_rule_against_a_lead(scored):
    _, a, b, *_ = scored
    values = {"name": "VP", "kind": "fit", "points": 25,
              "conditions": [{"field": "job_title", "op": "contains", "value": "VP"}]}

    assert selectors.rule_test_against_lead(values, a).grade_then == "B"
    vp, other = selectors.rule_test_against_lead(values, a), selectors.rule_test_against_lead(
        values, b)
    assert (vp.matched, vp.points, other.matched, other.points) == (True, 25, False, 0)


def test_the_breakdown_explains_a_score(clock):
    intent = ScoreCategory.objects.get(key="intent")
    pricing = RuleFactory(conditions=PRICING, points=10, max_times=2, expires_after_days=2,
                          category=intent, name="Pricing page")
    trial = RuleFactory(activity_kind="trial_started", points=30, name="Trial")
    vp = FitRuleFactory(name="VP", points=25,
                        conditions=[{"field": "job_title", "op": "contains", "value": "VP"}])
    FitRuleFactory(name="Big company", points=10,
                   conditions=[{"field": "company_size", "op": "gte", "value": 1000}])
    lead = LeadFactory(job_title="VP Sales", company_size=20)
    # Three views: three days ago (earned, expired), two hours ago (earned, counts), an
    # hour ago (over the cap of 2).
    (old,) = views(lead, 1, start=T0 - timedelta(days=3))
    recent, _capped = views(lead, 2, start=T0 - timedelta(hours=2))
    started = ActivityFactory(lead=lead, kind="trial_started", data={},
                              occurred_at=T0 - timedelta(hours=2))
    services.rescore_run_inline()
    lead.refresh_from_db()

    breakdown = selectors.lead_score_breakdown(lead)

    assert (breakdown.score, breakdown.grade, breakdown.fit_score) == (40, "B", 25)
    assert [(c.key, c.points) for c in breakdown.categories] == [
        ("engagement", 30), ("intent", 10), ("product_usage", 0)]
    by_rule = {line.rule_id: line for line in breakdown.rules}
    assert [line.rule_id for line in breakdown.rules] == [trial.pk, pricing.pk]
    assert (by_rule[pricing.pk].points, by_rule[pricing.pk].times,
            by_rule[pricing.pk].unearned) == (10, 2, 1)
    lines = by_rule[pricing.pk].contributions
    assert [(c.activity_id, c.expired) for c in lines] == [(recent.pk, False), (old.pk, True)]
    assert lines[0].expires_at == recent.occurred_at + timedelta(days=2)
    assert by_rule[trial.pk].contributions[0].activity_id == started.pk
    assert [(f.rule_id, f.matched) for f in breakdown.fit] == [(vp.pk, True), (vp.pk + 1, False)]


# --- Effectiveness --------------------------------------------------------------------------


@pytest.fixture
def funnel(clock):
    """Six leads created in the period (1–6) and one before it (0).

    pricing fired for 1, 2, 3; trial for 4; webinar for nobody. VP (fit) matches 1 and 5.
    Reached SQL: 1, 2 (then customer), 4. Lead 5 became an MQL only.
    """
    start, end = T0 - timedelta(days=30), T0
    pricing = RuleFactory(conditions=PRICING, points=10, name="Pricing")
    trial = RuleFactory(activity_kind="trial_started", points=30, name="=Trial")
    webinar = RuleFactory(activity_kind="webinar_attended", points=5, name="Webinar")
    vp = FitRuleFactory(name="VP", points=20,
                        conditions=[{"field": "job_title", "op": "contains", "value": "VP"}])
    leads = [LeadFactory(created_at=start - timedelta(days=1), job_title="VP")]
    leads += [LeadFactory(created_at=start + timedelta(days=i),
                          job_title="VP" if i in (1, 5) else "Engineer") for i in range(1, 7)]
    for n in (0, 1, 2, 3):
        views(leads[n], 1)
    ActivityFactory(lead=leads[4], kind="trial_started", data={})
    moves = {0: [Stage.MQL, Stage.SQL, Stage.CUSTOMER], 1: [Stage.MQL, Stage.SQL],
             2: [Stage.MQL, Stage.SQL, Stage.CUSTOMER], 4: [Stage.SQL], 5: [Stage.MQL]}
    for n, stages in moves.items():
        before = Stage.LEAD
        for stage in stages:
            StageTransitionFactory(lead=leads[n], from_stage=before, to_stage=stage,
                                   by_system="", by_user=None)
            before = stage
    services.rescore_run_inline()
    return start, end, pricing, trial, webinar, vp


def test_effectiveness_compares_leads_a_rule_fired_for_with_the_rest(funnel):
    start, end, pricing, trial, webinar, vp = funnel

    report = selectors.rule_effectiveness(start=start, end=end)

    assert (report.leads, report.reached_sql, report.reached_customer) == (6, 3, 1)
    by_rule = {e.rule_id: e for e in report.rules}
    p = by_rule[pricing.pk]
    # Fired for 1, 2, 3: two reached SQL, one customer. The other three: 4 reached SQL.
    assert (p.fired, p.sql_fired, p.customer_fired) == (3, 2, 1)
    assert (p.not_fired, p.sql_not_fired, p.customer_not_fired) == (3, 1, 0)
    assert p.sql_rate == pytest.approx(2 / 3) and p.sql_rate_without == pytest.approx(1 / 3)
    assert p.sql_lift == pytest.approx(2.0)
    assert p.customer_lift is None  # nobody else became a customer: no ratio
    t = by_rule[trial.pk]
    assert (t.fired, t.sql_rate, t.sql_rate_without) == (1, 1.0, 0.4)
    assert t.sql_lift == pytest.approx(2.5)
    w = by_rule[webinar.pk]
    assert (w.fired, w.sql_rate, w.sql_lift) == (0, None, None)
    v = by_rule[vp.pk]
    assert (v.fired, v.sql_fired, v.sql_lift) == (2, 1, pytest.approx(1.0))


def test_effectiveness_exports_as_csv(funnel):
    start, end, *_ = funnel

    text = selectors.rule_effectiveness_csv(selectors.rule_effectiveness(start=start, end=end))

    rows = list(csv.DictReader(io.StringIO(text)))
    by_name = {row["rule"]: row for row in rows}
    assert list(rows[0]) == selectors.CSV_COLUMNS
    assert by_name["Pricing"]["leads_fired"] == "3"
    assert by_name["Pricing"]["sql_lift"] == "2.0000"
    assert by_name["Pricing"]["customer_lift"] == ""
    # A name a spreadsheet would run as a formula is written as text.
    assert "'=Trial" in by_name


def test_the_breakdown_tells_matches_short_of_a_count_from_those_over_the_cap(clock):
    opens = RuleFactory(activity_kind="email_opened", points=20, count=3, window_days=7,
                        name="3 opens in a week")
    pricing = RuleFactory(conditions=PRICING, points=10, max_times=1, name="Pricing page")
    # Twice at least 2 within a day (fires at the 2nd; the second firing is over the cap
    # of 1), and three matches that complete no count.
    webinar = RuleFactory(activity_kind="webinar_attended", points=5, count=2, window_days=1,
                          max_times=1, name="Two webinars in a day")
    lead = LeadFactory()
    for days in (6, 3):  # two opens, six and three days ago: 3 within 7 days never reached
        ActivityFactory(lead=lead, kind="email_opened", data={},
                        occurred_at=T0 - timedelta(days=days))
    views(lead, 3)
    for at in (timedelta(days=9), timedelta(days=9) - timedelta(hours=1), timedelta(days=6),
               timedelta(days=6) - timedelta(hours=1), timedelta(days=3)):
        ActivityFactory(lead=lead, kind="webinar_attended", data={}, occurred_at=T0 - at)
    services.rescore_run_inline()
    lead.refresh_from_db()

    by_rule = {line.rule_id: line for line in selectors.lead_score_breakdown(lead).rules}

    assert [(by_rule[r.pk].times, by_rule[r.pk].over_cap, by_rule[r.pk].short_of_count,
             by_rule[r.pk].unearned) for r in (opens, pricing, webinar)] == [
        (0, 0, 2, 2), (1, 2, 0, 2), (1, 1, 3, 4)]


# --- Rescore jobs ---------------------------------------------------------------------------


def test_the_progress_bar_follows_the_running_job_not_the_one_queued_behind_it():
    done = RescoreJobFactory(status="done")
    assert selectors.rescore_job_active() is None

    queued = RescoreJobFactory(status="queued")
    assert selectors.rescore_job_active() == queued

    running = RescoreJobFactory(status="running")  # started after (another worker's job)
    RescoreJobFactory(status="running")
    assert selectors.rescore_job_active() == running  # the oldest running
    assert selectors.rescore_job_queued() == queued
    assert selectors.rescore_job_latest() != done
