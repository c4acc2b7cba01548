"""Notification emails to a form's people on each submission, through a real SMTP
server (tests/conftest.py's smtp_server): content, escaping, header safety, and at most
one per submission whatever happens to the task."""

import json
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from capture.models import Activity, ActivityKind
from capture.services import notify
from capture.tasks import activity_process, submission_notify
from tests.brokers import release_broker_pools
from tests.factories import FormFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_broker_pool_left_behind():
    # This module's eager tasks open Celery's pool for the test broker; tests/capture/
    # test_outbox.py closes pools without unregistering them, which breaks later
    # publishes if one was left open (see tests.brokers.release_broker_pools).
    yield
    release_broker_pools()

HANDLERS = ["capture.handlers.form_submitted_follow_up"]


@pytest.fixture(autouse=True)
def only_capture_handlers(settings):
    settings.ACTIVITY_HANDLERS = HANDLERS
    settings.PUBLIC_URL = "https://leadhub.example.org"


@pytest.fixture
def form():
    return FormFactory(with_fields=True, name="Ebook",
                       notify_emails=["sales@example.com", "boss@example.com"])


def submit(client, form, body, django_capture_on_commit_callbacks, **meta):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/api/v1/forms/{form.key}/submissions/", json.dumps(body),
                               content_type="application/json", **meta)
    assert response.status_code == 201, response.content
    return response.json()


def body_of(message, subtype: str) -> str:
    return message.get_body(preferencelist=(subtype,)).get_content()


def test_it_emails_the_forms_people_about_a_submission(
    client, form, smtp_server, django_capture_on_commit_callbacks
):
    answer = submit(client, form, {"email": "ann@example.com", "first_name": "Ann",
                                   "company": "Acme", "topic": "a"},
                    django_capture_on_commit_callbacks)

    assert len(smtp_server.messages) == 1
    message = smtp_server.messages[0]
    assert smtp_server.envelopes[0][1] == ["sales@example.com", "boss@example.com"]
    assert message["Subject"] == "New lead from Ebook: ann@example.com"
    assert message["Reply-To"] == "ann@example.com"
    assert message["Message-ID"].startswith("<leadhub.notification.")
    text = body_of(message, "plain")
    assert "First name: Ann" in text
    assert "Company: Acme" in text
    assert f"https://leadhub.example.org/leads/{answer['lead']}/" in text
    html = body_of(message, "html")
    assert f'href="https://leadhub.example.org/leads/{answer["lead"]}/"' in html
    activity = Activity.objects.get(kind=ActivityKind.FORM_SUBMITTED)
    assert activity.data["followup"]["notification"]["outcome"] == "sent"
    assert activity.processed_at is not None


def test_it_escapes_what_the_visitor_typed_in_the_html_part(
    client, form, smtp_server, django_capture_on_commit_callbacks
):
    submit(client, form, {"email": "ann@example.com",
                          "first_name": '<script>alert("x")</script>',
                          "company": "<b>Acme</b> & Sons"},
           django_capture_on_commit_callbacks)

    html = body_of(smtp_server.messages[0], "html")
    assert "<script>" not in html and "<b>Acme</b>" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert "&lt;b&gt;Acme&lt;/b&gt; &amp; Sons" in html
    # The plain-text part is not HTML: it shows the text as typed, not entities.
    text = body_of(smtp_server.messages[0], "plain")
    assert "Company: <b>Acme</b> & Sons" in text


def test_a_second_run_of_the_task_sends_no_second_notification(
    client, form, smtp_server, django_capture_on_commit_callbacks
):
    submit(client, form, {"email": "ann@example.com"}, django_capture_on_commit_callbacks)
    activity = Activity.objects.get(kind=ActivityKind.FORM_SUBMITTED)

    submission_notify(activity.pk)  # a redelivered email task
    Activity.objects.filter(pk=activity.pk).update(processed_at=None)
    activity_process(activity.pk)  # the outbox sweep running the whole follow-up again

    assert len(smtp_server.messages) == 1


def test_it_sends_nothing_for_a_form_without_people_to_notify(
    client, smtp_server, django_capture_on_commit_callbacks
):
    form = FormFactory(notify_emails=[])

    submit(client, form, {"email": "ann@example.com"}, django_capture_on_commit_callbacks)

    assert smtp_server.messages == []


def test_spam_notifies_nobody(client, form, smtp_server, django_capture_on_commit_callbacks):
    submit(client, form, {"email": "bot@example.com", "lh_url": "http://spam.example"},
           django_capture_on_commit_callbacks)

    assert smtp_server.messages == []


def test_headers_cannot_be_injected_through_the_form_name_or_a_notify_address(
    client, smtp_server, django_capture_on_commit_callbacks
):
    form = FormFactory(name="Ebook\r\nBcc: victim@example.net",
                       notify_emails=["sales@example.com\r\nBcc: victim@example.net",
                                      "ops@example.com"])

    submit(client, form, {"email": "ann@example.com"}, django_capture_on_commit_callbacks)

    message = smtp_server.messages[0]
    assert message["Bcc"] is None
    assert "\n" not in message["Subject"] and "\r" not in message["Subject"]
    assert message["Subject"] == "New lead from Ebook Bcc: victim@example.net: ann@example.com"
    # The address with a header tucked into it is not an address: only the good one.
    assert smtp_server.envelopes[0][1] == ["ops@example.com"]


