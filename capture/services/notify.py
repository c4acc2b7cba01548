"""Emails that follow a form submission: the notification to the form's people and the
double-opt-in confirmation link. Sent from Celery tasks (capture.tasks), never in the
request.

Each is sent at most once per submission. The record is the submission's activity row,
under ``data["followup"][<email>]``, always read and written with the row locked:

1. claim (short transaction): no outcome yet → write ``"sending"`` (and, for the
   confirmation, take the hourly per-address claim on the lead in the same transaction);
   a final outcome → return it; a fresh ``"sending"`` → another run is at it: raise
   ``MailBusy`` (the task retries later and finds the outcome);
2. send, holding no lock (a slow mail server must not block the lead's other writers);
3. record ``"sent"``. A temporary failure instead removes the claim (and gives the
   hourly claim back), so nothing says "sent" before the server accepted the message,
   and the task's retry sends it.

A run that died between 1 and 3 leaves a ``"sending"`` older than CLAIM_LEASE, which the
next run takes over and sends: if the first had got the message accepted, that is a
duplicate, with the same Message-ID, which mail clients use to drop it. SMTP offers no
way to close that last window.

SMTP failures the server calls temporary (4xx), dropped connections and network errors
raise ``MailDeferred``, which the tasks retry with backoff; permanent refusals (5xx, such
as an address that does not exist) are recorded as the outcome and not retried.
"""

import logging
import smtplib
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives
from django.core.validators import validate_email
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from capture.models import Activity, Form, FormField, Lead, Submission

from . import optin

logger = logging.getLogger(__name__)

FOLLOWUP_KEY = "followup"
MAX_SUBJECT = 200
TEMPLATES = "capture/email"
# Longer than a mail task may run (capture.tasks: time limit 150 s): a "sending" older
# than this was left by a run that died.
CLAIM_LEASE = timedelta(minutes=5)
SENDING = "sending"


class MailDeferred(Exception):
    """The mail server could not take the message now; retry later."""


class MailRefused(Exception):
    """The mail server refused the message for good (5xx); retrying will not help."""


class MailBusy(Exception):
    """Another run of the task is sending this email right now; retry later."""


# --- Sending ----------------------------------------------------------------------------


def header_safe(value: Any, limit: int = MAX_SUBJECT) -> str:
    """Text for a mail header: CR, LF and other control characters (header injection)
    become spaces, runs of whitespace (Unicode line separators too) collapse, and it is
    cut to ``limit``."""
    text = "".join(" " if (ord(c) < 32 or ord(c) == 127) else c for c in str(value))
    return " ".join(text.split())[:limit]


def _address(value: Any) -> str | None:
    address = header_safe(value, 254)
    try:
        validate_email(address)
    except ValidationError:
        return None
    return address


def _message_id(purpose: str, activity_id: int) -> str:
    # The same for every attempt at one email, so a duplicate (see the module text) is
    # recognisable as one.
    host = urlsplit(settings.PUBLIC_URL).hostname or "leadhub.localhost"
    return f"<leadhub.{purpose}.{activity_id}@{host}>"


def _render(name: str, context: dict) -> tuple[str, str, str]:
    """The (subject, text, html) of the template triple capture/email/<name>-*."""
    subject = render_to_string(f"{TEMPLATES}/{name}-subject.txt", context)
    text = render_to_string(f"{TEMPLATES}/{name}-body.txt", context)
    html = render_to_string(f"{TEMPLATES}/{name}-body.html", context)
    return header_safe(subject), text, html


