"""The dispatcher, sending through a real SMTP server (aiosmtpd): what arrives, at most
one email per step whatever happens to the worker, SMTP failures, and everything that
must stop a message."""

import re
import signal
import threading
from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
from django.db import connection
from django.utils import timezone

from capture.models import Activity, Lead, Stage
from capture.services import activity_record
from nurture.handlers import activity_enroll_and_exit
from nurture.models import (
    EmailMessage,
    Enrollment,
    EnrollmentState,
    MessageStatus,
    SendingSettings,
    Suppression,
)
from nurture.services import dispatch as dispatch_module
from nurture.services import enrollment_exit, lead_unsubscribe, suppression_add
from nurture.services.rendering import click_token_read
from tests.factories import FormFactory, LeadFactory, SubmissionFactory
from tests.nurture.conftest import STEP, dispatch, end_leases, enroll, make_sequence

pytestmark = pytest.mark.django_db


def html_of(message) -> str:
    return message.get_body(preferencelist=("html",)).get_content()


def text_of(message) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def test_it_sends_a_due_step_with_merge_fields_headers_tracking_and_footer(smtp):
    SendingSettings.objects.create(pk=1, from_name="Acme Team", from_email="news@acme.test",
                                   reply_to="hello@acme.test",
                                   postal_address="Acme Ltd\n1 Main Street, Springfield")
    lead = LeadFactory(email="ann@example.com", first_name="Ann", company="Initech & Co")
    sequence = make_sequence()
    enroll(sequence, lead)

    result = dispatch()

    assert result.sent == 1
    [message] = smtp.messages
    assert message["Subject"] == "Hi Ann"
    assert message["To"] == "ann@example.com"
    assert message["From"] == "Acme Team <news@acme.test>"
    assert message["Reply-To"] == "hello@acme.test"
    sent = EmailMessage.objects.get()
    assert sent.status == MessageStatus.SENT and sent.sent_at is not None
    assert message["Message-ID"] == sent.message_id
    unsubscribe = "".join(str(message["List-Unsubscribe"]).split())
    assert unsubscribe.startswith("<https://leadhub.example.org/e/u/")
    assert unsubscribe.endswith("/>")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    html, text = html_of(message), text_of(message)
    assert "Hello Ann at Initech &amp; Co." in html
    assert "Hello Ann at Initech & Co." in text
    assert "https://leadhub.example.org/e/c/" in html  # the link is tracked
    assert "https://www.example.com/guide" not in html  # only through the redirect
    assert "https://leadhub.example.org/e/o/" in html  # the open pixel
    assert "1 Main Street, Springfield" in html and "1 Main Street, Springfield" in text
    assert "https://leadhub.example.org/e/u/" in text
    activity = Activity.objects.get(lead=lead, kind="email_sent")
    assert activity.data == {"sequence": sequence.pk, "step": sent.step_id,
                             "message": sent.pk, "subject": "Hi Ann"}


def test_merge_fields_fall_back_to_their_default(smtp):
    lead = LeadFactory(first_name="", company="")
    enroll(make_sequence(), lead)
    dispatch()
    [message] = smtp.messages
    assert message["Subject"] == "Hi there"
    assert "Hello there at ." in text_of(message)


def test_tracking_can_be_switched_off_per_sequence(smtp):
    enroll(make_sequence(tracking=False), LeadFactory())
    dispatch()
    html = html_of(smtp.messages[0])
    assert "/e/o/" not in html and "/e/c/" not in html
    assert 'href="https://www.example.com/guide?a=1&amp;b=2"' in html


def test_a_step_is_sent_once_when_the_dispatcher_runs_twice(smtp):
    lead = LeadFactory()
    enroll(make_sequence(), lead)
    dispatch()
    dispatch()
    dispatch(now=timezone.now() + timedelta(hours=1))
    assert len(smtp.messages) == 1
    assert EmailMessage.objects.count() == 1


def test_later_steps_wait_for_their_delay_then_the_enrollment_completes(smtp):
    lead = LeadFactory()
    start = timezone.now()
    sequence = make_sequence(steps=[dict(STEP), {**STEP, "subject": "Second",
                                                 "delay_minutes": 60}])
    enrollment = enroll(sequence, lead, now=start)
    dispatch(now=start)
    dispatch(now=start + timedelta(minutes=59))
    assert len(smtp.messages) == 1
    dispatch(now=start + timedelta(minutes=61))
    assert [m["Subject"] for m in smtp.messages] == [f"Hi {lead.first_name}", "Second"]
    enrollment.refresh_from_db()
    assert enrollment.state == EnrollmentState.COMPLETED and enrollment.finished_at


