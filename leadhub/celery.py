"""The Celery app, and every periodic task LeadHub runs (one place, each with its reason)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadhub.settings")

app = Celery("leadhub")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

app.conf.beat_schedule = {
    # The outbox sweep: an activity is committed with the submission, and its follow-up
    # task is queued on commit. If the broker was down at that moment, or a worker died
    # holding the task, the activity stays unprocessed; this re-queues it, so a broker
    # outage delays scoring and nurture but loses nothing.
    "capture.redispatch-unprocessed-activities": {
        "task": "capture.tasks.activities_redispatch_unprocessed",
        "schedule": 60.0,
    },
}