def deliver(message: EmailMultiAlternatives) -> None:
    """Send through Django's mail API (settings.EMAIL_*). Raises MailDeferred for what
    may work later, MailRefused for a permanent refusal."""
    try:
        message.send(fail_silently=False)
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        if any(400 <= code < 500 for code in codes):
            raise MailDeferred(f"recipients deferred: {exc.recipients}") from exc
        raise MailRefused(f"recipients refused: {exc.recipients}") from exc
    except smtplib.SMTPResponseException as exc:
        # Sender refused, data refused, HELO, authentication: 4xx is "try again later".
        # Authentication failures (530, 534, 535) are a configuration error an admin
        # fixes, so they are retried too rather than losing the mail.
        if 400 <= exc.smtp_code < 500 or exc.smtp_code in (530, 534, 535):
            raise MailDeferred(f"{exc.smtp_code} {exc.smtp_error!r}") from exc
        raise MailRefused(f"{exc.smtp_code} {exc.smtp_error!r}") from exc
    except (smtplib.SMTPException, OSError) as exc:
        # Disconnected, connection refused, timeouts, TLS failures.
        raise MailDeferred(f"{type(exc).__name__}: {exc}") from exc


# --- Once per submission: the record on the activity ---------------------------------------


def _locked(activity_id: int) -> Activity | None:
    # Call inside transaction.atomic. The lock serialises the two mail tasks of one
    # submission (each writes its own key of data["followup"]) and a task with its own
    # second run (on SQLite, whose transactions here take the write lock at BEGIN, the
    # transaction itself does that).
    # The lead is read after the lock (activity.lead), not joined into the locked query:
    # a row re-read after a concurrent update keeps the joined columns from before it.
    return Activity.objects.select_for_update().filter(pk=activity_id).first()


def _outcome(activity: Activity, key: str) -> dict[str, Any] | None:
    return (activity.data.get(FOLLOWUP_KEY) or {}).get(key)


def _write(activity: Activity, key: str, value: dict[str, Any] | None) -> dict[str, Any] | None:
    """Set (or with None, remove) data["followup"][key]. Call with the row locked."""
    followup = dict(activity.data.get(FOLLOWUP_KEY) or {})
    if value is None:
        followup.pop(key, None)
    else:
        followup[key] = {**value, "at": value.get("at") or timezone.now().isoformat()}
    activity.data = {**activity.data, FOLLOWUP_KEY: followup}
    Activity.objects.filter(pk=activity.pk).update(data=activity.data)
    return followup.get(key)


def _record(activity_id: int, key: str, value: dict[str, Any] | None) -> dict[str, Any] | None:
    with transaction.atomic():
        activity = _locked(activity_id)
        return _write(activity, key, value) if activity is not None else None


def _in_progress(done: dict[str, Any] | None, now: datetime) -> bool:
    """True for a claim another run holds (raise MailBusy); False for no claim or a
    stale one (take it over)."""
    if not done or done.get("outcome") != SENDING:
        return False
    return datetime.fromisoformat(done["at"]) > now - CLAIM_LEASE


def _send(activity_id: int, key: str, message: EmailMultiAlternatives, *, on_deferred=None):
    """Step 2 and 3 of the module text."""
    try:
        deliver(message)
    except MailRefused as exc:
        logger.warning("Email %s for activity %s refused: %s", key, activity_id, exc)
        return _record(activity_id, key, {"outcome": "refused", "reason": str(exc)[:300]})
    except BaseException:
        # Temporary failures (retried), and anything unexpected (a time limit, a bug):
        # leave no claim behind, so the next run can send.
        with transaction.atomic():
            if on_deferred is not None:
                on_deferred()
            activity = _locked(activity_id)
            if activity is not None:
                _write(activity, key, None)
        raise
    return _record(activity_id, key, {"outcome": "sent", "to": message.to})


# --- The notification ---------------------------------------------------------------------


def _submitted_values(form: Form, submission: Submission | None, activity: Activity):
    values = submission.data if submission is not None else activity.data.get("fields", {})
    labels = dict(FormField.objects.filter(form=form).values_list("name", "label"))
    rows = []
    for name, value in values.items():
        shown = ", ".join(str(v) for v in value) if isinstance(value, list) else value
        if isinstance(shown, bool):
            shown = "yes" if shown else "no"
        rows.append({"label": labels.get(name) or name, "name": name, "value": str(shown)})
    return rows