def test_a_send_window_pushes_the_due_time_to_the_window(smtp, settings):
    settings.TIME_ZONE = "UTC"
    lead = LeadFactory()
    monday_night = datetime(2030, 1, 7, 22, 0, tzinfo=UTC)
    sequence = make_sequence(steps=[{**STEP, "send_days": [1], "send_hour_start": 9,
                                     "send_hour_end": 17}])
    enrollment = enroll(sequence, lead, now=monday_night)
    assert enrollment.next_due_at == datetime(2030, 1, 8, 9, 0, tzinfo=UTC)
    dispatch(now=monday_night + timedelta(hours=1))
    assert smtp.messages == []
    dispatch(now=datetime(2030, 1, 8, 9, 1, tzinfo=UTC))
    assert len(smtp.messages) == 1


def test_a_worker_killed_before_its_claim_commits_leaves_nothing_and_the_rerun_sends_once(
    smtp, monkeypatch
):
    leads = LeadFactory.create_batch(3)
    sequence = make_sequence()
    for lead in leads:
        enroll(sequence, lead)

    real = dispatch_module._save_enrollments

    def die(*args, **kwargs):  # after the EmailMessage insert, before the commit
        assert EmailMessage.objects.count() == 3
        raise SystemExit("worker killed")

    monkeypatch.setattr(dispatch_module, "_save_enrollments", die)
    with pytest.raises(SystemExit):
        dispatch()
    assert EmailMessage.objects.count() == 0 and smtp.messages == []

    monkeypatch.setattr(dispatch_module, "_save_enrollments", real)
    dispatch()
    dispatch()
    assert sorted(m["To"] for m in smtp.messages) == sorted(lead.email for lead in leads)


def test_a_worker_killed_after_its_claim_is_taken_over_once_the_lease_ends(smtp, monkeypatch):
    leads = LeadFactory.create_batch(3)
    sequence = make_sequence()
    for lead in leads:
        enroll(sequence, lead)
    now = timezone.now()
    with (mock.patch.object(dispatch_module, "send_messages", side_effect=SystemExit),
          pytest.raises(SystemExit)):
        dispatch(now=now)
    assert EmailMessage.objects.filter(status=MessageStatus.QUEUED).count() == 3

    dispatch(now=now + timedelta(minutes=1))  # still leased to the dead run
    assert smtp.messages == []
    end_leases()
    dispatch(now=now + timedelta(minutes=2))
    dispatch(now=now + timedelta(minutes=3))
    assert sorted(m["To"] for m in smtp.messages) == sorted(lead.email for lead in leads)
    assert set(EmailMessage.objects.values_list("status", flat=True)) == {MessageStatus.SENT}


def test_claimed_messages_are_leased_on_the_databases_clock(smtp):
    enroll(make_sequence(), LeadFactory())
    later = timezone.now() + timedelta(days=3)  # the dispatcher's clock, not the lease's
    with (mock.patch.object(dispatch_module, "send_messages", side_effect=SystemExit),
          pytest.raises(SystemExit)):
        dispatch(now=later)
    message = EmailMessage.objects.get()
    expected = timezone.now() + dispatch_module.LEASE  # the database here runs on this clock
    assert abs(message.leased_until - expected) < timedelta(seconds=30)
    assert message.next_attempt_at == later


def test_a_host_whose_clock_runs_ahead_does_not_take_over_leased_messages(smtp):
    lead = LeadFactory()
    enroll(make_sequence(), lead)
    now = timezone.now()
    with (mock.patch.object(dispatch_module, "send_messages", side_effect=SystemExit),
          pytest.raises(SystemExit)):
        dispatch(now=now)  # claimed and leased, then the worker is still sending (or dead)

    # Another host, its clock an hour fast: by its clock the lease ran out long ago, by
    # the database's it did not.
    dispatch(now=now + timedelta(hours=1))
    assert smtp.messages == []
    message = EmailMessage.objects.get()
    assert message.status == MessageStatus.QUEUED and message.leased_until is not None
    end_leases()
    dispatch(now=now + timedelta(hours=1))
    assert len(smtp.messages) == 1


