"""scoring's Celery tasks: thin adapters around scoring.services."""

import logging

from celery import Task, shared_task
from django.conf import settings
from django.db import OperationalError

from scoring import services

logger = logging.getLogger(__name__)

# One run of rescore_run works this long, then re-queues itself for the rest: no single
# task holds a worker (or outlives a broker's visibility timeout) for a whole rescore.
RUN_SECONDS = getattr(settings, "SCORING_RESCORE_TASK_SECONDS", 120)


class RescoreTask(Task):
    def on_failure(self, exc, task_id, args, kwargs, einfo):
        # Called once retries are exhausted or for an error that is not retried. The
        # batch this run was on rolled back (pending again); the job is failed, instead
        # of "running" for ever, only if no other worker is left to do it.
        job_id = args[0] if args else kwargs.get("job_id")
        if job_id is not None:
            services.rescore_job_fail(job_id=job_id, error=f"{type(exc).__name__}: {exc}")


@shared_task(
    base=RescoreTask,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    retry_backoff_max=300,
    max_retries=5,
    # The budget, plus one batch that may still be running when it runs out (a batch's
    # statements are limited to 300 s by scoring.engine.dialect on Postgres).
    soft_time_limit=RUN_SECONDS + 330,
    time_limit=RUN_SECONDS + 360,
)
def rescore_run(job_id: int) -> None:
    """Run (or resume) a rescore job; idempotent: batches commit with the job's cursor."""
    if not services.rescore_job_run(job_id=job_id, seconds=RUN_SECONDS):
        rescore_run.delay(job_id)


@shared_task(soft_time_limit=60, time_limit=90)
def rescores_redispatch() -> int:
    """Send again the tasks of queued rescores that never reached the broker or were
    lost (beat, every minute; like capture's outbox sweep)."""
    count = services.rescore_jobs_redispatch()
    if count:
        logger.info("Re-sent the tasks of %d queued rescore job(s)", count)
    return count


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3,
             soft_time_limit=600, time_limit=660)
def scores_decay() -> int:
    """Rescore the leads whose points expired since they were last scored (beat)."""
    count = services.scores_decay()
    if count:
        logger.info("Decay: rescored %d leads whose points expired", count)
    return count
