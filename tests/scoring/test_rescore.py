"""Full rescores: after a rule or settings change, as a Celery job with progress, as
``manage.py rescore``; set-based writes of scores, grades and the activities recording
them; idempotent and resumable."""

from datetime import timedelta
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command

from capture.models import Activity, ActivityKind
from scoring import services, tasks
from scoring.engine import sql as engine
from scoring.handlers import activity_score
from scoring.models import LeadScore, RescoreJob, RescoreStatus, Rule, ScoreContribution
from tests.factories import ActivityFactory, FitRuleFactory, LeadFactory, RuleFactory
from tests.scoring.conftest import T0

pytestmark = pytest.mark.django_db

PRICING = [{"field": "url", "op": "contains", "value": "/pricing"}]


@pytest.fixture
def clock():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


@pytest.fixture
def small_batches(settings, monkeypatch):
    """Batches of 2 leads (lock buckets of 2 ids), so a few leads make several batches."""
    monkeypatch.setattr(engine, "LOCK_BUCKET", 2)
    settings.SCORING_RESCORE_BATCH_LEADS = 2


def leads_with_views(count, views=2):
    leads = []
    for i in range(count):
        lead = LeadFactory()
        for v in range(views):
            ActivityFactory(lead=lead, data={"url": "https://x.example/pricing"},
                            occurred_at=T0 - timedelta(hours=i * 10 + v))
        leads.append(lead)
    return leads


def test_a_rescore_scores_every_lead_from_its_activities(clock):
    leads = leads_with_views(3)
    RuleFactory(conditions=PRICING, points=10)
    FitRuleFactory(conditions=[{"field": "company_size", "op": "gte", "value": 1}], points=5)
    quiet = LeadFactory(company_size=10)

    job = services.rescore_run_inline()

    assert (job.status, job.total, job.done) == (RescoreStatus.DONE, 4, 4)
    assert (job.scores_changed, job.grades_changed) == (3, 4)
    for lead in [*leads, quiet]:
        lead.refresh_from_db()
    assert [lead.score for lead in leads] == [20, 20, 20]
    assert quiet.score == 0 and quiet.grade == "D"
    assert ScoreContribution.objects.count() == 6
    change = Activity.objects.filter(kind=ActivityKind.SCORE_CHANGED, lead=leads[0]).get()
    assert change.data == {"old": 0, "new": 20, "cause": {"rescore": job.pk},
                           "categories": {"engagement": 20}}
    assert change.processed_at is not None  # a record, not follow-up work
    grade = Activity.objects.filter(kind=ActivityKind.GRADE_CHANGED, lead=quiet).get()
    assert grade.data == {"old": "", "new": "D", "fit_score": 5, "cause": {"rescore": job.pk}}


def test_a_rescore_with_no_leads_is_done_at_once(clock):
    RuleFactory(conditions=PRICING, points=10)

    job = services.rescore_run_inline()

    assert (job.status, job.total, job.done, job.percent) == (RescoreStatus.DONE, 0, 0, 100.0)
    assert not job.batches.exists()


def test_a_second_rescore_changes_nothing_and_records_nothing(clock):
    leads_with_views(3)
    RuleFactory(conditions=PRICING, points=10, max_times=1)
    services.rescore_run_inline()
    before = Activity.objects.count()

    job = services.rescore_run_inline()

    assert (job.scores_changed, job.grades_changed) == (0, 0)
    assert Activity.objects.count() == before


def test_a_changed_rule_changes_the_scores_it_gave(clock):
    lead = leads_with_views(1)[0]
    rule = RuleFactory(conditions=PRICING, points=10)
    services.rescore_run_inline()

    services.rule_update(rule=rule, points=7, max_times=1, rescore=False)
    job = services.rescore_run_inline()

    lead.refresh_from_db()
    assert lead.score == 7
    assert list(ScoreContribution.objects.order_by("occurred_at")
                .values_list("points", flat=True)) == [7, 0]
    assert Activity.objects.filter(kind=ActivityKind.SCORE_CHANGED).latest("id").data == {
        "old": 20, "new": 7, "cause": {"rescore": job.pk}, "categories": {"engagement": 7}}


