"""Rescore jobs as Celery runs them: their tasks are sent to the broker when the job
commits, sent again when they never got there (a rescore asked for again, or the
sweep), harmlessly when sent twice; and a job's status follows its batches when one
worker gives up while another keeps going.

The broker is the one part stood in for (``broker``: it keeps the tasks it is given,
can be down, and delivers them to real task runs); the pipeline's promoter, a boundary
scoring reaches through settings, is the way a worker is made to fail mid-batch."""

import threading
from contextlib import contextmanager
from datetime import timedelta

import pytest
import time_machine
from django.db import connections
from kombu.exceptions import OperationalError as BrokerError

from capture.models import Activity, ActivityKind, Lead
from scoring import services, tasks
from scoring.engine import sql as engine
from scoring.models import RescoreJob, RescoreStatus, ScoreContribution
from tests.factories import ActivityFactory, LeadFactory, RuleFactory
from tests.scoring.conftest import T0

pytestmark = pytest.mark.django_db

PRICING = [{"field": "url", "op": "contains", "value": "/pricing"}]
REDISPATCH_AFTER = timedelta(seconds=300)  # SCORING_RESCORE_REDISPATCH_SECONDS' default


class Broker:
    """Celery's broker: keeps the rescore tasks sent to it until ``deliver`` runs them
    (as workers would, one after another), and refuses them while ``down``."""

    def __init__(self):
        self.down = False
        self.sent: list[int] = []
        self.lock = threading.Lock()

    def delay(self, job_id: int) -> None:
        if self.down:
            raise BrokerError("Error 111 connecting to localhost:6379. Connection refused.")
        with self.lock:
            self.sent.append(job_id)

    def take(self) -> int | None:
        with self.lock:
            return self.sent.pop(0) if self.sent else None

    def deliver(self) -> int:
        """Run every task sent, and those they send in turn; how many ran."""
        ran = 0
        while (job_id := self.take()) is not None:
            tasks.rescore_run.apply(args=[job_id], throw=False)
            ran += 1
        return ran


@pytest.fixture
def broker(monkeypatch):
    fake = Broker()
    monkeypatch.setattr(tasks.rescore_run, "delay", fake.delay)
    return fake


@pytest.fixture
def clock():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


@pytest.fixture
def small_batches(settings, monkeypatch):
    """Batches of 2 leads (lock buckets of 2 ids), so a few leads make several batches."""
    monkeypatch.setattr(engine, "LOCK_BUCKET", 2)
    settings.SCORING_RESCORE_BATCH_LEADS = 2


_pipeline = threading.local()


def flaky_promoter(*, lead_ids, reason):
    """The MQL promoter (settings.SCORING_MQL_PROMOTER): moves nobody, and fails in a
    thread that broke it, so that thread's rescore batch fails and rolls back."""
    if getattr(_pipeline, "down", False):
        raise RuntimeError("the pipeline is down")
    return 0


@pytest.fixture
def promoter(settings):
    """Every lead with a pricing view meets the MQL threshold: each batch promotes."""
    settings.SCORING_MQL_PROMOTER = "tests.scoring.test_rescore_jobs.flaky_promoter"
    services.settings_update(mql_score=10, mql_min_grade="", rescore=False)


@contextmanager
def pipeline_down():
    _pipeline.down = True
    try:
        yield
    finally:
        _pipeline.down = False


def leads_with_views(count, views=1):
    leads = []
    for i in range(count):
        lead = LeadFactory()
        for v in range(views):
            ActivityFactory(lead=lead, data={"url": "https://x.example/pricing"},
                            occurred_at=T0 - timedelta(hours=i * 10 + v))
        leads.append(lead)
    return leads


def scores(leads) -> list[int]:
    return list(Lead.objects.filter(pk__in=[lead.pk for lead in leads])
                .order_by("pk").values_list("score", flat=True))


# --- Tasks that never reached the broker -------------------------------------------------------


def test_a_job_whose_tasks_never_reached_the_broker_runs_when_asked_for_again(
    broker, clock, django_capture_on_commit_callbacks
):
    leads = leads_with_views(3, views=2)
    RuleFactory(conditions=PRICING, points=10)
    broker.down = True

    with django_capture_on_commit_callbacks(execute=True):
        job = services.rescore_request(reason="rule “Pricing” created")

    job.refresh_from_db()
    assert (job.status, job.dispatched_at, broker.sent) == (RescoreStatus.QUEUED, None, [])

    broker.down = False
    with django_capture_on_commit_callbacks(execute=True):
        again = services.rescore_request(reason="requested in the browser")

    assert again == job  # shared, not doubled…
    assert broker.sent == [job.pk, job.pk]  # …and its tasks sent this time
    broker.deliver()
    job.refresh_from_db()
    assert (job.status, job.done, job.total) == (RescoreStatus.DONE, 3, 3)
    assert scores(leads) == [20, 20, 20]


