"""The dispatcher: turns due enrollment steps into emails and sends them.

Two short transactions and a send, per batch:

1. **Claim due steps** (``_claim_due_steps``): lock due active enrollments with
   ``SELECT … FOR UPDATE SKIP LOCKED`` (another worker skips them instead of waiting, so
   several workers share the work), work out which step is next from what each was sent
   (``nurture.services.progress``: the first step, in the current order, after the last
   one sent, so an edited sequence neither resends nor skips), re-check the lead
   (unsubscribed, suppressed, stage past the exit stage, double opt-in pending, send
   window, per-domain limit), insert one ``EmailMessage`` per step *queued and leased to
   this run*, and mark the enrollment in flight (``next_due_at`` null: its next step is
   not due before this one has an outcome). Commit. From here on the unique (enrollment,
   step) constraint makes a second email for this step impossible, whatever happens to
   this worker: a run that dies before the commit leaves nothing behind and the steps
   are claimed again.
2. **Send** each leased message over one SMTP connection (those just claimed as the
   claim read them; retries and taken-over ones read again), re-reading the message's
   status, its enrollment, its lead and the suppression list (one query; on Postgres
   sent with the previous message's "sent" mark) right before handing it to the server,
   so an exit, unsubscribe or suppression committed while the batch is sending stops the
   messages not yet sent. A message is marked sent right after the
   server accepted it (one UPDATE, committed at once). Its outcome is then recorded with
   those of up to RECORD_EVERY others in one transaction that flags them ``recorded``:
   the ``email_sent`` / ``email_failed`` activities (one INSERT and ONE follow-up task
   for the group: ``capture.services.activities_record_bulk``; the handlers still run
   once per activity) and the enrollments moved on to their next step, due its delay
   after this email went out. A worker that dies first leaves them to
   ``_record_orphans``. The "sent" marks are deliberately not batched: an UPDATE after
   several accepts would widen the window in which a dead worker leaves accepted messages
   queued, and those would go out again once their lease ends.
3. A message still queued when its lease ends belongs to a run that died while sending
   (or is a retry of a temporary failure): ``_claim_queued`` takes it over. Leases are
   times on the database's clock (``now()`` + LEASE, compared with ``now()``), never a
   host's: a worker whose clock runs ahead cannot take over messages another worker still
   holds. The only window for a duplicate is a worker killed (SIGKILL, the hard time
   limit, a crash) between the server's "250" and the commit of its "sent" mark; such a
   duplicate carries the same Message-ID, which mail clients use to drop it. Celery's
   soft time limit cannot open that window: it is held off while a message is handed to
   the server and its outcome written (``_soft_time_limit_deferred``). SMTP offers
   nothing tighter.

Times: ``dispatch_batch(now=…)`` runs the whole batch on that clock (due times, sent and
failed times, retry times); without it each message takes the real time when it is sent.

Temporary SMTP failures (4xx, dropped connections) retry with exponential backoff up to
MAX_ATTEMPTS, then fail visibly; permanent ones (5xx) fail at once, and a 5xx for the
recipient (a hard bounce) puts the address on the suppression list. A failed message
counts as the step's outcome: the enrollment moves on to its next step.
"""

import functools
import logging
import random
import signal
import smtplib
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from anymail.exceptions import AnymailAPIError, AnymailRecipientsRefused
from django.conf import settings
from django.core.mail import get_connection
from django.core.mail.backends.smtp import EmailBackend as SMTPBackend
from django.db import connection, transaction
from django.db.models import Count, DateTimeField, Exists, ExpressionWrapper, OuterRef, Q
from django.db.models.functions import Lower, Now
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from capture.models import Lead, normalize_email
from capture.services import activities_record_bulk, awaiting_confirmation_q
from nurture import schedule
from nurture.models import (
    EmailMessage,
    Enrollment,
    EnrollmentState,
    MessageStatus,
    SendingSettings,
    SequenceStatus,
    Suppression,
    SuppressionReason,
    stage_reached,
)
from nurture.services import progress, rendering
from nurture.services.enrollments import enrollment_exit, suppression_add
from nurture.services.tracking import clicks_record