def test_a_deleted_rule_takes_its_points_away(clock):
    lead = leads_with_views(1)[0]
    rule = RuleFactory(conditions=PRICING, points=10)
    services.rescore_run_inline()

    services.rule_delete(rule=rule, rescore=False)
    services.rescore_run_inline()

    lead.refresh_from_db()
    assert lead.score == 0
    assert not ScoreContribution.objects.exists()


def test_a_deleted_rules_points_come_off_in_its_rescore_not_with_the_next_activity(clock):
    lead = leads_with_views(1)[0]
    pricing = RuleFactory(conditions=PRICING, points=10, name="Pricing")
    RuleFactory(activity_kind="email_opened", points=5)
    services.rescore_run_inline()

    services.rule_delete(rule=pricing)  # queues a rescore, not run yet
    assert not Rule.objects.filter(pk=pricing.pk).exists()
    # An unrelated activity is scored before the rescore runs: it adds its own points,
    # and does not take the deleted rule's.
    opened = ActivityFactory(lead=lead, kind="email_opened", data={}, occurred_at=T0)
    activity_score(opened)

    lead.refresh_from_db()
    assert lead.score == 25
    changes = Activity.objects.filter(kind=ActivityKind.SCORE_CHANGED, lead=lead)
    assert changes.latest("id").data == {"old": 20, "new": 25, "cause": {"activity": opened.pk},
                                         "categories": {"engagement": 25}}

    job = RescoreJob.objects.get(status=RescoreStatus.QUEUED)
    assert job.reason == "rule “Pricing” deleted"
    services.rescore_job_run(job_id=job.pk)

    lead.refresh_from_db()
    assert lead.score == 5
    assert changes.latest("id").data == {"old": 25, "new": 5, "cause": {"rescore": job.pk},
                                         "categories": {"engagement": 5}}
    # Done with it: the rule and what it earned are gone.
    assert not Rule.all_objects.filter(pk=pricing.pk).exists()
    assert not ScoreContribution.objects.filter(rule_id=pricing.pk).exists()


def test_a_deleted_rule_is_kept_until_a_rescore_started_after_the_deletion_ends(
    clock, small_batches, django_capture_on_commit_callbacks
):
    leads = leads_with_views(4, views=1)
    pricing = RuleFactory(conditions=PRICING, points=10)
    services.rescore_run_inline()
    job = services.rescore_request(dispatch=False, reason="another change")
    assert services.rescore_job_run(job_id=job.pk, seconds=0) is False  # one batch done

    services.rule_delete(rule=pricing, rescore=False)  # while the job runs
    with django_capture_on_commit_callbacks() as follow_ups:
        services.rescore_job_run(job_id=job.pk)

    job.refresh_from_db()
    assert job.status == RescoreStatus.DONE
    # Its first batch kept the rule's points: the rule stays for the rescore that follows.
    assert Rule.all_objects.filter(pk=pricing.pk).exists()
    for callback in follow_ups:  # the batches' hooks, and the request for another rescore
        callback()
    follow_up = RescoreJob.objects.get(status=RescoreStatus.QUEUED)
    services.rescore_job_run(job_id=follow_up.pk)
    assert not Rule.all_objects.filter(pk=pricing.pk).exists()
    assert [type(lead).objects.get(pk=lead.pk).score for lead in leads] == [0] * 4


def test_decay_counts_a_deleted_rules_points_until_the_rescore(clock):
    lead = LeadFactory()
    RuleFactory(activity_kind="email_opened", points=5, expires_after_days=1)
    pricing = RuleFactory(conditions=PRICING, points=10)
    ActivityFactory(lead=lead, data={"url": "/pricing"}, occurred_at=T0)
    ActivityFactory(lead=lead, kind="email_opened", data={}, occurred_at=T0)
    services.rescore_run_inline()
    services.rule_delete(rule=pricing)

    clock.shift(timedelta(days=2))
    services.scores_decay()

    lead.refresh_from_db()
    assert lead.score == 10  # the open expired; the deleted rule's points wait for the rescore
    assert Activity.objects.filter(kind=ActivityKind.SCORE_CHANGED).latest("id").data[
        "cause"] == {"decay": True}


