"""The invariant "a 2xx means stored": with the broker down, writes still commit, and
the outbox sweep processes what was left behind once the broker is back."""

import socket
from datetime import timedelta

import pytest
from django.utils import timezone

from capture.models import Activity
from capture.services import lead_create
from capture.tasks import activities_redispatch_unprocessed
from leadhub.celery import app as celery_app
from tests.brokers import release_broker_pools

pytestmark = pytest.mark.django_db


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once the socket closes


@pytest.fixture
def broker_down():
    """Celery publishing for real (not eager) to a Redis address where nothing listens."""
    saved = {
        k: celery_app.conf[k]
        for k in (
            "task_always_eager",
            "broker_url",
            "broker_connection_timeout",
            "task_publish_retry_policy",
        )
    }
    celery_app.conf.update(
        task_always_eager=False,
        broker_url=f"redis://127.0.0.1:{_closed_port()}/0",
        broker_connection_timeout=0.5,
        task_publish_retry_policy={
            "max_retries": 1,
            "interval_start": 0,
            "interval_step": 0.1,
            "interval_max": 0.1,
        },
    )
    release_broker_pools()
    yield
    celery_app.conf.update(saved)
    release_broker_pools()




def test_a_write_commits_even_when_the_broker_is_down(
    broker_down, django_capture_on_commit_callbacks, caplog
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        lead = lead_create(email="ann@example.com")

    assert len(callbacks) == 1  # the queueing was attempted, failed, and was logged
    assert "Error calling" in caplog.text
    activity = Activity.objects.get(lead=lead)
    assert activity.processed_at is None


def test_the_sweep_processes_what_the_outage_left_behind(
    broker_down, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        lead = lead_create(email="ann@example.com")
    Activity.objects.filter(lead=lead).update(created_at=timezone.now() - timedelta(minutes=5))

    # The broker is back (eager mode stands in for a running worker here).
    celery_app.conf.task_always_eager = True
    assert activities_redispatch_unprocessed() == 1

    assert Activity.objects.get(lead=lead).processed_at is not None
