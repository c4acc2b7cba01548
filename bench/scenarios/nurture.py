"""Nurture (issue 5): drip dispatch into a local SMTP server with 2 Celery worker
processes. Target: ≥ 500 emails/s, 0 duplicates.

Part of a plain ``make bench`` (before scoring, which replaces the leads); alone with
``make bench BENCH_ARGS="--only nurture"``. Needs Redis; starts its own Celery worker,
beat and SMTP server. Sizes and
services from the environment: NURTURE_BENCH_EMAILS (due steps, default 100,000; at
most the eligible leads of the 100,000 the other scenarios use), NURTURE_BENCH_BROKER
(default redis://127.0.0.1:6379/14; the run flushes that Redis database),
NURTURE_BENCH_BATCH (NURTURE_DISPATCH_BATCH for the workers, default 200),
NURTURE_BENCH_SHARED=1 (the follow-up tasks on the same worker, see 3.).

1. Data: the scenarios' 100,000 leads (``ctx.ensure_leads``); a one-step sequence with
   merge fields, a tracked link, the open pixel and the footer (what real sends render);
   one active enrollment per eligible lead (stage lead or MQL), all due now, inserted
   set-based.
2. Services: an SMTP server (aiosmtpd, its own process: ``python -m
   bench.scenarios.nurture --smtp PORT FILE``) that accepts everything and writes one line
   per message (recipient, Message-ID); a Celery worker with 2 processes (prefork,
   concurrency 2) on bench.settings, sending to that server.
3. Celery beat with LeadHub's schedule (leadhub/celery.py): a
   ``nurture.tasks.nurture_dispatch`` run every 5 s, each claiming batches for up to
   NURTURE_DISPATCH_SECONDS (30 s, the default) while steps are due, as in production.
   The run waits until every step is sent (or a time limit), stops beat, the worker and
   the server, and flushes the queues. The ``email_sent`` activities' follow-up tasks
   (scoring, triggers, goal checks: one per batch, its handlers once per activity) are
   routed to a queue the worker does not consume (``BENCH_FOLLOW_UPS_QUEUE``, see
   bench/settings.py), so the figure is the dispatcher's; on the same two processes they
   took turns with it and the run did 90.8 emails/s.
4. Figures: emails/s (first claim to last accepted send, from the database), duplicates
   at the SMTP server (recipients with more than one message; must be 0), messages the
   server got vs rows marked sent, and the lag from due time to send (median, max: it
   grows with the backlog, since everything is due at once).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from bench.registry import Context, Figure, Scenario, register

NAME = "nurture"
EMAILS = int(os.environ.get("NURTURE_BENCH_EMAILS", "100000"))
BROKER = os.environ.get("NURTURE_BENCH_BROKER", "redis://127.0.0.1:6379/14")
BATCH = os.environ.get("NURTURE_BENCH_BATCH", "200")
LEADS = 100_000
TARGET_PER_SECOND = 500.0
# Where the email_sent activities' follow-up tasks go (bench/settings.py): a queue the
# worker does not consume, so the figure is the dispatcher's; counted, then flushed.
FOLLOW_UPS = "bench-follow-ups"
# NURTURE_BENCH_SHARED=1: the follow-up tasks go to the default queue the same worker
# consumes, as a deployment without dedicated dispatcher workers runs them.
SHARED = os.environ.get("NURTURE_BENCH_SHARED", "") == "1"
ROOT = Path(__file__).resolve().parent.parent.parent


def setup(ctx: Context) -> None:
    ctx.ensure_leads(LEADS)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_port(port: int, seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"SMTP server did not listen on {port}")


def _prepare(count: int) -> int:
    """A fresh sequence with one step and ``count`` due enrollments; returns how many."""
    from django.db import connection, transaction

    from nurture.models import EmailMessage, Enrollment, Sequence, Suppression
    from nurture.services import sequence_create
    from pipeline.models import PipelineSettings

    with transaction.atomic():
        EmailMessage.objects.all().delete()
        Enrollment.objects.all().delete()
        Sequence.objects.all().delete()
        Suppression.objects.all().delete()
        # Beat also runs the speed-to-lead alerts, and the bench's MQLs (up to a year in
        # the stage) are untouched by design: an SLA longer than their age keeps the
        # alert emails out of this run (3,600 reached the SMTP server in an earlier one,
        # counted as duplicates then; a week's SLA still let 1,800 through).
        PipelineSettings.load()
        PipelineSettings.objects.update(sla_minutes=10 * 365 * 24 * 60)
        # No exit stage: every one of the 100,000 leads is due (with exit at SQL, the
        # quarter of the bench leads past MQL would exit instead of being mailed).
        sequence = sequence_create(
            name="Bench drip", status="active", exit_on_stage="",
            steps=[{"subject": "Hello {{ first_name|default:\"there\" }}, your guide",
                    "preheader": "Five minutes that pay off",
                    "body": "Hi {{ first_name|default:\"there\" }},\n\n"
                            "Here is **the guide** for {{ company|default:\"your team\" }}: "
                            "[read it](https://www.example.com/guide).\n\n"
                            "- one\n- two\n- three\n\nThanks!",
                    "delay_minutes": 0}],
        )
        step = sequence.steps.get()
        with connection.cursor() as cursor:
            # The bench data unsubscribes ~3 % of leads, who are never mailed: consent
            # for all of them, so the run has its full count of due steps.
            cursor.execute("UPDATE capture_lead SET unsubscribed_at = NULL "
                           "WHERE unsubscribed_at IS NOT NULL")
            cursor.execute(
                """
                INSERT INTO nurture_enrollment
                    (sequence_id, lead_id, state, exit_reason, source, next_step_id,
                     next_due_at, held_for_optin, enrolled_at)
                SELECT %s, id, 'active', '', 'api', %s, now(), false, now()
                FROM capture_lead
                WHERE unsubscribed_at IS NULL
                ORDER BY id LIMIT %s
                """,
                [sequence.pk, step.pk, count],
            )
            made = cursor.rowcount
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE nurture_enrollment")
    return made


def _env(port: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "CELERY_BROKER_URL": BROKER,
        "EMAIL_URL": f"smtp://127.0.0.1:{port}",
        "NURTURE_DISPATCH_BATCH": BATCH,
        "BENCH_FOLLOW_UPS_QUEUE": "" if SHARED else FOLLOW_UPS,
        "PUBLIC_URL": "https://leadhub.example.org",
        "LOG_LEVEL": "WARNING",
    })
    return env


def _celery(env: dict[str, str], *args: str, **kwargs) -> subprocess.Popen:
    # Its own session, so stopping it reaches the prefork children too.
    return subprocess.Popen([sys.executable, "-m", "celery", "-A", "leadhub", *args],
                            cwd=ROOT, env=env, start_new_session=True, **kwargs)


def _stop(process: subprocess.Popen | None, seconds: float = 20.0) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(seconds)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _queued(queue: str) -> int:
    """Tasks waiting in a queue of the bench's Redis broker (kombu keeps a list per queue)."""
    import redis

    return redis.Redis.from_url(BROKER).llen(queue)