def test_asking_again_while_the_tasks_wait_for_a_worker_sends_nothing_more(
    broker, clock, django_capture_on_commit_callbacks
):
    LeadFactory()
    with django_capture_on_commit_callbacks(execute=True):
        job = services.rescore_request()
    clock.shift(timedelta(seconds=30))

    with django_capture_on_commit_callbacks(execute=True):
        services.rescore_request()
    assert services.rescore_job_dispatch(job_id=job.pk) is False

    assert broker.sent == [job.pk, job.pk]
    job.refresh_from_db()
    assert job.dispatched_at == T0


def test_the_sweep_sends_a_queued_job_again_once_its_tasks_look_lost(broker, clock):
    leads = leads_with_views(2)
    RuleFactory(conditions=PRICING, points=10)
    job = services.rescore_request(dispatch=False)
    assert services.rescore_job_dispatch(job_id=job.pk) is True
    broker.sent.clear()  # lost on the way: the broker restarted without them

    assert tasks.rescores_redispatch() == 0  # just sent: the workers may be busy
    clock.shift(REDISPATCH_AFTER)
    assert tasks.rescores_redispatch() == 1
    assert tasks.rescores_redispatch() == 0  # sent once, not at every sweep

    assert broker.sent == [job.pk, job.pk]
    broker.deliver()
    job.refresh_from_db()
    assert job.status == RescoreStatus.DONE
    assert scores(leads) == [10, 10]


def test_the_sweep_retries_at_once_when_the_broker_was_still_down(broker, clock):
    LeadFactory()
    job = services.rescore_request(dispatch=False)
    broker.down = True

    with pytest.raises(BrokerError):
        tasks.rescores_redispatch()

    job.refresh_from_db()
    assert job.dispatched_at is None  # not claimed by the failed send
    broker.down = False
    assert tasks.rescores_redispatch() == 1
    broker.deliver()
    job.refresh_from_db()
    assert job.status == RescoreStatus.DONE


def test_the_sweep_leaves_jobs_alone_that_started(broker, clock):
    LeadFactory()
    job = services.rescore_request(dispatch=False)
    services.rescore_job_run(job_id=job.pk)
    clock.shift(REDISPATCH_AFTER * 10)

    assert tasks.rescores_redispatch() == 0
    assert broker.sent == []


