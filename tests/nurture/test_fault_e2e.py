"""At most one email per step with real Celery worker processes: a worker killed with
SIGKILL in the middle of a batch, and a new worker taking over, leave every recipient
with exactly one email.

Needs Postgres (the workers are other processes, reading the test database) and a real
Redis broker (settings.REAL_BROKER_URL, from CELERY_BROKER_URL); the test empties that
Redis database first.
"""

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.conf import settings

from nurture.models import EmailMessage, MessageStatus
from nurture.tasks import nurture_dispatch
from tests.capture.test_outbox_e2e import ROOT, _database_url, publishing_to
from tests.factories import LeadFactory
from tests.nurture.conftest import end_leases, enroll, make_sequence

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not settings.REAL_BROKER_URL.startswith("redis"),
        reason="needs a real Redis broker: set CELERY_BROKER_URL=redis://127.0.0.1:6379/12",
    ),
]

LEADS = 20
KILL_AT = 8  # the worker dies while the server holds this message's RCPT


def _wait(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@contextmanager
def worker(broker_url: str, tmp_path: Path, smtp_port: int):
    """``celery -A leadhub worker`` in its own process, on the test database, mailing the
    test's SMTP server."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    log = tmp_path / "worker.log"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "leadhub.settings",
        "DATABASE_URL": _database_url(),
        "CELERY_BROKER_URL": broker_url,
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "SECRET_KEY": settings.SECRET_KEY,
        "LEADHUB_VAR_DIR": str(tmp_path / "var"),
        "EMAIL_URL": f"smtp://127.0.0.1:{smtp_port}",
        "REDIS_URL": "",
        "NURTURE_DISPATCH_SECONDS": "60",
    }
    command = [sys.executable, "-m", "celery", "-A", "leadhub", "worker", "--pool", "solo",
               "--without-gossip", "--without-mingle", "--without-heartbeat",
               "--loglevel", "INFO", "--hostname", f"nurture-e2e-{os.getpid()}@%h"]
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out,  # noqa: S603
                                   stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield process, log
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


@pytest.fixture
def slow_rcpt(smtp):
    """The SMTP server answers each RCPT after a pause and tells the test when it holds
    the KILL_AT-th one (so the kill lands while that message is not yet accepted)."""
    holding = threading.Event()
    seen = []
    accept = smtp.handle_RCPT

    async def handle_RCPT(server, session, envelope, address, rcpt_options):
        seen.append(address)
        if len(seen) == KILL_AT:
            holding.set()
            await asyncio.sleep(10)  # the client is killed meanwhile
        return await accept(server, session, envelope, address, rcpt_options)

    smtp.handle_RCPT = handle_RCPT
    return holding


def test_a_worker_killed_mid_batch_and_a_new_one_send_each_step_exactly_once(
    smtp, slow_rcpt, tmp_path, settings
):
    import redis

    settings.ACTIVITY_HANDLERS = []
    broker_url = settings.REAL_BROKER_URL
    redis.Redis.from_url(broker_url).flushdb()
    sequence = make_sequence()
    leads = LeadFactory.create_batch(LEADS)
    for lead in leads:
        enroll(sequence, lead)
    with worker(broker_url, tmp_path / "first", smtp.port) as (process, log), \
            publishing_to(broker_url):
        nurture_dispatch.delay()
        assert slow_rcpt.wait(30), log.read_text(errors="replace")
        os.killpg(process.pid, signal.SIGKILL)  # kill -9, mid-batch
        process.wait()
    assert len(smtp.messages) == KILL_AT - 1
    queued = EmailMessage.objects.filter(status=MessageStatus.QUEUED)
    assert queued.count() == LEADS - (KILL_AT - 1)  # claimed, leased, not sent

    # The dead worker's lease ends (5 minutes in production, on the database's clock;
    # ended here).
    assert end_leases() == LEADS - (KILL_AT - 1)
    with worker(broker_url, tmp_path / "second", smtp.port) as (process, log), \
            publishing_to(broker_url):
        nurture_dispatch.delay()
        _wait(lambda: not EmailMessage.objects.filter(status=MessageStatus.QUEUED).exists(),
              60, f"the second worker; it said:\n{log.read_text(errors='replace')}")

    received = Counter(m["To"] for m in smtp.messages)
    assert received == Counter({lead.email: 1 for lead in leads})
    assert EmailMessage.objects.filter(status=MessageStatus.SENT).count() == LEADS