def _flush_broker(env: dict[str, str]) -> None:
    subprocess.run([sys.executable, "-m", "celery", "-A", "leadhub", "purge", "-f",
                    "-Q", f"celery,nurture,{FOLLOW_UPS}"],
                   cwd=ROOT, env=env, capture_output=True, timeout=60, check=False)


def run(ctx: Context) -> list[Figure]:
    from django.db.models import Max, Min

    from nurture.models import EmailMessage, MessageStatus

    count = _prepare(EMAILS)
    print(f"  {count:,} due steps", flush=True)
    port = _free_port()
    env = _env(port)
    fd, log_path = tempfile.mkstemp(prefix="nurture-smtp-", suffix=".log")
    os.close(fd)
    smtp = worker = beat = None
    beat_dir = tempfile.mkdtemp(prefix="nurture-beat-")
    figures: list[Figure] = []
    try:
        smtp = subprocess.Popen([sys.executable, "-m", "bench.scenarios.nurture", "--smtp",
                                 str(port), log_path], cwd=ROOT, env=env,
                                start_new_session=True)
        _wait_for_port(port)
        _flush_broker(env)
        worker = _celery(env, "worker", "--pool=prefork", "--concurrency=2",
                         "--loglevel=WARNING", "--without-gossip", "--without-mingle",
                         "--without-heartbeat")
        beat = _celery(env, "beat", "--loglevel=WARNING",
                       f"--schedule={beat_dir}/schedule", f"--pidfile={beat_dir}/beat.pid")
        deadline = time.monotonic() + max(120.0, count / 50)
        sent = 0
        while time.monotonic() < deadline:
            time.sleep(1.0)
            sent = EmailMessage.objects.filter(status=MessageStatus.SENT).count()
            done = EmailMessage.objects.exclude(status=MessageStatus.QUEUED).count()
            print(f"\r  sent {sent:,}/{count:,}", end="", flush=True)
            if done >= count:
                break
        print(flush=True)
        follow_ups = _queued(FOLLOW_UPS)
    finally:
        _stop(beat)
        _stop(worker)
        _stop(smtp)
        _flush_broker(env)
        shutil.rmtree(beat_dir, ignore_errors=True)

    sent = EmailMessage.objects.filter(status=MessageStatus.SENT).count()
    span = EmailMessage.objects.aggregate(first=Min("created_at"), last=Max("sent_at"))
    seconds = (span["last"] - span["first"]).total_seconds() if span["last"] else 0.0
    rate = sent / seconds if seconds else 0.0
    lines = Path(log_path).read_text().splitlines()
    os.unlink(log_path)
    # Only the sequence's emails (their Message-ID is <nurture.<id>@…>): anything else
    # beat's other tasks mailed is counted apart.
    nurture_lines = [line for line in lines if "\t<nurture." in line]
    per_recipient = Counter(line.split("\t")[0] for line in nurture_lines)
    duplicates = sum(n - 1 for n in per_recipient.values() if n > 1)
    lags = sorted(
        (m.sent_at - m.enrollment.enrolled_at).total_seconds()
        for m in EmailMessage.objects.filter(status=MessageStatus.SENT)
        .select_related("enrollment").only("sent_at", "enrollment__enrolled_at")
    )
    failed = EmailMessage.objects.exclude(status=MessageStatus.SENT).count()
    figures += [
        Figure(NAME, "emails/s (2 worker processes"
               + (", follow-up tasks on them too)" if SHARED else ")"), round(rate, 1), "/s",
               ok=rate >= TARGET_PER_SECOND and sent == count,
               note=f"{sent:,} of {count:,} sent in {seconds:.1f} s; target ≥ "
                    f"{TARGET_PER_SECOND:.0f}/s"),
        Figure(NAME, "duplicates at the SMTP server", duplicates, "", ok=duplicates == 0),
        Figure(NAME, "messages received vs rows sent", f"{len(nurture_lines):,} / {sent:,}",
               "", ok=len(nurture_lines) == sent,
               note=f"{failed:,} not sent; {len(lines) - len(nurture_lines):,} other emails "
                    f"(beat's other tasks); {follow_ups:,} follow-up tasks left queued"),
    ]
    if lags:
        figures += [
            Figure(NAME, "lag due → sent, median", round(lags[len(lags) // 2], 1), "s"),
            Figure(NAME, "lag due → sent, max", round(lags[-1], 1), "s"),
        ]
    return figures


register(Scenario(
    name=NAME,
    title="drip dispatch: due steps → local SMTP server, 2 Celery worker processes",
    setup=setup,
    run=run,
))


# --- The SMTP server process ---------------------------------------------------------------


def _serve_smtp(port: int, path: str) -> None:
    import threading

    from aiosmtpd.controller import Controller

    out = open(path, "a", buffering=1)  # noqa: SIM115 - open for the process's life

    class Sink:
        async def handle_DATA(self, server, session, envelope):
            message_id = ""
            head = envelope.content[:envelope.content.find(b"\r\n\r\n")]
            for line in head.split(b"\r\n"):  # the headers only: the sink shares the CPU
                if line.lower().startswith(b"message-id:"):
                    message_id = line.split(b":", 1)[1].strip().decode()
            for rcpt in envelope.rcpt_tos:
                out.write(f"{rcpt.lower()}\t{message_id}\n")
            return "250 OK"

    controller = Controller(Sink(), hostname="127.0.0.1", port=port)
    controller.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.is_set():
            time.sleep(0.2)
    finally:
        controller.stop()
        out.close()


if __name__ == "__main__" and sys.argv[1:2] == ["--smtp"]:
    _serve_smtp(int(sys.argv[2]), sys.argv[3])