def test_a_job_sent_twice_rescores_every_lead_once(broker, clock, small_batches):
    leads = leads_with_views(5, views=2)
    RuleFactory(conditions=PRICING, points=10, max_times=1)
    job = services.rescore_request(dispatch=False)
    services.rescore_job_dispatch(job_id=job.pk)
    clock.shift(REDISPATCH_AFTER)
    assert tasks.rescores_redispatch() == 1  # the first tasks were only slow, not lost
    assert len(broker.sent) == 4

    assert broker.deliver() >= 4

    job.refresh_from_db()
    assert (job.status, job.done, job.total, job.scores_changed) == (
        RescoreStatus.DONE, 5, 5, 5)
    assert job.batches.count() >= 3 and all(job.batches.values_list("done", flat=True))
    assert scores(leads) == [10] * 5
    assert ScoreContribution.objects.count() == 10
    changes = Activity.objects.filter(kind=ActivityKind.SCORE_CHANGED)
    assert sorted(changes.values_list("lead_id", flat=True)) == [lead.pk for lead in leads]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_tasks_of_a_job_sent_twice_share_it_when_they_run_at_once(broker, small_batches):
    # Committed data (transaction=True): each worker thread has its own connection.
    leads = leads_with_views(9, views=2)
    RuleFactory(conditions=PRICING, points=10, max_times=1)
    job = services.rescore_request(dispatch=False)
    services.rescore_job_dispatch(job_id=job.pk)
    RescoreJob.objects.filter(pk=job.pk).update(dispatched_at=None)  # as if it was lost
    services.rescore_job_dispatch(job_id=job.pk)
    assert len(broker.sent) == 4
    start = threading.Barrier(4)
    errors = []

    def worker():
        try:
            start.wait(10)
            while (job_id := broker.take()) is not None:
                result = tasks.rescore_run.apply(args=[job_id], throw=False)
                if result.failed():
                    errors.append(result.result)
        finally:
            connections.close_all()

    workers = [threading.Thread(target=worker) for _ in range(4)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join(60)

    assert errors == []
    job.refresh_from_db()
    assert (job.status, job.done, job.total, job.scores_changed) == (
        RescoreStatus.DONE, 9, 9, 9)
    assert all(job.batches.values_list("done", flat=True))
    assert scores(leads) == [10] * 9
    assert ScoreContribution.objects.count() == 18
    assert Activity.objects.filter(kind=ActivityKind.SCORE_CHANGED).count() == 9


# --- A worker that gives up ------------------------------------------------------------------


def test_a_job_a_worker_gave_up_on_is_done_when_another_completes_it(
    clock, small_batches, promoter
):
    leads = leads_with_views(6)
    RuleFactory(conditions=PRICING, points=10)
    job = services.rescore_request(dispatch=False)
    # Worker B rescores a batch; its time is up, and its next run is queued.
    assert services.rescore_job_run(job_id=job.pk, seconds=0) is False
    batches = job.batches.count()

    # Worker A's task fails on the next batch, with an error that is not retried.
    with pipeline_down():
        result = tasks.rescore_run.apply(args=[job.pk], throw=False)

    assert isinstance(result.result, RuntimeError)
    job.refresh_from_db()
    # Nobody is on the job now: failed, and the batch A was on is pending again.
    assert job.status == RescoreStatus.FAILED and "the pipeline is down" in job.error
    assert job.batches.filter(done=False).count() == batches - 1

    # B's next run does that batch and the rest.
    assert services.rescore_job_run(job_id=job.pk) is True

    job.refresh_from_db()
    assert (job.status, job.done, job.error) == (RescoreStatus.DONE, 6, "")
    assert job.finished_at is not None
    assert all(job.batches.values_list("done", flat=True))
    assert scores(leads) == [10] * 6


def test_a_worker_giving_up_after_the_last_batch_leaves_the_job_done(
    clock, small_batches, promoter
):
    leads = leads_with_views(4)
    RuleFactory(conditions=PRICING, points=10)
    job = services.rescore_request(dispatch=False)
    # Another worker did every batch, but has not marked the job done yet.
    while services.rescore_job_run(job_id=job.pk, seconds=0) is False:
        if not job.batches.filter(done=False).exists():
            break
    assert RescoreJob.objects.get(pk=job.pk).status == RescoreStatus.RUNNING

    services.rescore_job_fail(job_id=job.pk, error="SoftTimeLimitExceeded: ")

    job.refresh_from_db()
    assert (job.status, job.done, job.error) == (RescoreStatus.DONE, 4, "")
    assert scores(leads) == [10] * 4


def test_a_job_left_undone_with_nobody_on_it_is_failed(clock, small_batches, promoter):
    leads_with_views(4)
    RuleFactory(conditions=PRICING, points=10)
    job = services.rescore_request(dispatch=False)

    with pipeline_down():
        result = tasks.rescore_run.apply(args=[job.pk], throw=False)

    assert result.failed()
    job.refresh_from_db()
    assert job.status == RescoreStatus.FAILED
    assert job.error == "RuntimeError: the pipeline is down"
    assert not job.batches.filter(done=True).exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_worker_giving_up_while_another_runs_leaves_the_job_running(
    small_batches, promoter
):
    leads = leads_with_views(6)
    RuleFactory(conditions=PRICING, points=10)
    job = services.rescore_request(dispatch=False)
    paused, resume = threading.Event(), threading.Event()

    def after_a_batch(_job):
        if not paused.is_set():  # B stops between its first and second batch, on the job
            paused.set()
            resume.wait(30)

    def worker_b():
        try:
            services.rescore_job_run(job_id=job.pk, progress=after_a_batch)
        finally:
            connections.close_all()

    b = threading.Thread(target=worker_b)
    b.start()
    try:
        assert paused.wait(30)
        with pipeline_down():  # in this thread only: worker A
            result = tasks.rescore_run.apply(args=[job.pk], throw=False)

        assert isinstance(result.result, RuntimeError)
        job.refresh_from_db()
        assert job.status == RescoreStatus.RUNNING  # B is on it: not failed
        assert "the pipeline is down" in job.error
    finally:
        resume.set()
        b.join(60)

    job.refresh_from_db()
    assert (job.status, job.done, job.error) == (RescoreStatus.DONE, 6, "")
    assert all(job.batches.values_list("done", flat=True))
    assert scores(leads) == [10] * 6
