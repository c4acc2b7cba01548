from datetime import timedelta

import pytest
from django.utils import timezone

from capture.models import Activity
from capture.tasks import activities_redispatch_unprocessed, activity_process
from tests.factories import ActivityFactory

pytestmark = pytest.mark.django_db

calls: list[int] = []


def record_call(activity):
    calls.append(activity.pk)


@pytest.fixture
def handler(settings):
    calls.clear()
    settings.ACTIVITY_HANDLERS = ["tests.capture.test_tasks.record_call"]
    return calls


def test_it_runs_the_handlers_then_marks_the_activity_processed(handler):
    activity = ActivityFactory()

    activity_process(activity.pk)

    activity.refresh_from_db()
    assert handler == [activity.pk]
    assert activity.processed_at is not None


def test_a_redelivered_task_does_nothing_the_second_time(handler):
    activity = ActivityFactory()

    activity_process(activity.pk)
    activity_process(activity.pk)

    assert handler == [activity.pk]


def test_it_returns_quietly_when_the_activity_is_gone(handler):
    activity = ActivityFactory()
    activity.lead.delete()

    activity_process(activity.pk)

    assert handler == []


def test_a_failing_handler_leaves_the_activity_for_the_sweep(settings):
    settings.ACTIVITY_HANDLERS = ["tests.capture.test_tasks.explode"]
    activity = ActivityFactory()

    with pytest.raises(RuntimeError):
        activity_process(activity.pk)

    activity.refresh_from_db()
    assert activity.processed_at is None


def explode(activity):
    raise RuntimeError("handler failed")


def test_the_sweep_requeues_only_old_unprocessed_activities(handler, settings):
    settings.ACTIVITY_REDISPATCH_AFTER_SECONDS = 120
    stuck = ActivityFactory()
    fresh = ActivityFactory()
    done = ActivityFactory(processed_at=timezone.now())
    # created_at is auto_now_add: age the rows by hand.
    Activity.objects.filter(pk__in=[stuck.pk, done.pk]).update(
        created_at=timezone.now() - timedelta(minutes=10)
    )

    requeued = activities_redispatch_unprocessed()

    assert requeued == 1
    assert handler == [stuck.pk]  # the eager task ran for the stuck one only
    stuck.refresh_from_db()
    fresh.refresh_from_db()
    assert stuck.processed_at is not None
    assert fresh.processed_at is None