def submission_notification_send(*, activity_id: int) -> dict[str, Any] | None:
    """Email the form's notify_emails about the submission behind this form_submitted
    activity, once. Returns the recorded outcome (None if the activity is gone)."""
    key, now = "notification", timezone.now()
    with transaction.atomic():
        activity = _locked(activity_id)
        if activity is None:
            return None  # deleted with its lead
        done = _outcome(activity, key)
        if _in_progress(done, now):
            raise MailBusy(f"{key} of activity {activity_id}")
        if done and done.get("outcome") != SENDING:
            return done
        form = Form.objects.filter(pk=activity.data.get("form")).first()
        recipients = [a for a in (_address(e) for e in (form.notify_emails if form else []))
                      if a]
        if not recipients:
            return _write(activity, key, {"outcome": "no recipients"})
        _write(activity, key, {"outcome": SENDING, "at": now.isoformat()})

    lead = activity.lead
    submission = Submission.objects.filter(pk=activity.data.get("submission")).first()
    context = {
        "form": form,
        "lead": lead,
        "submission": submission,
        "activity": activity,
        "values": _submitted_values(form, submission, activity),
        "page_url": activity.data.get("page_url", ""),
        "lead_url": f"{settings.PUBLIC_URL}/leads/{lead.pk}/",
        "new_lead": activity.data.get("new_lead", False),
    }
    subject, text, html = _render("submission-notification", context)
    message = EmailMultiAlternatives(
        subject=subject,
        body=text,
        to=recipients,
        reply_to=[a for a in [_address(lead.email)] if a],
        headers={"Message-ID": _message_id(key, activity.pk), "Auto-Submitted": "auto-generated"},
    )
    message.attach_alternative(html, "text/html")
    return _send(activity_id, key, message)


# --- The double-opt-in confirmation -----------------------------------------------------------


def confirmation_email_send(*, activity_id: int) -> dict[str, Any] | None:
    """Send the lead of this form_submitted activity its confirmation link, once, and
    only if no link went to the address within the hour. Returns the recorded outcome."""
    key, now = "confirmation", timezone.now()
    with transaction.atomic():
        activity = _locked(activity_id)
        if activity is None:
            return None
        done = _outcome(activity, key)
        if _in_progress(done, now):
            raise MailBusy(f"{key} of activity {activity_id}")
        if done and done.get("outcome") != SENDING:
            return done
        lead = activity.lead
        if lead.confirmed_at is not None:
            return _write(activity, key, {"outcome": "already confirmed"})
        if _address(lead.email) is None:
            return _write(activity, key, {"outcome": "no address"})
        if done is None:  # a first attempt (a stale one keeps the hourly claim it took)
            # The hourly limit per address, enforced by the database: the UPDATE must
            # move confirmation_sent_at on exactly one row.
            previous = lead.confirmation_sent_at
            if not optin.confirmation_claim(lead_id=lead.pk, now=now):
                return _write(activity, key, {"outcome": "throttled"})
            done = {"claimed": now.isoformat(),
                    "previous": previous.isoformat() if previous else None}
        _write(activity, key, {**done, "outcome": SENDING, "at": now.isoformat()})

    def give_the_hourly_claim_back():
        # Only if it is still ours (no later claim replaced it).
        Lead.objects.filter(
            pk=lead.pk, confirmation_sent_at=datetime.fromisoformat(done["claimed"])
        ).update(confirmation_sent_at=done["previous"] and datetime.fromisoformat(
            done["previous"]))

    form_id = activity.data.get("form")
    token = optin.confirmation_token(lead=lead, form_id=form_id)
    context = {
        "lead": lead,
        "form": Form.objects.filter(pk=form_id).first(),
        "confirm_url": optin.confirmation_url(token),
        "valid_days": settings.OPTIN_LINK_MAX_AGE_DAYS,
    }
    subject, text, html = _render("optin-confirmation", context)
    message = EmailMultiAlternatives(
        subject=subject,
        body=text,
        to=[_address(lead.email)],
        headers={"Message-ID": _message_id(key, activity.pk), "Auto-Submitted": "auto-generated"},
    )
    message.attach_alternative(html, "text/html")
    return _send(activity_id, key, message, on_deferred=give_the_hourly_claim_back)
