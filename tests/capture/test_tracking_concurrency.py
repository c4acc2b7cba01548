"""Races, on Postgres with real concurrent connections: page views arriving while the
visitor is being linked to a lead, and two runs of an email task at once."""

import threading
from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone

from capture.models import Activity, ActivityKind, Visitor, VisitorEvent
from capture.services import notify
from capture.services.tracking import page_view_record, visitor_link
from tests.factories import ActivityFactory, FormFactory, LeadFactory, TrackingSiteFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def run_together(*jobs):
    """Start the jobs at the same moment, each in its own thread (and connection)."""
    start = threading.Barrier(len(jobs))
    errors = []

    def run(job):
        try:
            start.wait()
            job()
        except Exception as exc:  # reported by the caller
            errors.append(exc)
        finally:
            connections.close_all()  # this thread's connection

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return errors


def test_no_page_view_is_stranded_by_a_visitor_being_linked_meanwhile(settings):
    settings.ACTIVITY_HANDLERS = []
    site = TrackingSiteFactory()
    signed = ""
    for n in range(20):
        signed = page_view_record(site=site, visitor=signed, url=f"https://www.example.com/{n}",
                                  title="", referrer="",
                                  now=timezone.now() - timedelta(minutes=30 - n)).visitor
    lead = LeadFactory()

    def browse():
        for n in range(10):
            page_view_record(site=site, visitor=signed, url=f"https://www.example.com/x{n}",
                             title="", referrer="")

    errors = run_together(lambda: visitor_link(visitor=signed, lead=lead), browse, browse)

    assert errors == []
    # Every view is either on the lead or (none) still waiting: none left behind.
    assert VisitorEvent.objects.count() == 0
    assert Activity.objects.filter(lead=lead, kind=ActivityKind.PAGE_VIEWED).count() == 40
    assert Visitor.objects.get().lead == lead


def test_two_runs_of_the_notification_task_at_once_send_one_email(smtp_server):
    form = FormFactory(notify_emails=["sales@example.com"])
    activity = ActivityFactory(kind=ActivityKind.FORM_SUBMITTED,
                               data={"form": form.pk, "fields": {"email": "ann@example.com"}})

    outcomes = []
    errors = run_together(
        *[lambda: outcomes.append(notify.submission_notification_send(activity_id=activity.pk))
          for _ in range(4)]
    )

    assert len(smtp_server.messages) == 1
    # The others found it sent, or found a run sending it (and would retry later).
    assert all(isinstance(e, notify.MailBusy) for e in errors)
    assert all(o["outcome"] == "sent" for o in outcomes)
    activity.refresh_from_db()
    assert activity.data["followup"]["notification"]["outcome"] == "sent"
