"""Incremental scoring through the activity handler: points, caps, decay, count windows,
categories, grades from bands, the activities that record changes, idempotency."""

from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from capture.models import Activity, ActivityKind
from capture.services import activity_record, lead_create, lead_update
from scoring import services
from scoring.handlers import activity_score
from scoring.models import LeadScore, ScoreCategory, ScoreContribution
from tests.factories import ActivityFactory, FitRuleFactory, LeadFactory, RuleFactory
from tests.scoring.conftest import T0

pytestmark = pytest.mark.django_db

PRICING = [{"field": "url", "op": "contains", "value": "/pricing"}]


@pytest.fixture
def clock():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def view(lead, url="https://www.example.com/pricing", at=None, kind="page_viewed", **data):
    activity = ActivityFactory(lead=lead, kind=kind, data={"url": url, **data},
                               occurred_at=at or T0)
    activity_score(activity)
    lead.refresh_from_db()
    return activity


def changes(lead, kind=ActivityKind.SCORE_CHANGED):
    return [a.data for a in Activity.objects.filter(lead=lead, kind=kind).order_by("id")]


def test_a_matching_activity_adds_points_and_records_the_change(clock):
    rule = RuleFactory(conditions=PRICING, points=10)
    lead = LeadFactory()

    activity = view(lead)

    assert lead.score == 10
    contribution = ScoreContribution.objects.get()
    assert (contribution.rule, contribution.activity, contribution.points) == (rule, activity, 10)
    assert changes(lead) == [{"old": 0, "new": 10, "cause": {"activity": activity.pk},
                              "categories": {"engagement": 10}}]


def test_an_activity_that_does_not_match_changes_nothing(clock):
    RuleFactory(conditions=PRICING, points=10)
    lead = LeadFactory()

    view(lead, url="https://www.example.com/blog")

    assert lead.score == 0
    assert not ScoreContribution.objects.exists()
    assert changes(lead) == []


def test_negative_points_subtract(clock):
    RuleFactory(activity_kind="unsubscribed", points=-15)
    lead = LeadFactory()

    view(lead, kind="unsubscribed")

    assert lead.score == -15


def test_scoring_an_activity_twice_counts_it_once(clock):
    RuleFactory(conditions=PRICING, points=10, max_times=3)
    lead = LeadFactory()
    activity = view(lead)

    activity_score(activity)
    activity_score(activity)

    lead.refresh_from_db()
    assert lead.score == 10
    assert ScoreContribution.objects.count() == 1
    assert len(changes(lead)) == 1


def test_a_cap_stops_points_after_k_times(clock):
    RuleFactory(conditions=PRICING, points=10, max_times=2)
    lead = LeadFactory()

    for hour in range(4):
        view(lead, at=T0 + timedelta(hours=hour))

    assert lead.score == 20
    assert list(ScoreContribution.objects.order_by("occurred_at")
                .values_list("points", flat=True)) == [10, 10, 0, 0]


def test_an_older_activity_arriving_late_takes_its_place_under_the_cap(clock):
    RuleFactory(conditions=PRICING, points=10, max_times=1, expires_after_days=5)
    lead = LeadFactory()
    later = view(lead, at=T0)

    earlier = view(lead, at=T0 - timedelta(days=1))  # e.g. a page view linked at signup

    by_activity = dict(ScoreContribution.objects.values_list("activity_id", "points"))
    assert by_activity == {earlier.pk: 10, later.pk: 0}
    assert ScoreContribution.objects.get(activity=earlier).expires_at == T0 + timedelta(days=4)
    assert lead.score == 10


def test_points_expire_and_the_decay_run_lowers_the_score(clock):
    RuleFactory(conditions=PRICING, points=10, expires_after_days=7)
    lead = LeadFactory()
    view(lead, at=T0)
    view(lead, at=T0 + timedelta(days=2))
    assert LeadScore.objects.get(pk=lead.pk).next_expiry == T0 + timedelta(days=7)

    clock.move_to(T0 + timedelta(days=7))  # the first view's points expire now
    assert services.scores_decay() == 1

    lead.refresh_from_db()
    assert lead.score == 10
    assert changes(lead)[-1] == {"old": 20, "new": 10, "cause": {"decay": True},
                                 "categories": {"engagement": 10}}
    assert LeadScore.objects.get(pk=lead.pk).next_expiry == T0 + timedelta(days=9)

    clock.move_to(T0 + timedelta(days=8))
    assert services.scores_decay() == 0  # nothing due: nothing read but the index
    clock.move_to(T0 + timedelta(days=30))
    services.scores_decay()
    lead.refresh_from_db()
    assert lead.score == 0
    assert LeadScore.objects.get(pk=lead.pk).next_expiry is None


def test_expired_points_do_not_count_for_a_new_activity(clock):
    RuleFactory(conditions=PRICING, points=10, expires_after_days=1)
    lead = LeadFactory()
    view(lead, at=T0)

    clock.move_to(T0 + timedelta(days=3))
    view(lead, at=T0 + timedelta(days=3))

    assert lead.score == 10


