import logging

from celery import shared_task
from django.db import OperationalError

from nurture.services import dispatch_run
from nurture.services.segments import segments_evaluate

logger = logging.getLogger(__name__)


# Scheduled every few seconds (leadhub/celery.py). Runs batches until nothing is due or
# NURTURE_DISPATCH_SECONDS passed; several runs at once share the work (SKIP LOCKED).
# SMTP failures are retried per message from the database (nurture.services.dispatch),
# not by re-running the task; a lost database connection retries the task. Idempotent:
# a redelivered run (acks_late) finds its steps claimed or its messages leased.
@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, retry_backoff_max=60,
             max_retries=5, acks_late=True, soft_time_limit=240, time_limit=300)
def nurture_dispatch() -> int:
    result = dispatch_run()
    if result.sent or result.failed or result.deferred:
        logger.info("Nurture: %d sent, %d deferred, %d failed, %d cancelled", result.sent,
                    result.deferred, result.failed, result.cancelled)
    return result.sent


# Scheduled every minute (leadhub/celery.py): enrolls the leads that came to match a
# watched segment (nurture.services.segments). Idempotent and safe to overlap: what a
# watch has seen is recorded with the enrollments, in one transaction per chunk.
@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, retry_backoff_max=60,
             max_retries=3, acks_late=True, soft_time_limit=240, time_limit=300)
def segments_enroll() -> int:
    return segments_evaluate()
