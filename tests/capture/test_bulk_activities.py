"""capture.services.activities_record_bulk: many activities in one INSERT, the leads'
last_activity_at moved forward in one UPDATE, and ONE follow-up task for the group that
runs the handlers once per activity; unprocessed rows stay for the outbox sweep."""

from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone

from capture.models import Activity
from capture.services import activities_record_bulk
from capture.tasks import activities_process, activities_redispatch_unprocessed
from tests.factories import LeadFactory

pytestmark = pytest.mark.django_db

calls: list[int] = []


def record_call(activity):
    calls.append(activity.pk)


def explode_on_second(activity):
    if activity.data.get("n") == 2:
        raise RuntimeError("handler failed")
    calls.append(activity.pk)


@pytest.fixture
def handler(settings):
    calls.clear()
    settings.ACTIVITY_HANDLERS = ["tests.capture.test_bulk_activities.record_call"]
    return calls


def test_it_writes_the_rows_in_order_and_returns_them(handler):
    ann, bob = LeadFactory(), LeadFactory()
    when = timezone.now()

    activities = activities_record_bulk([
        {"lead": ann, "kind": "email_sent", "occurred_at": when, "data": {"n": 1}},
        {"lead_id": bob.pk, "kind": "email_sent", "occurred_at": when, "data": {"n": 2}},
    ])

    assert [a.pk for a in activities] == sorted(a.pk for a in activities)
    rows = list(Activity.objects.filter(kind="email_sent").order_by("pk"))
    assert [(r.lead_id, r.data, r.occurred_at) for r in rows] == [
        (ann.pk, {"n": 1}, when), (bob.pk, {"n": 2}, when)]


def test_nothing_to_record_writes_and_queues_nothing(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        assert activities_record_bulk([]) == []
    assert callbacks == []


def test_last_activity_at_moves_forward_never_back(handler):
    now = timezone.now()
    old = LeadFactory(last_activity_at=now - timedelta(days=2))
    recent = LeadFactory(last_activity_at=now)

    activities_record_bulk([
        {"lead": old, "kind": "email_sent", "occurred_at": now - timedelta(days=1)},
        {"lead": old, "kind": "email_sent", "occurred_at": now - timedelta(hours=1)},
        {"lead": recent, "kind": "email_sent", "occurred_at": now - timedelta(days=1)},
    ])

    old.refresh_from_db()
    recent.refresh_from_db()
    assert old.last_activity_at == now - timedelta(hours=1)  # the latest of its two
    assert recent.last_activity_at == now  # an older activity does not move it back


def test_one_task_is_queued_on_commit_for_the_whole_group(
        handler, django_capture_on_commit_callbacks):
    leads = LeadFactory.create_batch(3)
    with (mock.patch.object(activities_process, "delay") as delay,
          django_capture_on_commit_callbacks(execute=True) as callbacks):
        activities = activities_record_bulk(
            [{"lead": lead, "kind": "email_sent"} for lead in leads])
    assert len(callbacks) == 1
    delay.assert_called_once_with([a.pk for a in activities])


def test_the_task_runs_the_handlers_once_per_activity_and_marks_them_processed(
        handler, django_capture_on_commit_callbacks):
    lead = LeadFactory()
    with django_capture_on_commit_callbacks(execute=True):  # eager in the tests
        activities = activities_record_bulk(
            [{"lead": lead, "kind": "email_sent", "data": {"n": n}} for n in range(3)])

    assert calls == [a.pk for a in activities]
    assert not Activity.objects.filter(kind="email_sent", processed_at__isnull=True).exists()

    activities_process([a.pk for a in activities])  # redelivered: nothing runs twice
    assert calls == [a.pk for a in activities]


def test_a_failing_handler_leaves_only_that_activity_for_the_sweep(settings):
    calls.clear()
    settings.ACTIVITY_HANDLERS = ["tests.capture.test_bulk_activities.explode_on_second"]
    lead = LeadFactory()
    activities = activities_record_bulk(
        [{"lead": lead, "kind": "email_sent", "data": {"n": n}} for n in (1, 2, 3)])

    activities_process([a.pk for a in activities])

    first, second, third = activities
    assert calls == [first.pk, third.pk]
    unprocessed = Activity.objects.filter(kind="email_sent", processed_at__isnull=True)
    assert list(unprocessed.values_list("pk", flat=True)) == [second.pk]


def test_the_outbox_sweep_picks_up_a_group_whose_task_never_ran(handler, settings):
    settings.ACTIVITY_REDISPATCH_AFTER_SECONDS = 120
    leads = LeadFactory.create_batch(2)
    with mock.patch.object(activities_process, "delay"):  # the broker lost the task
        activities = activities_record_bulk(
            [{"lead": lead, "kind": "email_sent"} for lead in leads])
    assert calls == []
    Activity.objects.filter(pk__in=[a.pk for a in activities]).update(
        created_at=timezone.now() - timedelta(minutes=10))

    assert activities_redispatch_unprocessed() == 2

    assert sorted(calls) == sorted(a.pk for a in activities)
    assert not Activity.objects.filter(kind="email_sent", processed_at__isnull=True).exists()