def test_a_temporary_refusal_is_retried_with_backoff_then_sent_once(smtp):
    lead = LeadFactory(email="busy@example.com")
    enroll(make_sequence(), lead)
    smtp.defer("busy@example.com", times=2)
    now = timezone.now()

    assert dispatch(now=now).deferred == 1
    message = EmailMessage.objects.get()
    assert message.status == MessageStatus.QUEUED and message.attempts == 1
    assert "451" in message.error
    assert message.next_attempt_at > now + timedelta(seconds=30)

    assert dispatch(now=message.next_attempt_at).deferred == 1
    message.refresh_from_db()
    assert dispatch(now=message.next_attempt_at).sent == 1
    dispatch(now=message.next_attempt_at + timedelta(hours=3))
    assert len(smtp.to("busy@example.com")) == 1
    message.refresh_from_db()
    assert message.status == MessageStatus.SENT and message.attempts == 3


def test_temporary_failures_end_visibly_failed_after_the_last_attempt(smtp):
    enroll(make_sequence(), LeadFactory(email="never@example.com"))
    smtp.defer("never@example.com", times=100)
    now = timezone.now()
    for _ in range(dispatch_module.MAX_ATTEMPTS):
        dispatch(now=now)
        now += dispatch_module.RETRY_MAX * 2
    message = EmailMessage.objects.get()
    assert message.status == MessageStatus.FAILED
    assert "gave up after" in message.error
    assert smtp.messages == []


def test_a_permanent_refusal_fails_the_message_and_suppresses_the_address(smtp):
    bad = LeadFactory(email="Gone@Example.com")
    good = LeadFactory(email="here@example.com")
    sequence = make_sequence(steps=[dict(STEP), {**STEP, "delay_minutes": 1}])
    enroll(sequence, bad)
    enroll(sequence, good)
    smtp.refuse("Gone@Example.com")

    result = dispatch()

    assert (result.sent, result.failed) == (1, 1)
    failed = EmailMessage.objects.get(lead=bad)
    assert failed.status == MessageStatus.FAILED and "550" in failed.error
    assert Suppression.objects.get().email == "gone@example.com"
    assert Suppression.objects.get().reason == "hard_bounce"
    assert Enrollment.objects.get(lead=bad).state == EnrollmentState.EXITED
    dispatch(now=timezone.now() + timedelta(minutes=5))
    assert len(smtp.to("here@example.com")) == 2
    assert EmailMessage.objects.filter(lead=bad).count() == 1


def test_an_unsubscribe_committed_before_dispatch_stops_the_message(smtp):
    lead = LeadFactory()
    enrollment = enroll(make_sequence(), lead)
    lead_unsubscribe(lead=lead, how="page")
    dispatch()
    assert smtp.messages == []
    enrollment.refresh_from_db()
    assert enrollment.state == EnrollmentState.EXITED
    assert enrollment.exit_reason == "unsubscribed"


def test_an_unsubscribe_between_claim_and_send_cancels_the_message(smtp):
    lead = LeadFactory()
    enroll(make_sequence(), lead)
    real = dispatch_module.send_messages

    def unsubscribe_then_send(ids, result, **kwargs):
        Lead.objects.filter(pk=lead.pk).update(unsubscribed_at=timezone.now())
        real(ids, result, **kwargs)

    with mock.patch.object(dispatch_module, "send_messages", unsubscribe_then_send):
        result = dispatch()
    assert result.cancelled == 1 and smtp.messages == []
    assert EmailMessage.objects.get().status == MessageStatus.CANCELLED


def test_a_suppressed_address_is_never_mailed(smtp):
    lead = LeadFactory(email="blocked@example.com")
    enrollment = enroll(make_sequence(), lead)
    Suppression.objects.create(email="blocked@example.com", reason="complaint")
    dispatch()
    assert smtp.messages == []
    enrollment.refresh_from_db()
    assert enrollment.state == EnrollmentState.EXITED


def test_reaching_sql_stops_future_steps(smtp):
    lead = LeadFactory()
    sequence = make_sequence(steps=[dict(STEP), {**STEP, "delay_minutes": 10}])
    enrollment = enroll(sequence, lead)
    dispatch()
    assert len(smtp.messages) == 1

    Lead.objects.filter(pk=lead.pk).update(stage=Stage.SQL)
    activity = activity_record(lead=lead, kind="stage_changed",
                               data={"from": "mql", "to": "sql", "by": "sam"})
    activity_enroll_and_exit(activity)

    enrollment.refresh_from_db()
    assert enrollment.state == EnrollmentState.EXITED and enrollment.next_due_at is None
    dispatch(now=timezone.now() + timedelta(hours=1))
    assert len(smtp.messages) == 1
    assert Activity.objects.filter(lead=lead, kind="sequence_exited").exists()


