"""Full rescores (after a rule or settings change) and the decay run, set-based in SQL
(scoring.engine.sql), in batches of lead ids, each batch one transaction.

A rescore job is started by ``rescore_request`` (queues its Celery tasks on commit) and
run by ``rescore_job_run``: from the tasks (SCORING_RESCORE_WORKERS of them share one
job; each works for a time budget, then re-queues itself for the rest) or in-process
(``manage.py rescore`` with its --workers threads, the demo data). When a job starts it
is cut into batches of lead-id ranges (RescoreBatch); a worker claims a pending batch
with SELECT … FOR UPDATE SKIP LOCKED and marks it done in the transaction that rescored
it, so workers never share a batch, and one that dies leaves its batch pending for
another. Rescoring a batch twice writes nothing the second time.

So running a job's tasks twice is harmless, and a queued job whose tasks never reached
the broker is sent again (rescore_job_dispatch) when a rescore is asked for again and by
a sweep (rescore_jobs_redispatch). The job's status follows its batches: done when all
are (rescore_job_fail fails it only when batches are left with no worker on them).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import connection, connections, transaction
from django.db.models import F, Max, Q
from django.utils import timezone

from capture.models import Lead
from scoring.engine import sql as engine
from scoring.engine.rules import Snapshot, snapshot_load
from scoring.models import (
    LeadScore,
    RescoreBatch,
    RescoreJob,
    RescoreStatus,
    Rule,
    ScoringSettings,
    rescore_redispatch_after,
)
from scoring.services import hooks
from scoring.services.promote import mql_promote

logger = logging.getLogger(__name__)


def _batch_size() -> int:
    size = int(getattr(settings, "SCORING_RESCORE_BATCH_LEADS", 50_000))
    return max(engine.LOCK_BUCKET, size)


def _workers() -> int:
    return max(1, int(getattr(settings, "SCORING_RESCORE_WORKERS", 2)))


# --- Jobs -------------------------------------------------------------------------------------


@transaction.atomic
def rescore_request(*, requested_by=None, reason: str = "", dispatch: bool = True,
                    full: bool = True) -> RescoreJob:
    """A rescore of every lead: the queued job if one has not started yet (it will see
    this change), else a new job. Its Celery tasks are sent when the transaction
    commits: for a job already queued too, if they never reached the broker or look
    lost (rescore_job_dispatch decides), so asking again gets a stuck job going.

    ``full=False`` (after a rule or settings change) matches only the changed rules
    against the activities again (RescoreJob.full); a queued job asked for both is full."""
    job = (RescoreJob.objects.select_for_update()
           .filter(status=RescoreStatus.QUEUED).order_by("id").first())
    if job is None:
        job = RescoreJob.objects.create(requested_by=requested_by, reason=reason[:200],
                                        full=full)
    elif full and not job.full:
        job.full = True
        job.save(update_fields=["full"])
    if dispatch:
        job_id = job.pk

        def send() -> None:
            rescore_job_dispatch(job_id=job_id)

        # robust: the job row is committed whatever the broker does; if it is down, the
        # next request or the sweep (rescore_jobs_redispatch, every minute) sends them.
        transaction.on_commit(send, robust=True)
    return job


def rescore_job_dispatch(*, job_id: int, now: datetime | None = None) -> bool:
    """Send a queued job's tasks (SCORING_RESCORE_WORKERS of them) if they are due
    (RescoreJob.dispatch_due: never sent, or sent so long ago that they were probably
    lost). Returns whether they were sent.

    Claimed with a conditional update, so of two callers at one moment (a request and
    the sweep) only one sends. Sending twice is harmless all the same: every task claims
    its batches (SKIP LOCKED, marked done in the transaction that rescored them), and
    one that finds none left has nothing to do."""
    now = now or timezone.now()
    due = Q(dispatched_at__isnull=True) | Q(dispatched_at__lte=now - rescore_redispatch_after())
    claimed = RescoreJob.objects.filter(due, pk=job_id, status=RescoreStatus.QUEUED).update(
        dispatched_at=now)
    if not claimed:
        return False
    from scoring.tasks import rescore_run

    try:
        for _ in range(_workers()):
            rescore_run.delay(job_id)
    except Exception:
        # The broker did not take them: the next request or sweep tries again at once,
        # instead of waiting for this claim to look lost.
        RescoreJob.objects.filter(pk=job_id, dispatched_at=now).update(dispatched_at=None)
        raise
    return True


def rescore_jobs_redispatch(*, now: datetime | None = None) -> int:
    """The sweep (beat, leadhub/celery.py): send the tasks of queued jobs again whose
    tasks never reached the broker (it was down when they were queued) or were lost on
    the way. Returns how many jobs were sent."""
    now = now or timezone.now()
    due = Q(dispatched_at__isnull=True) | Q(dispatched_at__lte=now - rescore_redispatch_after())
    ids = list(RescoreJob.objects.filter(due, status=RescoreStatus.QUEUED).order_by("id")
               .values_list("pk", flat=True))
    return sum(rescore_job_dispatch(job_id=job_id, now=now) for job_id in ids)


# A Postgres advisory lock per job ("SR"): every worker running the job holds it shared
# for the whole run (across its batch transactions), so a worker that gives up can tell
# whether another is still on the job. A killed worker's lock goes with its connection.
JOB_LOCK_NAMESPACE = 0x5352


def _job_lock_key(job_id: int) -> list[int]:
    return [JOB_LOCK_NAMESPACE, job_id & 0x7FFFFFFF]


@contextmanager
def _working_on(job_id: int) -> Iterator[None]:
    if connection.vendor != "postgresql":
        yield  # SQLite: one writer, and no such locks; see _others_working
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock_shared(%s, %s)", _job_lock_key(job_id))
    try:
        yield
    finally:
        # A broken connection took its session, and the lock, with it.
        if connection.is_usable():
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock_shared(%s, %s)",
                               _job_lock_key(job_id))


def _others_working(job_id: int) -> bool:
    """Whether another worker is running the job now (call in a transaction). Postgres:
    does anyone hold its lock (an exclusive try, released at commit; a worker starting
    meanwhile waits for it). SQLite cannot tell: no, and a worker still running makes
    the job running again at its next batch."""
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s, %s)", _job_lock_key(job_id))
        (free,) = cursor.fetchone()
    return not free


def _start(job_id: int) -> RescoreJob | None:
    """Start a job not started yet (queued, or failed before it started): cut it into
    batches. A job already started is returned as it is (another worker, or a
    redelivered task, started it)."""
    with transaction.atomic():
        job = RescoreJob.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.started_at is not None:
            return job
        stamp = ScoringSettings.objects.values_list("rules_stamp", flat=True).get(
            pk=ScoringSettings.SINGLETON_ID)
        job.status, job.started_at, job.rules_stamp = RescoreStatus.RUNNING, timezone.now(), stamp
        job.finished_at, job.error = None, ""
        # Read after the stamp: a rule saved since is marked, and moves the stamp.
        job.rematch = None if job.full else sorted(
            Rule.all_objects.filter(needs_rematch=True).values_list("pk", flat=True))
        job.total = Lead.objects.count()
        job.last_lead_id = Lead.objects.aggregate(m=Max("id"))["m"] or 0
        job.save(update_fields=["status", "started_at", "rules_stamp", "finished_at", "error",
                                "rematch", "total", "last_lead_id"])
        RescoreBatch.objects.bulk_create(
            [RescoreBatch(job=job, lo=lo, hi=hi) for lo, hi in _ranges(job.last_lead_id)])
        with connection.cursor() as cursor:
            engine.analyze(cursor, engine.current_dialect())
        return job


def _ranges(last_lead_id: int) -> list[tuple[int, int]]:
    """Lead-id ranges of about _batch_size() leads each (every size-th id, read from the
    primary key in one statement), aligned to the lock buckets so no two batches share
    one."""
    size = _batch_size()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id FROM (SELECT id, row_number() OVER (ORDER BY id) AS n "  # noqa: S608
            f"FROM {engine.LEAD} WHERE id <= %s) x WHERE n %% %s = 1 ORDER BY id",
            [last_lead_id, size])
        starts = [row[0] for row in cursor.fetchall()]
    if not starts:  # no leads: nothing to cut
        return []
    bucket = engine.LOCK_BUCKET
    starts = sorted({(start // bucket) * bucket for start in starts})
    ends = [start - 1 for start in starts[1:]] + [last_lead_id]
    return [(max(lo, 0), hi) for lo, hi in zip(starts, ends, strict=True) if hi >= lo]


def rescore_job_run(
    *,
    job_id: int,
    seconds: float | None = None,
    progress: Callable[[RescoreJob], None] | None = None,
    promote: bool = True,
    timings: engine.Timings = engine.NO_TIMINGS,
) -> bool:
    """Rescore the job's pending batches, one claimed at a time, until none is left or
    ``seconds`` have passed (checked between batches). Returns True when the job needs
    nothing more from this worker (finished, gone, or its last batches are being done
    by others), False when there is more to do. ``promote=False`` records who meets
    the MQL threshold but moves nobody and calls no SCORING_RESCORE_HOOKS (demo data)."""
    started = time.monotonic()
    with _working_on(job_id):
        job = _start(job_id)
        if job is None or job.status == RescoreStatus.DONE:
            return True
        # A failed job is resumed: its undone batches are claimed like any others.
        while True:
            claimed = _batch_run(job.pk, promote=promote, timings=timings)
            if claimed is None:  # nothing pending: finished, or the rest is being done
                job = _finish_if_done(job.pk)
                if progress and job:
                    progress(job)
                return True
            if progress:
                progress(RescoreJob.objects.get(pk=job.pk))
            if seconds is not None and time.monotonic() - started >= seconds:
                return False


def _batch_run(job_id: int, *, promote: bool, timings: engine.Timings) -> RescoreBatch | None:
    """Claim one pending batch and rescore it, in one transaction; None if none is left."""
    with transaction.atomic():
        pending = RescoreBatch.objects.filter(job_id=job_id, done=False).order_by("lo")
        if connection.features.has_select_for_update_skip_locked:
            # Skip batches other workers hold; theirs stay locked until they commit.
            pending = pending.select_for_update(skip_locked=True)
        batch = pending.first()
        if batch is None:
            return None
        started = time.monotonic()
        rematch = RescoreJob.objects.values_list("rematch", flat=True).get(pk=job_id)
        result = rescore_batch(lo=batch.lo, hi=batch.hi, cause={"rescore": job_id},
                               reason=f"rescore #{job_id}", promote=promote, rematch=rematch,
                               timings=timings)
        batch.done, batch.leads = True, result.leads
        batch.seconds = time.monotonic() - started
        batch.save(update_fields=["done", "leads", "seconds"])
        RescoreJob.objects.filter(pk=job_id).update(
            done=F("done") + result.leads, scores_changed=F("scores_changed") +
            result.scores_changed, grades_changed=F("grades_changed") + result.grades_changed,
            promoted=F("promoted") + result.promoted)
        # A worker that gave up marked the job failed, unaware of this one (it was
        # between batches, or on SQLite): it is running again.
        RescoreJob.objects.filter(pk=job_id, status=RescoreStatus.FAILED).update(
            status=RescoreStatus.RUNNING, finished_at=None)
        return batch


def _finish_if_done(job_id: int) -> RescoreJob | None:
    """Mark the job done if every batch is (also a job a worker gave up on: another did
    its batches), and purge the rules it has finished deleting."""
    with transaction.atomic():
        job = RescoreJob.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.status == RescoreStatus.DONE or job.started_at is None:
            return job
        if RescoreBatch.objects.filter(job_id=job_id, done=False).exists():
            return job  # a batch another worker is on: it finishes the job
        job.status, job.finished_at, job.error = RescoreStatus.DONE, timezone.now(), ""
        job.done = job.total
        job.save(update_fields=["status", "finished_at", "error", "done"])
        # Locked: a rule change in progress (it stamps this row) commits first, and is
        # seen here, or waits for this transaction.
        stamp = ScoringSettings.objects.select_for_update().values_list(
            "rules_stamp", flat=True).get(pk=ScoringSettings.SINGLETON_ID)
        if stamp != job.rules_stamp:
            # Rules changed after this job had started: some batches used the old ones.
            # The rules stay marked for rematching; the next job sees them.
            full = job.full
            transaction.on_commit(
                lambda: rescore_request(reason=f"rules changed during #{job_id}", full=full))
        else:
            # Every batch ran with the rules as they are: the ones it matched again are
            # current, and the deleted ones among them have their points off every lead
            # (leads made since then never matched them), so their rows can go, with
            # the contributions no lead counts any more.
            matched = Rule.all_objects.filter(Q(needs_rematch=True) | Q(deleted_at__isnull=False))
            if job.rematch is not None:
                matched = matched.filter(pk__in=job.rematch)
            if connection.features.has_select_for_update_skip_locked:
                # A rule locked now is being saved (marked again): it is left for the next
                # job, and this one does not wait for it (that rule's transaction waits
                # for the settings row locked above).
                matched = matched.select_for_update(skip_locked=True)
            ids = list(matched.values_list("pk", flat=True))
            Rule.all_objects.filter(pk__in=ids, deleted_at__isnull=False).delete()
            Rule.all_objects.filter(pk__in=ids).update(needs_rematch=False)
        return job


def rescore_job_fail(*, job_id: int, error: str) -> RescoreJob | None:
    """A worker gave up on the job: its task ran out of retries, or hit an error that is
    not retried. The batch it was on rolled back, so it is pending again. The job is
    failed only if batches are left undone with no other worker on it; while another
    runs, that one carries on (and does the batch again); if none is left, it is done."""
    with transaction.atomic():
        job = RescoreJob.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.status == RescoreStatus.DONE:
            return job
        undone = job.started_at is None or RescoreBatch.objects.filter(
            job_id=job_id, done=False).exists()
        job.error = error[:5000]
        if undone and not _others_working(job_id):
            job.status, job.finished_at = RescoreStatus.FAILED, timezone.now()
        job.save(update_fields=["status", "finished_at", "error"])
    if not undone:  # it gave up after the last batch (another worker did the rest)
        return _finish_if_done(job_id)
    return job


def rescore_run_inline(*, requested_by=None, reason: str = "",
                       progress: Callable[[RescoreJob], None] | None = None,
                       promote: bool = True, workers: int = 1, full: bool = True,
                       timings: engine.Timings = engine.NO_TIMINGS) -> RescoreJob:
    """Create a job and run it here and now (``manage.py rescore``, the demo data), with
    ``workers`` threads (each its own database connection) on Postgres. ``full``: see
    rescore_request."""
    # Dispatched to this process: the sweep has no tasks to send for it.
    job = RescoreJob.objects.create(requested_by=requested_by, reason=reason[:200],
                                    dispatched_at=timezone.now(), full=full)
    rescore_job_threads(job_id=job.pk, workers=workers, progress=progress, promote=promote,
                        timings=timings)
    job.refresh_from_db()
    return job


def rescore_job_threads(*, job_id: int, workers: int = 1,
                        progress: Callable[[RescoreJob], None] | None = None,
                        promote: bool = True,
                        timings: engine.Timings = engine.NO_TIMINGS) -> None:
    """Run a job in-process; with workers > 1 (Postgres only: SQLite has one writer), as
    many threads claim its batches side by side."""
    if workers <= 1 or connection.vendor != "postgresql" or connection.in_atomic_block:
        rescore_job_run(job_id=job_id, progress=progress, promote=promote, timings=timings)
        return
    _start(job_id)  # once, before the threads race to start it
    errors: list[BaseException] = []
    lock = threading.Lock()

    def report(job: RescoreJob) -> None:
        if progress:
            with lock:
                progress(job)

    def work() -> None:
        try:
            rescore_job_run(job_id=job_id, progress=report, promote=promote, timings=timings)
        except BaseException as exc:  # re-raised in the caller's thread below
            errors.append(exc)
        finally:
            connections.close_all()  # this thread's connection

    threads = [threading.Thread(target=work, name=f"rescore-{i}") for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    _finish_if_done(job_id)


# --- Batches ----------------------------------------------------------------------------------


@dataclass
class BatchResult:
    leads: int
    scores_changed: int
    grades_changed: int
    promoted: int


def rescore_batch(*, lo: int, hi: int, cause: dict, reason: str, promote: bool = True,
                  now: datetime | None = None, snapshot: Snapshot | None = None,
                  rematch: list[int] | None = None,
                  timings: engine.Timings = engine.NO_TIMINGS) -> BatchResult:
    """Rescore leads lo…hi from their activities: contributions, scores, grades, the
    activities recording the changes, and MQL promotions. One transaction.

    ``rematch``: the rules whose contributions are matched against the activities again
    (RescoreJob.rematch); the others' stored contributions are taken as they are. None:
    every rule."""
    now = now or timezone.now()
    dialect = engine.current_dialect()
    with transaction.atomic(), connection.cursor() as cursor:
        engine.session(cursor, dialect)
        engine.lock_buckets(cursor, dialect, (lo, hi), shared=False)
        # Read under the lock: a rule change committed before it is in this batch.
        snapshot = snapshot or snapshot_load()
        leads = engine.lead_range(lo, hi)
        if rematch is None:
            engine.contributions_sync(cursor, dialect, list(snapshot.behavior), leads, timings)
            # Every contribution was just computed: sum those, not the table again.
            source = engine.DESIRED
        else:
            if rematch:
                wanted = set(rematch)
                engine.contributions_sync(
                    cursor, dialect, [s for s in snapshot.behavior if s.id in wanted], leads,
                    timings, rules=rematch)
            source = engine.CONTRIB
        cause_sql, cause_params = _cause_sql(dialect, cause)
        mark = hooks.activity_mark() if promote and hooks.hooks_configured() else 0
        scored = engine.scores_write(cursor, dialect, snapshot, leads, now, cause_sql,
                                     cause_params, source=source, timings=timings)
        if promote:  # SCORING_RESCORE_HOOKS (nurture's triggers), once this commits
            hooks.hooks_call_on_commit(cause=cause, lo=lo, hi=hi, after_id=mark,
                                       scores_changed=scored.scores_changed,
                                       grades_changed=scored.grades_changed)
        engine.drop_desired(cursor, dialect)
        with timings("MQL promotions (pipeline, per lead)"):
            promoted = _promote(scored.promotable, snapshot, reason) if promote else 0
    return BatchResult(scored.leads, scored.scores_changed, scored.grades_changed, promoted)


def _cause_sql(dialect, cause: dict) -> tuple[str, list]:
    ((key, value),) = cause.items()
    if value is True:
        return dialect.json_object([(key, dialect.json_true())]), []
    return dialect.json_object([(key, "CAST(%s AS BIGINT)")]), [value]


def _promote(lead_ids: list[int], snapshot: Snapshot, reason: str) -> int:
    if not lead_ids:
        return 0
    return mql_promote(
        lead_ids=lead_ids,
        reason=f"Reached the MQL threshold ({snapshot.thresholds.describe()}) in {reason}.",
    )


# --- Decay ------------------------------------------------------------------------------------

DECAY_BATCH = 5000


def scores_decay(*, now: datetime | None = None, batch: int = DECAY_BATCH) -> int:
    """Rescore the leads whose points have expired since they were last scored (their
    next expiry has passed): set-based, a batch of leads per transaction. Records
    score_changed with cause {"decay": true}. Returns how many leads were rescored."""
    now = now or timezone.now()
    dialect = engine.current_dialect()
    done = 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            engine.session(cursor, dialect)
            due = list(LeadScore.objects.filter(next_expiry__lte=now).order_by("lead_id")
                       .values_list("lead_id", flat=True)[:batch])
            if not due:
                return done
            engine.lock_buckets(cursor, dialect, due, shared=False)
            snapshot = snapshot_load()
            engine._temp(cursor, dialect, "tmp_scoring_due",
                         f"SELECT lead_id FROM {engine.LEADSCORE} WHERE lead_id BETWEEN %s "  # noqa: S608
                         "AND %s AND next_expiry <= %s",
                         [due[0], due[-1], dialect.param_datetime(now)])
            cause_sql, cause_params = _cause_sql(dialect, {"decay": True})
            mark = hooks.activity_mark() if hooks.hooks_configured() else 0
            scored = engine.scores_write(cursor, dialect, snapshot,
                                         engine.lead_table("tmp_scoring_due"), now,
                                         cause_sql, cause_params)
            hooks.hooks_call_on_commit(cause={"decay": True}, lo=due[0], hi=due[-1],
                                       after_id=mark, scores_changed=scored.scores_changed,
                                       grades_changed=scored.grades_changed)
            engine._drop(cursor, dialect, "tmp_scoring_due")
            _promote(scored.promotable, snapshot, "decay")
            done += scored.leads
        if len(due) < batch:
            return done