def test_a_deactivated_rule_stops_counting(clock):
    lead = leads_with_views(1)[0]
    rule = RuleFactory(conditions=PRICING, points=10)
    services.rescore_run_inline()

    services.rule_update(rule=rule, active=False, rescore=False)
    services.rescore_run_inline()

    lead.refresh_from_db()
    assert lead.score == 0


def test_a_rule_change_queues_a_rescore_that_runs_on_commit(
    django_capture_on_commit_callbacks, clock, marketer
):
    lead = leads_with_views(1)[0]

    with django_capture_on_commit_callbacks(execute=True):
        services.rule_create(name="Pricing", kind="behavior", activity_kind="page_viewed",
                             conditions=PRICING, points=10, actor=marketer)

    lead.refresh_from_db()
    assert lead.score == 20
    job = RescoreJob.objects.get()
    assert (job.status, job.requested_by, job.reason) == (
        RescoreStatus.DONE, marketer, "rule “Pricing” created")


def test_changes_made_while_a_rescore_is_queued_share_it(clock):
    first = services.rescore_request(reason="one", dispatch=False)
    second = services.rescore_request(reason="two", dispatch=False)
    assert first == second

    RescoreJob.objects.filter(pk=first.pk).update(status=RescoreStatus.RUNNING)
    third = services.rescore_request(reason="three", dispatch=False)
    assert third != first


def test_a_rule_change_rescores_by_matching_that_rule_alone(
    clock, django_capture_on_commit_callbacks
):
    leads = leads_with_views(2)
    pricing = RuleFactory(conditions=PRICING, points=10)
    other = RuleFactory(conditions=PRICING, points=1, max_times=1)
    services.rescore_run_inline()
    assert not Rule.objects.filter(needs_rematch=True).exists()
    kept = set(ScoreContribution.objects.filter(rule=other).values_list(
        "id", "points", "expires_at"))

    with django_capture_on_commit_callbacks(execute=True):
        services.rule_update(rule=pricing, points=12)

    job = RescoreJob.objects.latest("id")
    assert (job.status, job.full, job.rematch) == (RescoreStatus.DONE, False, [pricing.pk])
    assert job.scope == "1 changed rule matched again"
    assert [type(lead).objects.get(pk=lead.pk).score for lead in leads] == [25, 25]
    # The other rule's contributions were not rewritten, and both rules are current.
    assert set(ScoreContribution.objects.filter(rule=other).values_list(
        "id", "points", "expires_at")) == kept
    assert not Rule.objects.filter(needs_rematch=True).exists()
    # Matching every rule again finds nothing more to change.
    full = services.rescore_run_inline()
    assert (full.scores_changed, full.grades_changed) == (0, 0)


def test_a_rule_changed_without_a_rescore_is_matched_by_the_next_one(clock):
    lead = leads_with_views(1)[0]
    pricing = RuleFactory(conditions=PRICING, points=10)
    opened = RuleFactory(activity_kind="email_opened", points=5)
    services.rescore_run_inline()

    services.rule_update(rule=pricing, points=3, rescore=False)
    job = services.rescore_run_inline(full=False)

    assert job.rematch == [pricing.pk]
    lead.refresh_from_db()
    assert lead.score == 6
    assert not Rule.objects.filter(pk__in=[pricing.pk, opened.pk], needs_rematch=True).exists()


def test_a_settings_change_regrades_every_lead_without_matching_a_rule(clock):
    lead = LeadFactory(company_size=100)
    FitRuleFactory(conditions=[{"field": "company_size", "op": "gte", "value": 50}], points=30)
    RuleFactory(conditions=PRICING, points=10)
    ActivityFactory(lead=lead, data={"url": "/pricing"}, occurred_at=T0)
    services.rescore_run_inline()
    lead.refresh_from_db()
    before = (lead.grade, list(ScoreContribution.objects.values_list("id", "points")))

    services.settings_update(grade_a_min=80, grade_b_min=60, grade_c_min=25, grade_d_min=10,
                             rescore=False)
    job = services.rescore_run_inline(full=False)

    lead.refresh_from_db()
    assert job.rematch == [] and job.grades_changed == 1
    assert job.scope == "scores and grades recomputed, no rule matched again"
    assert (before[0], lead.grade, lead.score) == ("A", "C", 10)
    assert list(ScoreContribution.objects.values_list("id", "points")) == before[1]