def test_the_dispatcher_itself_exits_a_lead_past_the_exit_stage(smtp):
    lead = LeadFactory()
    enrollment = enroll(make_sequence(), lead)
    Lead.objects.filter(pk=lead.pk).update(stage=Stage.OPPORTUNITY)
    dispatch()
    assert smtp.messages == []
    enrollment.refresh_from_db()
    assert enrollment.state == EnrollmentState.EXITED


def test_line_breaks_in_names_and_subjects_cannot_inject_headers(smtp):
    SendingSettings.objects.create(pk=1, from_name="Acme\r\nBcc: spy@evil.test",
                                   from_email="news@acme.test")
    lead = LeadFactory(email="ann@example.com", first_name="Ann\r\nBcc: spy@evil.test")
    enroll(make_sequence(), lead)
    result = dispatch()
    assert result.sent == 1
    [message] = smtp.messages
    assert message["Bcc"] is None
    assert smtp.envelopes[0][1] == ["ann@example.com"]
    assert "\n" not in message["Subject"] and "\n" not in message["From"]
    assert message["Subject"] == "Hi Ann Bcc: spy@evil.test"


def test_a_lead_awaiting_double_opt_in_is_enrolled_but_not_mailed_until_confirmed(smtp):
    form = FormFactory(double_opt_in=True)
    lead = LeadFactory()
    SubmissionFactory(form=form, lead=lead)
    activity_record(lead=lead, kind="form_submitted", data={"form": form.pk})
    enrollment = enroll(make_sequence(), lead)

    assert dispatch().held == 1
    assert smtp.messages == []
    enrollment.refresh_from_db()
    assert enrollment.held_for_optin and enrollment.next_due_at > timezone.now()

    Lead.objects.filter(pk=lead.pk).update(confirmed_at=timezone.now())
    activity_enroll_and_exit(activity_record(lead=lead, kind="confirmed",
                                             data={"form": form.pk}))
    assert dispatch().sent == 1
    assert len(smtp.messages) == 1


def test_per_domain_hourly_limits_hold_the_rest(smtp, settings):
    settings.NURTURE_DOMAIN_HOURLY_LIMIT = 2
    sequence = make_sequence()
    for n in range(3):
        enroll(sequence, LeadFactory(email=f"p{n}@bigmail.test"))
    enroll(sequence, LeadFactory(email="x@other.test"))
    result = dispatch()
    assert result.sent == 3 and result.held == 1
    assert len([m for m in smtp.messages if m["To"].endswith("@bigmail.test")]) == 2


def test_a_domain_can_have_its_own_hourly_limit(smtp, settings):
    settings.NURTURE_DOMAIN_HOURLY_LIMIT = 1
    settings.NURTURE_DOMAIN_HOURLY_LIMITS = {"bigmail.test": 3, "unlimited.test": 0}
    sequence = make_sequence()
    for domain, count in (("bigmail.test", 4), ("unlimited.test", 3), ("other.test", 2)):
        for n in range(count):
            enroll(sequence, LeadFactory(email=f"p{n}@{domain}"))

    result = dispatch()

    sent = [m["To"].rpartition("@")[2] for m in smtp.messages]
    assert (sent.count("bigmail.test"), sent.count("unlimited.test"),
            sent.count("other.test")) == (3, 3, 1)
    assert (result.sent, result.held) == (7, 2)


def test_a_paused_sequence_sends_nothing_until_resumed(smtp):
    sequence = make_sequence()
    enroll(sequence, LeadFactory())
    sequence.status = "paused"
    sequence.save()
    dispatch()
    assert smtp.messages == []
    sequence.status = "active"
    sequence.save()
    dispatch()
    assert len(smtp.messages) == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_dispatchers_send_each_step_once(smtp, settings):
    settings.ACTIVITY_HANDLERS = []
    sequence = make_sequence(steps=[dict(STEP), {**STEP, "subject": "Two"}])
    leads = LeadFactory.create_batch(60)
    for lead in leads:
        enroll(sequence, lead)
    barrier = threading.Barrier(2)
    errors = []

    def worker():
        try:
            barrier.wait()
            for _ in range(6):
                dispatch(batch=10)
        except Exception as exc:  # reported below, in the test's thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    dispatch()
    dispatch()
    received = [(m["To"], m["Subject"]) for m in smtp.messages]
    assert len(received) == len(set(received)) == 120
    assert EmailMessage.objects.filter(status=MessageStatus.SENT).count() == 120