logger = logging.getLogger(__name__)

# Longer than one batch can take to send (EMAIL_TIMEOUT per message at worst is covered
# by the task's time limit): a message still leased after this was left by a dead run.
LEASE = timedelta(minutes=5)
MAX_ATTEMPTS = 12  # about 12 hours with the backoff below
RETRY_BASE = timedelta(minutes=1)
RETRY_MAX = timedelta(hours=2)
OPTIN_RECHECK = timedelta(hours=1)
DOMAIN_RECHECK = timedelta(minutes=10)
# RCPT answers that mean "this mailbox does not exist / will never take mail".
HARD_BOUNCE_CODES = {550, 551, 553}
# Sent messages whose outcomes are recorded together, in one transaction.
RECORD_EVERY = 50
FAILED = "email_failed"  # the activity kind (docs/activities.md)

Clock = Callable[[], datetime]


@dataclass
class DispatchResult:
    claimed: int = 0
    sent: int = 0
    deferred: int = 0
    failed: int = 0
    cancelled: int = 0
    held: int = 0
    exited: int = 0
    recorded: int = 0
    clicks: int = 0
    errors: list[str] = field(default_factory=list)

    def add(self, other: "DispatchResult") -> None:
        for name in ("claimed", "sent", "deferred", "failed", "cancelled", "held", "exited",
                     "recorded", "clicks"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


def _lease_end():
    """The database's now() plus the lease: every host compares leases on one clock."""
    return ExpressionWrapper(Now() + LEASE, output_field=DateTimeField())


def _lease_end_value() -> datetime:
    """The same, read from the database once, for a batch of new messages: a value
    instead of an expression each INSERT row compiles (the database's clock still; the
    moment Now() would give, up to the milliseconds of the claim)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT STATEMENT_TIMESTAMP()")  # what Now() compiles to
            return cursor.fetchone()[0] + LEASE
        cursor.execute("SELECT STRFTIME('%Y-%m-%d %H:%M:%f', 'NOW')")  # SQLite's Now()
        return parse_datetime(cursor.fetchone()[0]).replace(tzinfo=UTC) + LEASE


def _domain(email: str) -> str:
    return normalize_email(email).rpartition("@")[2]


def _suppressed(emails) -> set[str]:
    lowered = {normalize_email(e) for e in emails}
    if not lowered:
        return set()
    return set(Suppression.objects.annotate(lower=Lower("email"))
               .filter(lower__in=lowered).values_list("lower", flat=True))


def _lead_problem(lead: Lead, sequence, suppressed: set[str]) -> str | None:
    """Why this lead must get no more email from ``sequence`` (its enrollment exits)."""
    if lead.unsubscribed_at is not None:
        return "unsubscribed"
    if normalize_email(lead.email) in suppressed:
        return "suppressed"
    if stage_reached(lead.stage, sequence.exit_on_stage):
        return f"stage {lead.stage}"
    return None


def _domain_limit_lookup() -> Callable[[str], int]:
    """The hourly limit of a recipient domain (0: none): its own from
    NURTURE_DOMAIN_HOURLY_LIMITS, else NURTURE_DOMAIN_HOURLY_LIMIT."""
    default = settings.NURTURE_DOMAIN_HOURLY_LIMIT
    own = getattr(settings, "NURTURE_DOMAIN_HOURLY_LIMITS", {})
    return lambda domain: own.get(domain, default)


def _domain_counts(domains, now: datetime) -> dict[str, int]:
    rows = (EmailMessage.objects.filter(to_domain__in=domains,
                                        created_at__gte=now - timedelta(hours=1))
            .exclude(status=MessageStatus.CANCELLED).order_by()
            .values("to_domain").annotate(n=Count("id")).values_list("to_domain", "n"))
    return dict(rows)


def _claim_due_steps(now: datetime, limit: int, result: DispatchResult) -> list[EmailMessage]:
    """Step 1 of the module text. Returns the messages leased to this run, with their
    enrollment, lead, sequence and step (as read by the claim) attached."""
    with transaction.atomic():
        # of=("self",): lock the enrollments only. Locking the joined sequence row too
        # would make every other worker skip all of that sequence's enrollments.
        enrollments = list(
            Enrollment.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(state=EnrollmentState.ACTIVE, next_due_at__lte=now,
                    sequence__status=SequenceStatus.ACTIVE)
            .select_related("lead", "sequence")
            .order_by("next_due_at")[:limit]
        )
        if not enrollments:
            return []
        lead_ids = {e.lead_id for e in enrollments}
        suppressed = _suppressed(e.lead.email for e in enrollments)
        awaiting = set(Lead.objects.filter(pk__in=lead_ids).filter(awaiting_confirmation_q())
                       .values_list("pk", flat=True))
        steps = progress.steps_by_sequence(e.sequence_id for e in enrollments)
        histories = progress.histories([e.pk for e in enrollments])
        limit_of = _domain_limit_lookup()
        limited = {d for d in (_domain(e.lead.email) for e in enrollments) if limit_of(d)}
        domain_counts = _domain_counts(limited, now) if limited else {}
        messages: list[EmailMessage] = []
        changed: list[Enrollment] = []
        lease_end = _lease_end_value()
        for enrollment in enrollments:
            lead, sequence = enrollment.lead, enrollment.sequence
            history = histories[enrollment.pk]
            if history.in_flight:
                # An email of this enrollment is still queued (a retry): the next step is
                # due only once that one went out or failed for good.
                enrollment.next_due_at = None
                changed.append(enrollment)
                continue
            step = progress.following(steps.get(sequence.pk, []), history.done)
            if step is None:  # nothing after the last step it was sent
                _complete(enrollment, now)
                changed.append(enrollment)
                continue
            if step.pk != enrollment.next_step_id:
                # The steps were edited since this due time was set (and the edit could
                # not move this enrollment, e.g. it was being claimed): wait for the
                # step that now follows, its delay after the previous email.
                enrollment.next_step = step
                due = schedule.due_after(step, progress.anchor(enrollment, history))
                if due > now:
                    enrollment.next_due_at = due
                    changed.append(enrollment)
                    result.held += 1
                    continue
            if reason := _lead_problem(lead, sequence, suppressed):
                enrollment_exit(enrollment=enrollment, reason=reason, now=now)
                result.exited += 1
                continue
            if lead.pk in awaiting:
                # Double opt-in pending: no nurture email before confirmation. The
                # ``confirmed`` activity makes it due again at once (nurture.handlers).
                enrollment.next_due_at, enrollment.held_for_optin = now + OPTIN_RECHECK, True
                changed.append(enrollment)
                result.held += 1
                continue
            if not schedule.in_window(step, now):
                enrollment.next_due_at = schedule.send_time(step, now)
                changed.append(enrollment)
                result.held += 1
                continue
            domain = _domain(lead.email)
            if limit := limit_of(domain):
                if domain_counts.get(domain, 0) >= limit:
                    enrollment.next_due_at = now + DOMAIN_RECHECK
                    changed.append(enrollment)
                    result.held += 1
                    continue
                domain_counts[domain] = domain_counts.get(domain, 0) + 1
            messages.append(EmailMessage(
                enrollment=enrollment, step=step, sequence=sequence, lead=lead,
                to_email=lead.email, to_domain=domain, subject=step.subject[:200],
                status=MessageStatus.QUEUED, next_attempt_at=now, leased_until=lease_end,
                created_at=now,
            ))
            # In flight: its next step becomes due when this email has an outcome
            # (progress.enrollments_move_on, from _record_done).
            enrollment.next_step, enrollment.next_due_at = step, None
            enrollment.held_for_optin = False
            changed.append(enrollment)
        # The unique (enrollment, step) constraint is the backstop: a conflict here
        # rolls the whole claim back, and nothing is sent.
        EmailMessage.objects.bulk_create(messages)
        _save_enrollments(changed)
        result.claimed += len(messages)
        return messages


def _save_enrollments(changed: list[Enrollment]) -> None:
    """One UPDATE per distinct outcome: a batch claimed at one moment mostly puts its
    enrollments in flight on the same step (bulk_update's per-row CASE costs more in
    Python than the sends it precedes). The rows are locked by the claim."""
    groups: dict[tuple, list[int]] = {}
    for e in changed:
        key = (e.state, e.next_step_id, e.next_due_at, e.finished_at, e.held_for_optin)
        groups.setdefault(key, []).append(e.pk)
    for (state, step_id, due, finished, held), ids in groups.items():
        Enrollment.objects.filter(pk__in=ids).update(
            state=state, next_step_id=step_id, next_due_at=due, finished_at=finished,
            held_for_optin=held,
        )


def _complete(enrollment: Enrollment, now: datetime) -> None:
    enrollment.state, enrollment.finished_at = EnrollmentState.COMPLETED, now
    enrollment.next_step, enrollment.next_due_at = None, None
    enrollment.held_for_optin = False


def _claim_queued(now: datetime, limit: int) -> list[int]:
    """Retries due now, and messages whose sender died (their lease ran out). Retry
    times are on the dispatcher's clock (``now``); leases on the database's."""
    if limit <= 0:
        return []
    with transaction.atomic():
        ids = list(
            EmailMessage.objects.select_for_update(skip_locked=True)
            .filter(status=MessageStatus.QUEUED, next_attempt_at__lte=now)
            .filter(Q(leased_until__isnull=True) | Q(leased_until__lte=Now()))
            .order_by("next_attempt_at").values_list("pk", flat=True)[:limit]
        )
        if ids:
            EmailMessage.objects.filter(pk__in=ids).update(leased_until=_lease_end())
        return ids


# --- Sending ------------------------------------------------------------------------------


class _Deferred(Exception):
    pass


class _Refused(Exception):
    def __init__(self, text: str, hard_bounce: bool):
        super().__init__(text)
        self.hard_bounce = hard_bounce


def _deliver(smtp, email) -> None:
    """Send one message on the shared connection; classify what went wrong. ``email`` is
    a ``rendering.Outgoing`` (its bytes go to the SMTP connection as Django's backend
    would send them) or, for other backends, a Django email."""
    try:
        if not isinstance(email, rendering.Outgoing):
            sent = smtp.send_messages([email])
        else:
            if smtp.connection is None:
                # Opened here, not by send_messages(), which would close it again after
                # each message: one connection serves the whole batch.
                smtp.open()
            smtp.connection.sendmail(email.from_email, email.to, email.data)
            sent = 1
    except AnymailRecipientsRefused as exc:
        # An email service (EMAIL_URL=esp://…) refused every recipient: rejected or on
        # its own suppression list. A permanent answer, like SMTP's 550.
        raise _Refused(f"recipient refused by the email service: {exc}",
                       hard_bounce=True) from exc
    except AnymailAPIError as exc:
        # The service's HTTP API: no answer, a timeout, 429 or 5xx are worth retrying;
        # another 4xx (a bad request, a bad key) will not get better by itself.
        status = getattr(exc, "status_code", None)
        if status is None or status == 429 or status >= 500:
            raise _Deferred(f"email service: {exc}") from exc
        raise _Refused(f"email service answered {status}: {exc}", hard_bounce=False) from exc
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        if any(400 <= code < 500 for code in codes):
            raise _Deferred(f"recipient deferred: {exc.recipients}") from exc
        raise _Refused(f"recipient refused: {exc.recipients}",
                       hard_bounce=any(c in HARD_BOUNCE_CODES for c in codes)) from exc
    except smtplib.SMTPSenderRefused as exc:
        # Our own sender address: a configuration problem an admin fixes; keep the mail.
        smtp.close()
        raise _Deferred(f"sender refused: {exc.smtp_code} {exc.smtp_error!r}") from exc
    except smtplib.SMTPResponseException as exc:
        if 400 <= exc.smtp_code < 500 or exc.smtp_code in (530, 534, 535):
            smtp.close()
            raise _Deferred(f"{exc.smtp_code} {exc.smtp_error!r}") from exc
        raise _Refused(f"{exc.smtp_code} {exc.smtp_error!r}", hard_bounce=False) from exc
    except (smtplib.SMTPException, OSError) as exc:
        # Disconnected, connection refused, timeouts, TLS failures: start afresh.
        try:
            smtp.close()
        except Exception:  # closing a broken connection may fail too
            smtp.connection = None
        raise _Deferred(f"{type(exc).__name__}: {exc}") from exc
    if not sent:
        raise _Deferred("the mail backend sent nothing")


def _retry_delay(attempts: int) -> timedelta:
    delay = min(RETRY_BASE * (2 ** (attempts - 1)), RETRY_MAX)
    return delay * random.uniform(0.8, 1.2)  # noqa: S311 - jitter, not security


# Celery's soft time limit: the prefork pool (billiard) sends the worker process SIGUSR1,
# whose handler raises SoftTimeLimitExceeded wherever the task happens to be.
_SOFT_TIMEOUT = getattr(signal, "SIGUSR1", None)


@contextmanager
def _soft_time_limit_deferred():
    """Hold Celery's soft time limit off while a message is handed to the server and its
    outcome written. Raised between the server's "250" and the "sent" mark, it would
    leave an accepted message queued, and it would be sent again once its lease ended.
    Here a soft limit that arrives meanwhile is kept and raised on leaving the block,
    after the mark is committed (the mark runs in autocommit). The SMTP commands are
    bounded by EMAIL_TIMEOUT, the whole task by its hard time_limit; what the block
    cannot hold off is SIGKILL (the hard limit, the OOM killer, kill -9), whose window
    the module text describes. Python runs signal handlers in the main thread only, so
    swapping the handler there catches the signal whichever thread the OS gave it to."""
    if _SOFT_TIMEOUT is None or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(_SOFT_TIMEOUT)
    if previous is None:  # a handler installed outside Python: it cannot be put back
        yield
        return
    caught: list[tuple] = []
    signal.signal(_SOFT_TIMEOUT, lambda signum, frame: caught.append((signum, frame)))
    try:
        yield
    finally:
        signal.signal(_SOFT_TIMEOUT, previous)
        if caught:
            if callable(previous):
                previous(*caught[0])  # raises SoftTimeLimitExceeded in a Celery worker
            elif previous == signal.SIG_DFL:
                signal.raise_signal(_SOFT_TIMEOUT)


@functools.cache
def _mark_sent_sql(vendor: str) -> str:
    meta, quote = EmailMessage._meta, connection.ops.quote_name
    columns = ", ".join(f"{quote(meta.get_field(name).column)} = %s" for name in
                        ("status", "sent_at", "subject", "message_id", "attempts", "error"))
    return (f"UPDATE {quote(meta.db_table)} SET {columns} "  # noqa: S608 - names from the model
            f"WHERE {quote(meta.pk.column)} = %s")


_NOT_READ = object()  # no recheck row read ahead for a message


def _mark_sent(message: EmailMessage, subject: str, now: datetime,
               recheck_next: int | None = None):
    """Mark the message sent. One statement in autocommit, right after the server
    accepted the message: durable before the next message goes out. Unconditional on
    status: the server took it, whatever else happened since. Written as SQL (the same
    UPDATE the ORM would write): it runs once per email, and building the ORM query cost
    more than it.

    ``recheck_next``: on Postgres, the same statement also reads the recheck row of that
    message (the next to go), which _recheck would read at this very moment: one round
    trip instead of two per email. Returns that row (None: the message is gone), or
    _NOT_READ."""
    params = [MessageStatus.SENT.value, connection.ops.adapt_datetimefield_value(now),
              subject, rendering.message_id_header(message.pk), message.attempts + 1, "",
              message.pk]
    with connection.cursor() as cursor:
        if recheck_next is None or connection.vendor != "postgresql":
            cursor.execute(_mark_sent_sql(connection.vendor), params)
            return _NOT_READ
        recheck, recheck_params, at = _recheck_sql(connection.vendor)
        # A data-modifying WITH query runs to completion whether or not it is read; the
        # SELECT sees the snapshot the statement started with, as a statement of its own
        # sent then would.
        cursor.execute(f"WITH sent AS ({_mark_sent_sql(connection.vendor)}) {recheck}", [
            *params, *recheck_params[:at], recheck_next, *recheck_params[at + 1:]])
        return cursor.fetchone()


_RECHECK_MARK = -7_102_938_465  # stands for the message's id while the query is compiled


@functools.cache
def _recheck_sql(vendor: str) -> tuple[str, tuple, int]:
    """The last look before the mail server, as one statement compiled once (it runs for
    every email, and building the ORM query cost more than running it): the message's
    status and step, its enrollment's state, its lead's unsubscribe and stage, and
    whether the address is suppressed. (SQL, parameters, where the id goes in them.)"""
    suppressed = Suppression.objects.annotate(lower=Lower("email")).filter(
        lower=Lower(OuterRef("lead__email")))
    query = (EmailMessage.objects.filter(pk=_RECHECK_MARK)
             .annotate(suppressed=Exists(suppressed))
             .values_list("status", "step_id", "enrollment__state", "enrollment__exit_reason",
                          "lead__unsubscribed_at", "lead__stage", "suppressed"))
    sql, params = query.query.sql_with_params()
    return sql, tuple(params), list(params).index(_RECHECK_MARK)


def _recheck(message: EmailMessage, row=_NOT_READ) -> str | None:
    """Re-read what may have changed since the batch was read (an exit, an unsubscribe,
    a suppression, a stage change, a deleted step), right before the message goes to the
    server. Returns why it must not be sent, "" if it is no longer queued (cancelled or
    gone: skip it quietly), None if it may go. ``row``: read already, with the previous
    message's "sent" mark (_mark_sent)."""
    if row is _NOT_READ:
        sql, params, at = _recheck_sql(connection.vendor)
        with connection.cursor() as cursor:
            cursor.execute(sql, [*params[:at], message.pk, *params[at + 1:]])
            row = cursor.fetchone()
    if row is None:
        return ""
    status, step_id, state, exit_reason, unsubscribed_at, stage, suppressed = row
    if status != MessageStatus.QUEUED:
        return ""
    message.enrollment.state, message.enrollment.exit_reason = state, exit_reason
    message.lead.unsubscribed_at, message.lead.stage = unsubscribed_at, stage
    if state == EnrollmentState.EXITED:
        return f"enrollment exited ({exit_reason})"
    if problem := _lead_problem(message.lead, message.sequence,
                                {normalize_email(message.lead.email)} if suppressed else set()):
        return problem
    if step_id is None:
        message.step = None
        return "step deleted"
    return None


def _record_done(ids: list[int]) -> int:
    """Record the outcome of these sent or failed messages, once each (the rows are
    locked and flagged in the transaction that writes them): their ``email_sent`` /
    ``email_failed`` activities, and their enrollments moved on to the next step."""
    if not ids:
        return 0
    with transaction.atomic():
        messages = list(
            EmailMessage.objects.select_for_update()
            .filter(pk__in=ids, status__in=[MessageStatus.SENT, MessageStatus.FAILED],
                    recorded=False)
            .order_by("pk")
            .values_list("pk", "lead_id", "sequence_id", "step_id", "enrollment_id",
                         "subject", "status", "sent_at", "failed_at", "error", "attempts")
        )
        if not messages:
            return 0
        rows, resolved = [], {}
        for (pk, lead_id, sequence_id, step_id, enrollment_id, subject, status, sent_at,
             failed_at, error, attempts) in messages:
            data = {"sequence": sequence_id, "step": step_id, "message": pk,
                    "subject": subject}
            if status == MessageStatus.SENT:
                rows.append({"lead_id": lead_id, "kind": "email_sent", "occurred_at": sent_at,
                             "data": data})
            else:
                at = failed_at or timezone.now()
                rows.append({"lead_id": lead_id, "kind": FAILED, "occurred_at": at,
                             "data": {**data, "reason": error, "attempts": attempts}})
            resolved[enrollment_id] = sent_at or failed_at or timezone.now()
        # One INSERT, one lead UPDATE and one follow-up task for the group (the handlers
        # still run once per activity: scoring, triggers).
        activities_record_bulk(rows)
        EmailMessage.objects.filter(pk__in=[m[0] for m in messages]).update(recorded=True)
        progress.enrollments_move_on(resolved)
    return len(messages)


def _record_orphans(now: datetime, limit: int) -> int:
    """Outcomes a dead worker wrote but did not record (sent or failed before its lease
    could have ended)."""
    cutoff = now - LEASE
    ids = list(
        EmailMessage.objects.filter(status=MessageStatus.SENT, recorded=False,
                                    sent_at__lt=cutoff)
        .order_by("sent_at").values_list("pk", flat=True)[:limit]
    )
    ids += list(
        EmailMessage.objects.filter(status=MessageStatus.FAILED, recorded=False,
                                    failed_at__lt=cutoff)
        .order_by("failed_at").values_list("pk", flat=True)[:limit]
    )
    return _record_done(ids)


@contextmanager
def _async_commits():
    """On Postgres, commits in this block do not wait for the WAL flush (as scoring's):
    a worker killed after a commit loses nothing; only a Postgres crash within a few
    milliseconds could lose a "sent" mark, and that message would go out again once its
    lease ends. Waiting for the disk after every send would cap throughput."""
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit TO OFF")
    try:
        yield
    finally:
        if connection.is_usable():
            with connection.cursor() as cursor:
                cursor.execute("RESET synchronous_commit")


def _mark(message: EmailMessage, **values) -> None:
    EmailMessage.objects.filter(pk=message.pk, status=MessageStatus.QUEUED).update(**values)


def send_messages(ids: list[int], result: DispatchResult, *,
                  clock: Clock = timezone.now, claimed: list[EmailMessage] = ()) -> None:
    """Step 2 of the module text: send the leased messages ``ids`` (read here) and
    ``claimed`` (just made by the claim, as they are: each is rechecked before it goes)."""
    messages = list(claimed)
    if ids:
        messages += (
            EmailMessage.objects.filter(pk__in=ids, status=MessageStatus.QUEUED)
            .select_related("lead", "step", "sequence", "enrollment").order_by("pk")
        )
    if not messages:
        return
    sending = SendingSettings.load()
    compiled: dict[int, rendering.CompiledStep | str] = {}
    smtp = get_connection(fail_silently=False)
    done: list[int] = []
    ahead: dict[int, object] = {}  # message id → its recheck row, read with the last mark
    try:
        with _async_commits():
            for i, message in enumerate(messages):
                following = messages[i + 1].pk if i + 1 < len(messages) else None
                if _send_one(message, smtp, sending, compiled, result, clock,
                             recheck=ahead.pop(message.pk, _NOT_READ), following=following,
                             ahead=ahead):
                    done.append(message.pk)
                if len(done) >= RECORD_EVERY:
                    result.recorded += _record_done(done)
                    done = []
                    ahead.clear()  # read before that transaction: read again
            result.recorded += _record_done(done)
    finally:
        try:
            smtp.close()
        except Exception:  # a broken connection cannot be closed cleanly
            logger.debug("SMTP connection close failed", exc_info=True)


def _send_one(message, smtp, sending, compiled, result, clock: Clock, *, recheck,
              following: int | None, ahead: dict) -> bool:
    """Send one message; True if it now has an outcome to record (sent, or failed).
    ``recheck``: its recheck row if read ahead; ``following``: the id of the message
    after it, whose recheck row its "sent" mark reads into ``ahead``."""
    enrollment = message.enrollment
    reason = _recheck(message, recheck)
    if reason == "":
        return False  # cancelled (an exit) or deleted since the batch was read
    if reason:
        _mark(message, status=MessageStatus.CANCELLED, error=reason)
        result.cancelled += 1
        if message.step is None:
            # Its step was deleted from the sequence: the lead goes on with the next.
            with transaction.atomic():
                progress.enrollments_move_on({enrollment.pk: clock()})
        elif enrollment.state == EnrollmentState.ACTIVE:
            enrollment_exit(enrollment=enrollment, reason=reason)
        return False
    if message.step_id not in compiled:
        try:
            compiled[message.step_id] = rendering.CompiledStep(message.step)
        except ValueError as exc:
            compiled[message.step_id] = str(exc)
    step_templates = compiled[message.step_id]
    if isinstance(step_templates, str):
        _mark(message, status=MessageStatus.FAILED, attempts=message.attempts + 1,
              error=f"template: {step_templates}"[:2000], failed_at=clock())
        result.failed += 1
        return True
    rendered = rendering.render(message, step_templates, tracking=message.sequence.tracking,
                                sending=sending)
    if isinstance(smtp, SMTPBackend):
        email = rendering.outgoing(message, rendered, sending)
    else:  # a backend without an SMTP connection (console, file, tests' locmem)
        email = rendering.build(message, rendered, sending, connection=smtp)
    with _soft_time_limit_deferred():
        try:
            _deliver(smtp, email)
        except _Deferred as exc:
            now = clock()
            attempts = message.attempts + 1
            if attempts >= MAX_ATTEMPTS:
                _mark(message, status=MessageStatus.FAILED, attempts=attempts, failed_at=now,
                      error=f"gave up after {attempts} attempts: {exc}"[:2000])
                result.failed += 1
                return True
            _mark(message, attempts=attempts, error=str(exc)[:2000], leased_until=None,
                  next_attempt_at=now + _retry_delay(attempts))
            result.deferred += 1
            return False
        except _Refused as exc:
            _mark(message, status=MessageStatus.FAILED, attempts=message.attempts + 1,
                  error=str(exc)[:2000], failed_at=clock())
            refusal, hard_bounce = str(exc), exc.hard_bounce
        else:
            row = _mark_sent(message, rendered.subject, clock(), recheck_next=following)
            if row is not _NOT_READ:
                ahead[following] = row
            result.sent += 1
            return True
    result.failed += 1
    if hard_bounce:
        suppression_add(email=message.to_email, reason=SuppressionReason.HARD_BOUNCE,
                        detail=refusal)
    return True


def dispatch_batch(*, now: datetime | None = None, batch: int | None = None) -> DispatchResult:
    """Claim and send one batch (due steps first, then retries and orphans), then write
    the clicks whose burst window has closed. ``now``: the clock of the whole batch (see
    the module text); by default the real time, read per message as it is sent."""
    clock: Clock = (lambda: now) if now is not None else timezone.now
    now = now or timezone.now()
    batch = batch or settings.NURTURE_DISPATCH_BATCH
    result = DispatchResult()
    with schedule.zone_pinned():  # due times of the whole batch: one time zone read
        claimed = _claim_due_steps(now, batch, result)
        retries = _claim_queued(now, batch - len(claimed))
        send_messages(retries, result, clock=clock, claimed=claimed)
        result.recorded += _record_orphans(now, batch)
    # The beat task that sends is also what writes clicks once their burst window has
    # closed (nurture.services.tracking): every few seconds, on every worker.
    result.clicks += clicks_record(now=now, limit=batch)
    return result


def dispatch_run(*, seconds: float | None = None, batch: int | None = None) -> DispatchResult:
    """Batches until nothing is due or ``seconds`` have passed (the beat task's run)."""
    seconds = settings.NURTURE_DISPATCH_SECONDS if seconds is None else seconds
    deadline = time.monotonic() + seconds
    total = DispatchResult()
    while True:
        result = dispatch_batch(batch=batch)
        total.add(result)
        if not (result.claimed or result.sent or result.deferred or result.failed
                or result.cancelled or result.held or result.exited or result.recorded
                or result.clicks):
            break
        if time.monotonic() >= deadline:
            break
    return total