def test_a_count_rule_fires_once_at_the_nth_activity_within_the_window(clock):
    # "5 email opens in a week: +20"
    RuleFactory(activity_kind="email_opened", points=20, count=5, window_days=7)
    lead = LeadFactory()

    scores = []
    for day in range(7):  # one open a day: the 5th fires, the 6th and 7th do not
        view(lead, kind="email_opened", at=T0 + timedelta(days=day))
        scores.append(lead.score)

    assert scores == [0, 0, 0, 0, 20, 20, 20]
    # A quiet fortnight, then five more within a week: it fires again.
    for day in range(5):
        view(lead, kind="email_opened", at=T0 + timedelta(days=21 + day))
    assert lead.score == 40


def test_a_count_rule_counts_only_opens_within_the_window(clock):
    RuleFactory(activity_kind="email_opened", points=20, count=3, window_days=2)
    lead = LeadFactory()

    for day in (0, 3, 6, 9):  # never three within two days
        view(lead, kind="email_opened", at=T0 + timedelta(days=day))

    assert lead.score == 0


def test_a_count_rule_respects_its_cap(clock):
    RuleFactory(activity_kind="email_opened", points=20, count=2, window_days=1,
                max_times=1)
    lead = LeadFactory()

    for day in (0, 0.5, 10, 10.5):
        view(lead, kind="email_opened", at=T0 + timedelta(days=day))

    assert lead.score == 20


def test_automated_opens_earn_nothing(clock):
    RuleFactory(activity_kind="email_opened", points=5)
    lead = LeadFactory()

    view(lead, kind="email_opened", automated=True)
    view(lead, kind="email_opened", at=T0 + timedelta(minutes=1), automated=False)

    assert lead.score == 5


def test_each_category_has_its_subtotal(clock):
    intent = ScoreCategory.objects.get(key="intent")
    RuleFactory(conditions=PRICING, points=10, category=intent)
    RuleFactory(activity_kind="email_opened", points=3)
    RuleFactory(activity_kind="email_clicked", points=-3)
    lead = LeadFactory()

    view(lead)
    view(lead, kind="email_opened")
    view(lead, kind="email_clicked")

    assert lead.score == 10
    # engagement is +3 −3 = 0: only non-zero subtotals are kept.
    assert LeadScore.objects.get(pk=lead.pk).categories == {"intent": 10}


def test_the_grade_follows_the_fit_score_and_the_bands(clock):
    services.settings_update(grade_a_min=30, grade_b_min=20, grade_c_min=10, grade_d_min=0,
                             rescore=False)
    FitRuleFactory(conditions=[{"field": "job_title", "op": "contains_any",
                                "value": ["VP", "Director"]}], points=15)
    FitRuleFactory(conditions=[{"field": "company_size", "op": "gte", "value": 50}],
                   points=10)
    FitRuleFactory(conditions=[{"field": "email", "op": "domain_in_list",
                                "value": "freemail"}], points=-5)

    cases = [("VP Sales", 500, "a@acme.example", "B"), ("VP Sales", 5, "b@acme.example", "C"),
             ("Director", 60, "c@acme.example", "B"), ("Engineer", 5, "d@gmail.com", "F"),
             ("Engineer", 5, "e@acme.example", "D")]
    for title, size, email, grade in cases:
        lead = lead_create(email=email, job_title=title, company_size=size)
        activity_score(Activity.objects.get(lead=lead, kind=ActivityKind.LEAD_CREATED))
        lead.refresh_from_db()
        assert lead.grade == grade, (title, size, email)

    lead.refresh_from_db()
    assert changes(lead, ActivityKind.GRADE_CHANGED) == [
        {"old": "", "new": "D", "fit_score": 0, "cause": {"activity": Activity.objects.get(
            lead=lead, kind=ActivityKind.LEAD_CREATED).pk}}]


def test_a_changed_field_changes_the_grade(clock):
    FitRuleFactory(conditions=[{"field": "job_title", "op": "contains_any",
                                "value": ["VP"]}], points=40)
    lead = lead_create(email="ann@acme.example", job_title="Engineer")
    activity_score(Activity.objects.get(lead=lead))
    lead.refresh_from_db()
    assert lead.grade == "D"

    lead_update(lead=lead, job_title="VP Engineering")
    activity_score(Activity.objects.get(lead=lead, kind=ActivityKind.LEAD_UPDATED))

    lead.refresh_from_db()
    assert lead.grade == "A"
    assert LeadScore.objects.get(pk=lead.pk).fit_score == 40


def test_without_fit_rules_leads_are_not_graded(clock):
    RuleFactory(conditions=PRICING, points=10)
    lead = LeadFactory(grade="")

    view(lead)

    assert lead.grade == ""