def test_a_temporary_smtp_failure_raises_and_records_nothing(
    client, form, smtp_server, django_capture_on_commit_callbacks, settings
):
    settings.ACTIVITY_HANDLERS = []  # store the submission without following it up
    submit(client, form, {"email": "ann@example.com"}, django_capture_on_commit_callbacks)
    activity = Activity.objects.get(kind=ActivityKind.FORM_SUBMITTED)

    async def busy(server, session, envelope):
        return "451 4.3.0 Try again later"

    smtp_server.handle_DATA = busy
    with pytest.raises(notify.MailDeferred):
        notify.submission_notification_send(activity_id=activity.pk)
    activity.refresh_from_db()
    assert activity.data["followup"] == {}  # not "sent" before the server took it

    del smtp_server.handle_DATA  # the server recovers; the task's retry sends it
    notify.submission_notification_send(activity_id=activity.pk)
    assert len(smtp_server.messages) == 1
    activity.refresh_from_db()
    assert activity.data["followup"]["notification"]["outcome"] == "sent"


def test_an_unreachable_server_is_a_temporary_failure(client, form, settings,
                                                      django_capture_on_commit_callbacks):
    settings.ACTIVITY_HANDLERS = []
    submit(client, form, {"email": "ann@example.com"}, django_capture_on_commit_callbacks)
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", _closed_port()
    activity = Activity.objects.get(kind=ActivityKind.FORM_SUBMITTED)

    with pytest.raises(notify.MailDeferred):
        notify.submission_notification_send(activity_id=activity.pk)

    assert notify.MailDeferred in submission_notify.autoretry_for  # so the task retries


def test_a_permanent_refusal_is_recorded_and_not_retried(
    client, form, smtp_server, django_capture_on_commit_callbacks, settings
):
    settings.ACTIVITY_HANDLERS = []
    submit(client, form, {"email": "ann@example.com"}, django_capture_on_commit_callbacks)
    activity = Activity.objects.get(kind=ActivityKind.FORM_SUBMITTED)

    async def no_such_user(server, session, envelope, address, options):
        return "550 5.1.1 No such user"

    smtp_server.handle_RCPT = no_such_user
    outcome = notify.submission_notification_send(activity_id=activity.pk)

    assert outcome["outcome"] == "refused"
    assert "550" in outcome["reason"]
    del smtp_server.handle_RCPT
    notify.submission_notification_send(activity_id=activity.pk)
    assert smtp_server.messages == []


def test_it_returns_quietly_when_the_activity_is_gone(smtp_server):
    # Deleted with its lead between the queueing and the run.
    assert submission_notify(987654) is None
    assert smtp_server.messages == []


def test_header_safe_removes_every_line_break_and_control_character():
    assert notify.header_safe("a\r\nb\nc\rd\x00e\x1bf\u2028g\x85h") == "a b c d e f g h"
    assert notify.header_safe("x" * 500) == "x" * 200


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- Claims: one run sends, others wait; no lock is held while talking to the server ------


def _stored_submission(client, form, callbacks, settings):
    settings.ACTIVITY_HANDLERS = []  # store it; the tests run the email task by hand
    submit(client, form, {"email": "ann@example.com"}, callbacks)
    return Activity.objects.get(kind=ActivityKind.FORM_SUBMITTED)


def test_a_run_finding_another_sending_retries_later_instead_of_sending(
    client, form, smtp_server, django_capture_on_commit_callbacks, settings
):
    activity = _stored_submission(client, form, django_capture_on_commit_callbacks, settings)
    Activity.objects.filter(pk=activity.pk).update(data={**activity.data, "followup": {
        "notification": {"outcome": "sending", "at": timezone.now().isoformat()}}})

    with pytest.raises(notify.MailBusy):
        notify.submission_notification_send(activity_id=activity.pk)

    assert smtp_server.messages == []
    assert notify.MailBusy in submission_notify.autoretry_for


def test_a_claim_left_by_a_run_that_died_is_taken_over(
    client, form, smtp_server, django_capture_on_commit_callbacks, settings
):
    activity = _stored_submission(client, form, django_capture_on_commit_callbacks, settings)
    died_at = timezone.now() - notify.CLAIM_LEASE - timedelta(seconds=1)
    Activity.objects.filter(pk=activity.pk).update(data={**activity.data, "followup": {
        "notification": {"outcome": "sending", "at": died_at.isoformat()}}})

    outcome = notify.submission_notification_send(activity_id=activity.pk)

    assert outcome["outcome"] == "sent"
    assert len(smtp_server.messages) == 1


def test_no_transaction_is_open_while_the_server_is_talked_to(
    client, form, smtp_server, django_capture_on_commit_callbacks, settings, monkeypatch
):
    # A slow mail server must not hold the activity's or the lead's row lock (a
    # submission for the same lead would wait for it).
    activity = _stored_submission(client, form, django_capture_on_commit_callbacks, settings)
    depth_outside = len(connection.atomic_blocks)
    depths = []
    real_deliver = notify.deliver

    def deliver(message):
        depths.append(len(connection.atomic_blocks))
        real_deliver(message)

    monkeypatch.setattr(notify, "deliver", deliver)
    notify.submission_notification_send(activity_id=activity.pk)

    assert depths == [depth_outside]
    assert len(smtp_server.messages) == 1