def test_a_rule_saved_while_its_rescore_runs_stays_marked_for_the_next(
    clock, small_batches, django_capture_on_commit_callbacks
):
    leads_with_views(4, views=1)
    pricing = RuleFactory(conditions=PRICING, points=10)
    opened = RuleFactory(activity_kind="email_opened", points=5)
    services.rescore_run_inline()
    services.rule_update(rule=pricing, points=20, rescore=False)
    job = services.rescore_request(dispatch=False, full=False)
    assert services.rescore_job_run(job_id=job.pk, seconds=0) is False  # one batch done

    services.rule_update(rule=opened, points=6, rescore=False)  # while the job runs
    with django_capture_on_commit_callbacks() as follow_ups:
        services.rescore_job_run(job_id=job.pk)

    job.refresh_from_db()
    assert (job.status, job.rematch) == (RescoreStatus.DONE, [pricing.pk])
    # The rules changed during the job: neither counts as current yet.
    assert set(Rule.objects.filter(needs_rematch=True).values_list("pk", flat=True)) == {
        pricing.pk, opened.pk}
    for callback in follow_ups:
        callback()
    follow_up = RescoreJob.objects.get(status=RescoreStatus.QUEUED)
    assert not follow_up.full
    services.rescore_job_run(job_id=follow_up.pk)
    follow_up.refresh_from_db()
    assert follow_up.rematch == sorted([pricing.pk, opened.pk])
    assert not Rule.objects.filter(needs_rematch=True).exists()


def test_a_full_request_makes_the_queued_rule_change_job_full(clock):
    rule = RuleFactory(conditions=PRICING, points=10)
    services.rescore_run_inline()
    services.rule_update(rule=rule, points=11)  # queues a job for the changed rule
    queued = RescoreJob.objects.get(status=RescoreStatus.QUEUED)
    assert not queued.full and queued.scope == "changed rules matched again"

    assert services.rescore_request(reason="Rescore now", dispatch=False) == queued
    queued.refresh_from_db()
    assert queued.full
    services.rescore_job_run(job_id=queued.pk)
    queued.refresh_from_db()
    assert queued.rematch is None


def test_progress_is_reported_batch_by_batch(clock, small_batches):
    leads_with_views(5, views=1)
    RuleFactory(conditions=PRICING, points=10)
    seen = []

    job = services.rescore_run_inline(progress=lambda j: seen.append((j.done, j.total)))

    assert job.status == RescoreStatus.DONE
    assert seen[0][0] < seen[-1][0] == 5
    assert all(total == 5 for _, total in seen)
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)
    assert len(seen) >= 3


def test_the_task_works_in_runs_and_requeues_itself(clock, small_batches, monkeypatch):
    leads = leads_with_views(5, views=1)
    RuleFactory(conditions=PRICING, points=10)
    monkeypatch.setattr(tasks, "RUN_SECONDS", 0)  # one batch per run
    runs = []
    real = services.rescore_job_run
    monkeypatch.setattr(tasks.services, "rescore_job_run",
                        lambda **kw: runs.append(1) or real(**kw))
    job = services.rescore_request(dispatch=False)

    tasks.rescore_run(job.pk)  # eager: the re-queued runs run inline

    job.refresh_from_db()
    assert job.status == RescoreStatus.DONE and job.done == 5
    assert len(runs) >= 3
    assert all(lead.scoring_state.categories == {"engagement": 10} for lead in
               [type(leads[0]).objects.select_related("scoring_state").get(pk=lead.pk)
                for lead in leads])


def test_an_interrupted_job_resumes_after_its_last_batch(clock, small_batches):
    leads = leads_with_views(4, views=1)
    RuleFactory(conditions=PRICING, points=10)
    job = services.rescore_request(dispatch=False)

    assert services.rescore_job_run(job_id=job.pk, seconds=0) is False
    job.refresh_from_db()
    assert job.status == RescoreStatus.RUNNING and 0 < job.done < 4
    assert list(job.batches.values_list("done", flat=True)) == [True, False]

    assert services.rescore_job_run(job_id=job.pk) is True
    job.refresh_from_db()
    assert job.status == RescoreStatus.DONE and job.done == 4
    assert all(job.batches.values_list("done", flat=True))
    assert LeadScore.objects.filter(lead__in=leads).count() == 4
    assert services.rescore_job_run(job_id=job.pk) is True  # finished: nothing to do