def test_the_beat_task_dispatches_until_nothing_is_due(smtp, settings):
    from nurture.tasks import nurture_dispatch

    settings.NURTURE_DISPATCH_BATCH = 2
    sequence = make_sequence()
    for lead in LeadFactory.create_batch(5):
        enroll(sequence, lead)
    assert nurture_dispatch.delay().get() == 5
    assert len(smtp.messages) == 5


def test_bodies_with_conditions_render_per_lead_and_values_are_not_markdown(smtp):
    sequence = make_sequence(steps=[{
        "subject": "Hi", "delay_minutes": 0,
        "body": "{% if company %}For **{{ company }}**: [plan](https://www.example.com/p)"
                "{% else %}No company{% endif %}"}])
    enroll(sequence, LeadFactory(email="a@example.com", company="*Acme* <b>"))
    enroll(sequence, LeadFactory(email="b@example.com", company=""))
    enroll(make_sequence(name="Plain"), LeadFactory(email="c@example.com", company="_x_ & y"))
    dispatch()
    html = {m["To"]: html_of(m) for m in smtp.messages}
    assert "<strong>*Acme* &lt;b&gt;</strong>" in html["a@example.com"]
    assert "/e/c/" in html["a@example.com"] and "example.com/p" not in html["a@example.com"]
    assert "No company" in html["b@example.com"]
    assert "at _x_ &amp; y." in html["c@example.com"]


def test_sends_a_dead_worker_did_not_record_get_their_activity_once(smtp):
    sequence = make_sequence()
    for lead in LeadFactory.create_batch(2):
        enroll(sequence, lead)
    now = timezone.now()
    with (mock.patch.object(dispatch_module, "_record_done", side_effect=SystemExit),
          pytest.raises(SystemExit)):
        dispatch(now=now)  # dies after both were accepted and marked sent
    assert EmailMessage.objects.filter(status=MessageStatus.SENT, recorded=False).count() == 2
    assert not Activity.objects.filter(kind="email_sent").exists()

    dispatch(now=now + timedelta(minutes=1))  # its worker might still be at it: not yet
    assert not Activity.objects.filter(kind="email_sent").exists()
    dispatch(now=now + dispatch_module.LEASE + timedelta(seconds=1))
    dispatch(now=now + dispatch_module.LEASE + timedelta(minutes=2))
    assert Activity.objects.filter(kind="email_sent").count() == 2
    assert len(smtp.messages) == 2


def test_an_unsubscribe_while_the_batch_is_sending_stops_that_leads_message(smtp, monkeypatch):
    sequence = make_sequence()
    for n in range(6):
        enroll(sequence, LeadFactory(email=f"l{n}@example.com"))
    real = dispatch_module._deliver

    def deliver_then_change_things(connection, email):
        real(connection, email)
        if email.to == ["l0@example.com"]:
            # Committed while l0's email is out and the others are not: the very next
            # message, and others later in the batch.
            lead_unsubscribe(lead=Lead.objects.get(email="l1@example.com"), how="page")
            suppression_add(email="L3@Example.com")
            enrollment_exit(enrollment=Enrollment.objects.get(lead__email="l4@example.com"),
                            reason="removed by hand")

    monkeypatch.setattr(dispatch_module, "_deliver", deliver_then_change_things)
    result = dispatch()
    assert sorted(m["To"] for m in smtp.messages) == [
        "l0@example.com", "l2@example.com", "l5@example.com"]
    assert result.sent == 3
    stopped = EmailMessage.objects.filter(lead__email__in=["l1@example.com", "l3@example.com",
                                                           "l4@example.com"])
    assert set(stopped.values_list("status", flat=True)) == {MessageStatus.CANCELLED}


