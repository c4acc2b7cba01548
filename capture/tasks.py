import logging
from datetime import timedelta

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import OperationalError
from django.utils import timezone
from django.utils.module_loading import import_string

from capture.models import Activity
from capture.services import notify, tracking

logger = logging.getLogger(__name__)

SWEEP_BATCH = 1000


@shared_task(
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    retry_backoff_max=300,
    max_retries=8,
    soft_time_limit=60,
    time_limit=90,
)
def activity_process(activity_id: int) -> None:
    """Run the follow-up work for one activity (settings.ACTIVITY_HANDLERS), then mark it
    processed. Handlers are idempotent, so a redelivered or swept task is harmless."""
    activity = Activity.objects.select_related("lead").filter(pk=activity_id).first()
    if activity is None or activity.processed_at is not None:
        return  # deleted with its lead, or already done by an earlier delivery
    _activity_handle(activity)


def _activity_handle(activity: Activity) -> None:
    for path in settings.ACTIVITY_HANDLERS:
        import_string(path)(activity)
    Activity.objects.filter(pk=activity.pk, processed_at__isnull=True).update(
        processed_at=timezone.now()
    )


@shared_task(
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    retry_backoff_max=300,
    max_retries=8,
    soft_time_limit=300,
    time_limit=360,
)
def activities_process(activity_ids: list[int]) -> None:
    """``activity_process`` for a group of activities (queued once per group by
    capture.services.bulk): each one's handlers run, in id order, then it is marked
    processed, exactly as if it had its own task. One that fails is logged and left
    unprocessed for the outbox sweep; the others go on. A lost database connection
    retries the task, which skips what is already processed."""
    activities = list(
        Activity.objects.select_related("lead")
        .filter(pk__in=activity_ids, processed_at__isnull=True).order_by("pk")
    )
    seen: set[int] = set()
    for activity in activities:
        if activity.lead_id in seen:
            # An earlier activity's handlers may have changed this lead (score, stage,
            # exits): read it afresh, as its own task would have.
            fresh = Activity.objects.select_related("lead").filter(pk=activity.pk).first()
            if fresh is None or fresh.processed_at is not None:
                continue
            activity = fresh
        seen.add(activity.lead_id)
        try:
            _activity_handle(activity)
        except (OperationalError, SoftTimeLimitExceeded):
            raise
        except Exception:
            logger.exception("Activity %s: follow-up work failed; the sweep retries it",
                             activity.pk)


@shared_task(soft_time_limit=120, time_limit=150)
def activities_redispatch_unprocessed() -> int:
    """The outbox sweep (scheduled in leadhub/celery.py): re-queue activities whose
    follow-up task never ran, e.g. because the broker was down when they committed."""
    cutoff = timezone.now() - timedelta(seconds=settings.ACTIVITY_REDISPATCH_AFTER_SECONDS)
    ids = list(
        Activity.objects.filter(processed_at__isnull=True, created_at__lt=cutoff)
        .order_by("created_at")
        .values_list("pk", flat=True)[:SWEEP_BATCH]
    )
    for activity_id in ids:
        activity_process.delay(activity_id)
    if ids:
        logger.info("Re-queued %d unprocessed activities", len(ids))
    return len(ids)


# Mail after a submission (queued by capture.handlers). Temporary SMTP failures raise
# MailDeferred (capture.services.notify) and are retried with backoff for about a day:
# 30 s, 1 min, 2 min … capped at an hour, with jitter so a recovering server is not hit
# by every retry at once; MailBusy (another run is sending the same email) is retried
# the same way. Each task sends at most once per submission however often it runs.
# Time limits above EMAIL_TIMEOUT, so a hung server fails the send, not the worker.
MAIL_TASK_OPTIONS = {
    "autoretry_for": (notify.MailDeferred, notify.MailBusy, OperationalError),
    "retry_backoff": 30,
    "retry_backoff_max": 3600,
    "retry_jitter": True,
    "max_retries": 30,
    "soft_time_limit": 120,
    "time_limit": 150,
}


@shared_task(**MAIL_TASK_OPTIONS)
def submission_notify(activity_id: int) -> None:
    """Email a form's notify_emails about one submission (its form_submitted activity)."""
    notify.submission_notification_send(activity_id=activity_id)


@shared_task(**MAIL_TASK_OPTIONS)
def optin_confirmation_send(activity_id: int) -> None:
    """Send a double-opt-in confirmation link for one submission."""
    notify.confirmation_email_send(activity_id=activity_id)


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3,
             soft_time_limit=600, time_limit=660)
def visitors_prune() -> int:
    """Delete anonymous browsing older than VISITOR_RETENTION_DAYS (leadhub/celery.py
    runs it daily)."""
    before = timezone.now() - timedelta(days=settings.VISITOR_RETENTION_DAYS)
    deleted = tracking.visitors_prune(before=before)
    if deleted:
        logger.info("Deleted %d anonymous page views older than %s", deleted, before)
    return deleted