def test_a_failing_job_is_marked_failed(clock, monkeypatch):
    LeadFactory()
    job = services.rescore_request(dispatch=False)

    def explode(**kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr("scoring.services.rescore.rescore_batch", explode)
    result = tasks.rescore_run.apply(args=[job.pk], throw=False)

    assert isinstance(result.result, RuntimeError)
    job.refresh_from_db()
    assert job.status == RescoreStatus.FAILED
    assert "disk full" in job.error


def test_the_command_shows_progress_and_a_summary(clock, small_batches):
    leads_with_views(3, views=1)
    RuleFactory(conditions=PRICING, points=10)
    out = StringIO()

    call_command("rescore", stdout=out)

    text = out.getvalue()
    assert "100.0%  3/3 leads" in text
    assert "leads/s  ETA" in text
    job = RescoreJob.objects.get()
    assert f"Rescore #{job.pk} done: 3 leads (every rule matched again) in" in text
    assert "3 scores and 0 grades changed, 0 leads became MQLs." in text


def test_the_command_can_match_only_the_changed_rules(clock):
    leads_with_views(2, views=1)
    pricing = RuleFactory(conditions=PRICING, points=10)
    services.rescore_run_inline()
    Rule.objects.filter(pk=pricing.pk).update(points=20)  # not saved: not marked
    changed = RuleFactory(conditions=PRICING, points=1)
    out = StringIO()

    call_command("rescore", "--changed", stdout=out)

    assert "(1 changed rule matched again)" in out.getvalue()
    assert RescoreJob.objects.latest("id").rematch == [changed.pk]
    # The unmarked change was not matched again: its contributions stayed at 10.
    assert sorted(ScoreContribution.objects.values_list("points", flat=True)) == [1, 1, 10, 10]


def test_the_command_resumes_a_job(clock):
    leads_with_views(2, views=1)
    RuleFactory(conditions=PRICING, points=10)
    job = services.rescore_request(dispatch=False)
    out = StringIO()

    call_command("rescore", "--job", str(job.pk), stdout=out)

    job.refresh_from_db()
    assert job.status == RescoreStatus.DONE
    assert f"Rescore #{job.pk} done" in out.getvalue()


def test_incremental_scores_survive_a_rescore_unchanged(clock):
    RuleFactory(conditions=PRICING, points=10, max_times=2, expires_after_days=3)
    RuleFactory(activity_kind="email_opened", points=20, count=3, window_days=7)
    lead = LeadFactory()
    for hour in range(4):
        activity_score(ActivityFactory(lead=lead, data={"url": "/pricing"},
                                       occurred_at=T0 + timedelta(hours=hour)))
        activity_score(ActivityFactory(lead=lead, kind="email_opened", data={},
                                       occurred_at=T0 + timedelta(hours=hour, minutes=5)))
    lead.refresh_from_db()
    assert lead.score == 40

    job = services.rescore_run_inline()

    assert (job.scores_changed, job.grades_changed) == (0, 0)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_workers_share_a_job_batch_by_batch(small_batches):
    # Committed data (transaction=True): each worker thread has its own connection.
    with time_machine.travel(T0, tick=False):
        leads = leads_with_views(9, views=2)
        RuleFactory(conditions=PRICING, points=10, max_times=1)

        job = services.rescore_run_inline(workers=3)

    assert (job.status, job.done, job.scores_changed) == (RescoreStatus.DONE, 9, 9)
    assert job.batches.count() >= 4 and all(job.batches.values_list("done", flat=True))
    for lead in leads:
        lead.refresh_from_db()
        assert lead.score == 10
    assert ScoreContribution.objects.count() == 18
    assert Activity.objects.filter(kind=ActivityKind.SCORE_CHANGED).count() == 9