def test_each_sent_mark_reads_the_next_messages_recheck_on_postgres(smtp):
    from django.test.utils import CaptureQueriesContext

    sequence = make_sequence()
    for n in range(4):
        enroll(sequence, LeadFactory(email=f"r{n}@example.com"))
    with CaptureQueriesContext(connection) as queries:
        assert dispatch().sent == 4
    marks = [q["sql"] for q in queries if 'SET "status"' in q["sql"] and "sent" in q["sql"]]
    alone = [q["sql"] for q in queries if q["sql"].startswith('SELECT "nurture_emailmessage"'
                                                             '."status"')]
    assert len(marks) == 4
    if connection.vendor == "postgresql":
        # One round trip per email: the first recheck alone, then each mark reads the next.
        assert len(alone) == 1
        assert sum(m.startswith("WITH sent AS (UPDATE") for m in marks) == 3
    else:
        assert len(alone) == 4
    assert len(smtp.messages) == 4


def test_the_next_step_waits_until_a_retried_step_was_sent(smtp):
    lead = LeadFactory(email="slow@example.com")
    start = timezone.now()
    sequence = make_sequence(steps=[{**STEP, "subject": "One"},
                                    {**STEP, "subject": "Two", "delay_minutes": 1}])
    enrollment = enroll(sequence, lead, now=start)
    smtp.defer("slow@example.com", times=1)  # the real server answers 451 once

    assert dispatch(now=start).deferred == 1
    enrollment.refresh_from_db()
    assert enrollment.next_due_at is None  # in flight: step 2 is not due yet

    # Step 2 would have been due a minute after step 1 was claimed; step 1's retry comes
    # first, and step 2 only its delay after step 1 actually went out.
    dispatch(now=start + timedelta(minutes=2))
    assert [m["Subject"] for m in smtp.messages] == ["One"]
    one = EmailMessage.objects.get(subject="One")
    assert one.sent_at == start + timedelta(minutes=2)
    enrollment.refresh_from_db()
    assert enrollment.next_due_at == one.sent_at + timedelta(minutes=1)
    dispatch(now=start + timedelta(minutes=2, seconds=59))
    assert len(smtp.messages) == 1
    dispatch(now=start + timedelta(minutes=3))
    assert [m["Subject"] for m in smtp.messages] == ["One", "Two"]
    enrollment.refresh_from_db()
    assert enrollment.state == EnrollmentState.COMPLETED


def test_retry_and_send_times_follow_the_clock_the_dispatcher_was_given(smtp):
    later = timezone.now() + timedelta(days=30)
    enroll(make_sequence(), LeadFactory(email="busy@example.com"), now=later)
    smtp.defer("busy@example.com", times=1)

    dispatch(now=later)
    message = EmailMessage.objects.get()
    assert later + timedelta(seconds=47) <= message.next_attempt_at <= later + timedelta(
        seconds=73)
    assert dispatch(now=later + timedelta(seconds=40)).sent == 0
    assert dispatch(now=later + timedelta(minutes=2)).sent == 1
    message.refresh_from_db()
    assert message.status == MessageStatus.SENT
    assert message.sent_at == later + timedelta(minutes=2)


def test_a_failed_step_is_on_the_timeline_with_its_reason_and_the_lead_goes_on(smtp):
    lead = LeadFactory(email="ann@example.com")
    start = timezone.now()
    sequence = make_sequence(steps=[{**STEP, "subject": "One"},
                                    {**STEP, "subject": "Two", "delay_minutes": 5}])
    enrollment = enroll(sequence, lead, now=start)
    first = sequence.steps.get(position=1)
    # A template that no longer compiles (saved before a rule changed, say).
    type(first).objects.filter(pk=first.pk).update(body="{% load static %}")

    result = dispatch(now=start)

    assert result.failed == 1 and smtp.messages == []
    failed = EmailMessage.objects.get(step=first)
    assert failed.status == MessageStatus.FAILED and failed.failed_at == start
    activity = Activity.objects.get(lead=lead, kind="email_failed")
    assert activity.data["message"] == failed.pk and activity.data["step"] == first.pk
    assert activity.data["subject"] == "One" and "{% load %}" in activity.data["reason"]
    assert activity.occurred_at == start
    enrollment.refresh_from_db()
    assert enrollment.next_step.position == 2
    assert enrollment.next_due_at == start + timedelta(minutes=5)
    dispatch(now=start + timedelta(minutes=5))
    assert [m["Subject"] for m in smtp.messages] == ["Two"]


def test_a_refused_message_records_email_failed_with_the_servers_answer(smtp):
    lead = LeadFactory(email="gone@example.com")
    enroll(make_sequence(), lead)
    smtp.refuse("gone@example.com")
    dispatch()
    activity = Activity.objects.get(lead=lead, kind="email_failed")
    assert "550" in activity.data["reason"] and activity.data["attempts"] == 1


