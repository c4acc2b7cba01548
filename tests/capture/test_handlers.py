"""capture.handlers.form_submitted_follow_up, as activity_process runs it after a
submission: linking the visitor's earlier page views, queueing the emails; and all of it
once, however often the task runs."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from capture.handlers import form_submitted_follow_up
from capture.models import Activity, ActivityKind, Visitor, VisitorEvent
from capture.services.tracking import page_view_record, visitor_sign
from capture.tasks import activity_process
from tests.brokers import release_broker_pools
from tests.factories import (
    ActivityFactory,
    FormFactory,
    LeadFactory,
    TrackingSiteFactory,
    VisitorFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_broker_pool_left_behind():
    # This module's eager tasks open Celery's pool for the test broker; tests/capture/
    # test_outbox.py closes pools without unregistering them, which breaks later
    # publishes if one was left open (see tests.brokers.release_broker_pools).
    yield
    release_broker_pools()


@pytest.fixture(autouse=True)
def only_capture_handlers(settings):
    settings.ACTIVITY_HANDLERS = ["capture.handlers.form_submitted_follow_up"]


@pytest.fixture
def site():
    return TrackingSiteFactory()


def submit(client, form, body, callbacks):
    with callbacks(execute=True):
        response = client.post(f"/api/v1/forms/{form.key}/submissions/", json.dumps(body),
                               content_type="application/json")
    assert response.status_code == 201, response.content
    return response.json()


def browse(site, visitor: str, pages: list[tuple[str, timedelta]]) -> str:
    """Anonymous page views ``ago`` in the past; returns the (signed) visitor id."""
    now = timezone.now()
    for url, ago in pages:
        visitor = page_view_record(site=site, visitor=visitor, url=url, title=url,
                                   referrer="", now=now - ago).visitor
    return visitor


def test_a_submission_turns_the_visitors_page_views_into_activities(
    client, site, django_capture_on_commit_callbacks
):
    visitor = browse(site, "", [("https://www.example.com/", timedelta(days=2)),
                                ("https://www.example.com/pricing", timedelta(hours=3)),
                                ("https://www.example.com/pricing", timedelta(minutes=5))])
    times = list(VisitorEvent.objects.order_by("occurred_at").values_list("occurred_at",
                                                                          flat=True))

    answer = submit(client, FormFactory(), {"email": "ann@example.com", "_lh_vid": visitor},
                    django_capture_on_commit_callbacks)

    views = Activity.objects.filter(kind=ActivityKind.PAGE_VIEWED).order_by("occurred_at")
    assert [v.occurred_at for v in views] == times  # their original times
    assert [v.data["url"] for v in views] == ["https://www.example.com/",
                                              "https://www.example.com/pricing",
                                              "https://www.example.com/pricing"]
    assert all(v.lead_id == answer["lead"] for v in views)
    assert all(v.data["site"] == site.pk for v in views)
    # Recorded through activity_record: queued and processed (scored) like any other.
    assert all(v.processed_at is not None for v in views)
    assert not VisitorEvent.objects.exists()
    assert Visitor.objects.get().lead_id == answer["lead"]


def test_after_the_submission_the_visitors_page_views_go_straight_to_the_lead(
    client, site, django_capture_on_commit_callbacks
):
    visitor = browse(site, "", [("https://www.example.com/", timedelta(minutes=1))])
    answer = submit(client, FormFactory(), {"email": "ann@example.com", "_lh_vid": visitor},
                    django_capture_on_commit_callbacks)

    outcome = page_view_record(site=site, visitor=visitor, url="https://www.example.com/docs",
                               title="Docs", referrer="")

    assert outcome.event_id is None
    assert Activity.objects.get(pk=outcome.activity_id).lead_id == answer["lead"]


def test_running_the_follow_up_twice_links_the_page_views_once(
    client, site, django_capture_on_commit_callbacks
):
    visitor = browse(site, "", [("https://www.example.com/a", timedelta(minutes=3)),
                                ("https://www.example.com/b", timedelta(minutes=2))])
    submit(client, FormFactory(), {"email": "ann@example.com", "_lh_vid": visitor},
           django_capture_on_commit_callbacks)
    submitted = Activity.objects.get(kind=ActivityKind.FORM_SUBMITTED)

    form_submitted_follow_up(submitted)  # a redelivered task
    Activity.objects.filter(pk=submitted.pk).update(processed_at=None)
    activity_process(submitted.pk)  # and the sweep

    assert Activity.objects.filter(kind=ActivityKind.PAGE_VIEWED).count() == 2


def test_a_visitor_already_linked_to_another_lead_stays_with_it(
    client, site, django_capture_on_commit_callbacks
):
    first = LeadFactory(email="ann@example.com")
    shared = VisitorFactory(lead=first)  # a shared computer

    answer = submit(client, FormFactory(), {"email": "bob@example.com",
                                            "_lh_vid": visitor_sign(shared.pk)},
                    django_capture_on_commit_callbacks)

    shared.refresh_from_db()
    assert shared.lead == first
    assert answer["lead"] != first.pk


@pytest.mark.parametrize("how", ["the victim's bare id", "a forged signature"])
def test_an_unsigned_visitor_id_links_nothing(client, site, how,
                                              django_capture_on_commit_callbacks):
    browse(site, "", [("https://www.example.com/secret", timedelta(minutes=1))])
    victim_id = Visitor.objects.get().pk
    vid = str(victim_id) if how == "the victim's bare id" else f"{victim_id}:forged"

    submit(client, FormFactory(), {"email": "eve@example.com", "_lh_vid": vid},
           django_capture_on_commit_callbacks)

    assert VisitorEvent.objects.count() == 1  # the anonymous visitor keeps its page views
    assert Visitor.objects.get(pk=victim_id).lead is None
    assert not Activity.objects.filter(kind=ActivityKind.PAGE_VIEWED).exists()


def test_a_visitor_id_without_a_row_is_remembered_for_the_lead(
    client, django_capture_on_commit_callbacks
):
    import uuid

    vid = uuid.uuid4()
    answer = submit(client, FormFactory(), {"email": "ann@example.com",
                                            "_lh_vid": visitor_sign(vid)},
                    django_capture_on_commit_callbacks)

    assert Visitor.objects.get(pk=vid).lead_id == answer["lead"]


def test_other_activities_are_left_alone(smtp_server):
    form = FormFactory(notify_emails=["sales@example.com"], double_opt_in=True)
    activity = ActivityFactory(kind=ActivityKind.PAGE_VIEWED, data={"form": form.pk})

    form_submitted_follow_up(activity)

    assert smtp_server.messages == []


def test_the_whole_follow_up_of_one_submission(client, site, smtp_server,
                                               django_capture_on_commit_callbacks):
    visitor = browse(site, "", [("https://www.example.com/pricing", timedelta(minutes=10))])
    form = FormFactory(notify_emails=["sales@example.com"], double_opt_in=True)

    submit(client, form, {"email": "ann@example.com", "_lh_vid": visitor},
           django_capture_on_commit_callbacks)
    submitted = Activity.objects.get(kind=ActivityKind.FORM_SUBMITTED)
    Activity.objects.filter(pk=submitted.pk).update(processed_at=None)
    activity_process(submitted.pk)  # all of it again

    subjects = sorted(m["Subject"] for m in smtp_server.messages)
    assert subjects == ["New lead from " + form.name + ": ann@example.com",
                        "Please confirm your email address"]
    assert Activity.objects.filter(kind=ActivityKind.PAGE_VIEWED).count() == 1
    submitted.refresh_from_db()
    assert {k: v["outcome"] for k, v in submitted.data["followup"].items()} == {
        "notification": "sent", "confirmation": "sent"}