def test_scorings_own_records_are_never_scored(clock):
    lead = LeadFactory()
    record = ActivityFactory(lead=lead, kind=ActivityKind.SCORE_CHANGED, data={})

    with CaptureQueriesContext(connection) as queries:
        activity_score(record)

    assert len(queries) == 0


def test_an_activity_no_rule_is_about_costs_one_query(clock):
    RuleFactory(conditions=PRICING, points=10)
    lead = LeadFactory()
    activity = ActivityFactory(lead=lead, kind="email_sent", data={})
    activity_score(ActivityFactory(lead=lead))  # warm the rules cache

    with CaptureQueriesContext(connection) as queries:
        activity_score(activity)

    assert len(queries) == 1  # is the cached rule set current?


def test_scoring_one_activity_takes_a_handful_of_statements(clock):
    RuleFactory(conditions=PRICING, points=10, max_times=5)
    lead = LeadFactory()
    view(lead, at=T0 - timedelta(hours=1))
    activity = ActivityFactory(lead=lead, data={"url": "https://x.example/pricing"})

    with CaptureQueriesContext(connection) as queries:
        activity_score(activity)

    # The stamp (with the bucket lock on Postgres), the lead, its matches and totals so
    # far, then the writes: the contribution, the lead's score, its LeadScore and the
    # score_changed activity, one statement on Postgres, four elsewhere.
    statements = [q["sql"] for q in queries if "SAVEPOINT" not in q["sql"]]
    assert len(statements) == (4 if connection.vendor == "postgresql" else 7), statements
    lead.refresh_from_db()
    assert lead.score == 20
    assert ScoreContribution.objects.filter(activity=activity).count() == 1


def test_a_score_change_moves_the_last_activity_on_and_queues_its_follow_up(
        django_capture_on_commit_callbacks, clock):
    RuleFactory(conditions=PRICING, points=10)
    lead = LeadFactory()
    lead.__class__.objects.filter(pk=lead.pk).update(last_activity_at=T0 - timedelta(days=3))
    activity = ActivityFactory(lead=lead, kind="page_viewed",
                               data={"url": "https://www.example.com/pricing"},
                               occurred_at=T0 - timedelta(hours=1))

    with django_capture_on_commit_callbacks() as callbacks:
        services.activity_score_apply(activity=activity)

    lead.refresh_from_db()
    change = Activity.objects.get(lead=lead, kind=ActivityKind.SCORE_CHANGED)
    assert (lead.score, lead.last_activity_at) == (10, T0 - timedelta(hours=1))
    assert change.occurred_at == T0 - timedelta(hours=1)
    assert change.created_at == T0
    assert change.data == {"old": 0, "new": 10, "cause": {"activity": activity.pk},
                           "categories": {"engagement": 10}}
    assert len(callbacks) == 1  # its follow-up (triggers on a score) after the commit


def test_an_older_activitys_score_change_never_moves_the_last_activity_back(clock):
    RuleFactory(conditions=PRICING, points=10)
    lead = LeadFactory()
    lead.__class__.objects.filter(pk=lead.pk).update(last_activity_at=T0)

    view(lead, at=T0 - timedelta(days=2))

    assert (lead.score, lead.last_activity_at) == (10, T0)
    assert Activity.objects.get(lead=lead, kind=ActivityKind.SCORE_CHANGED).occurred_at == \
        T0 - timedelta(days=2)


def test_a_score_and_a_grade_change_are_two_activities_of_one_write(clock):
    RuleFactory(conditions=PRICING, points=10)
    FitRuleFactory(conditions=[{"field": "job_title", "op": "contains_any",
                                "value": ["VP"]}], points=30)
    lead = LeadFactory(job_title="VP Sales")

    activity = view(lead)

    assert lead.score == 10
    kinds = list(Activity.objects.filter(lead=lead).exclude(pk=activity.pk)
                 .order_by("id").values_list("kind", flat=True))
    assert kinds[-2:] == [ActivityKind.SCORE_CHANGED, ActivityKind.GRADE_CHANGED]
    assert LeadScore.objects.get(lead=lead).fit_score == 30


def test_it_is_the_handler_activity_process_runs(django_capture_on_commit_callbacks, clock):
    RuleFactory(conditions=PRICING, points=10)
    lead = LeadFactory()

    with django_capture_on_commit_callbacks(execute=True):
        activity_record(lead=lead, kind="page_viewed",
                        data={"url": "https://www.example.com/pricing"})

    lead.refresh_from_db()
    assert lead.score == 10
    assert Activity.objects.get(kind="page_viewed").processed_at is not None


def test_a_deleted_lead_is_skipped(clock):
    RuleFactory(conditions=PRICING, points=10)
    activity = ActivityFactory()
    activity_id = activity.pk
    activity.lead.delete()

    assert services.activity_score_apply(activity=Activity(
        pk=activity_id, lead_id=activity.lead_id, kind="page_viewed",
        data={"url": "/pricing"}, occurred_at=T0)) is None
