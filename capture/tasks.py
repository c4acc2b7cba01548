import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db import OperationalError
from django.utils import timezone
from django.utils.module_loading import import_string

from capture.models import Activity

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
    for path in settings.ACTIVITY_HANDLERS:
        import_string(path)(activity)
    Activity.objects.filter(pk=activity_id, processed_at__isnull=True).update(
        processed_at=timezone.now()
    )


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