def test_a_soft_time_limit_right_after_the_servers_250_does_not_lead_to_a_resend(
    smtp, monkeypatch
):
    from celery.exceptions import SoftTimeLimitExceeded

    def soft_time_limit(signum, frame):  # what Celery's prefork pool installs
        raise SoftTimeLimitExceeded()

    sequence = make_sequence()
    for n in range(2):
        enroll(sequence, LeadFactory(email=f"t{n}@example.com"))
    real = dispatch_module._deliver

    def deliver_then_time_is_up(connection, email):
        real(connection, email)
        signal.raise_signal(signal.SIGUSR1)  # the soft limit, between the 250 and the mark

    previous = signal.signal(signal.SIGUSR1, soft_time_limit)
    try:
        monkeypatch.setattr(dispatch_module, "_deliver", deliver_then_time_is_up)
        now = timezone.now()
        with pytest.raises(SoftTimeLimitExceeded):
            dispatch(now=now)
    finally:
        signal.signal(signal.SIGUSR1, previous)
    assert [m["To"] for m in smtp.messages] == ["t0@example.com"]
    assert EmailMessage.objects.get(lead__email="t0@example.com").status == MessageStatus.SENT

    monkeypatch.setattr(dispatch_module, "_deliver", real)
    end_leases()  # the interrupted run's lease on t1's message ends
    dispatch(now=now + dispatch_module.LEASE + timedelta(minutes=1))
    assert sorted(m["To"] for m in smtp.messages) == ["t0@example.com", "t1@example.com"]
    assert Activity.objects.filter(kind="email_sent").count() == 2


def test_a_link_from_a_merge_field_is_kept_when_it_is_a_web_address(smtp):
    body = "Visit [your site]({{ website }}) or write to [us](mailto:hi@acme.test)."
    sequence = make_sequence(tracking=False, steps=[{**STEP, "body": body}])
    enroll(sequence, LeadFactory(email="a@example.com", website="https://acme.example/?a=1&b=2"))
    enroll(sequence, LeadFactory(email="b@example.com", website="javascript:alert(1)"))
    enroll(sequence, LeadFactory(email="c@example.com",
                                 website='https://x.test/" onclick="alert(1)'))
    dispatch()
    html = {m["To"]: html_of(m) for m in smtp.messages}
    text = {m["To"]: text_of(m) for m in smtp.messages}
    assert '<a href="https://acme.example/?a=1&amp;b=2"' in html["a@example.com"]
    assert "your site (https://acme.example/?a=1&b=2)" in text["a@example.com"]
    assert "javascript" not in html["b@example.com"].lower()
    assert ">your site</a>" in html["b@example.com"]  # the text stays, the link goes
    assert "javascript" not in text["b@example.com"]
    assert 'onclick="' not in html["c@example.com"]  # at most text inside the address
    assert 'href="mailto:hi@acme.test"' in html["b@example.com"]


def test_a_link_from_a_merge_field_is_tracked_like_any_other(smtp):
    sequence = make_sequence(steps=[{**STEP, "body": "See [it]({{ website }})."}])
    enroll(sequence, LeadFactory(website="https://acme.example/x"))
    dispatch()
    html = html_of(smtp.messages[0])
    [token] = re.findall(r'href="https://leadhub\.example\.org/e/c/([^"/]+)/"', html)
    assert click_token_read(token)[1] == "https://acme.example/x"


def test_the_text_part_is_the_html_made_readable_not_the_source(smtp):
    body = ("# Welcome, {{ first_name }}\n\n"
            "Hello **{{ first_name }}** at {{ company }}. Read "
            "[the guide](https://www.example.com/guide?a=1&b=2).\n\n"
            "- one\n- two\n\n"
            "<p>Or <b>call</b> us.</p>")
    enroll(make_sequence(steps=[{**STEP, "body": body}]),
           LeadFactory(first_name="Ann", company="A&B <Co>"))
    dispatch()
    text = text_of(smtp.messages[0]).replace("\r\n", "\n")
    assert "Welcome, Ann\n\nHello Ann at A&B <Co>." in text
    assert "Read the guide (https://www.example.com/guide?a=1&b=2)." in text
    assert "- one\n- two" in text
    assert "Or call us." in text
    for raw in ("**", "# ", "](", "<p>", "<b>", "&amp;"):
        assert raw not in text, raw
