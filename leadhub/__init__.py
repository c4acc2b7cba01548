# Load the Celery app with Django so @shared_task and transaction.on_commit(...delay)
# use LeadHub's configuration in every process (web, worker, beat, shell).
from leadhub.celery import app as celery_app

__all__ = ["celery_app"]
