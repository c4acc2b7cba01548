"""A broker outage with drip steps coming due (issue 5): a real Celery worker and a real
Celery beat on a Redis of their own; the Redis process is stopped while steps come due,
and started again on the same port. The steps are sent after it returns, each exactly
once: the due times live in Postgres, not in the broker, so nothing is lost with the
broker's (unpersisted) contents, and the (enrollment, step) constraint means nothing is
sent twice whatever the worker and beat replay when they reconnect.

Needs Postgres (the worker is another process, reading the test database) and
``redis-server`` on PATH. It never touches the shared Redis: it starts a private
``redis-server`` (no persistence) on a free port in a temporary directory.
"""

import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone

from nurture.models import EmailMessage, Enrollment, MessageStatus
from tests.capture.test_outbox_e2e import ROOT, _database_url
from tests.conftest import _free_port
from tests.factories import LeadFactory
from tests.nurture.conftest import enroll, make_sequence
from tests.nurture.test_fault_e2e import _wait, worker

REDIS_SERVER = shutil.which("redis-server")

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(REDIS_SERVER is None,
                       reason="needs redis-server on PATH (apt-get install redis-server)"),
]

# Issue 5 says "stop Redis for a minute", and that is the default: a minute is long
# enough for the worker's and beat's reconnect pauses to grow (2, 4, 6, 8 … s, then
# 30 s), which a shorter outage would not show. NURTURE_REDIS_OUTAGE_SECONDS shortens it
# for a quick local run.
OUTAGE_SECONDS = float(os.environ.get("NURTURE_REDIS_OUTAGE_SECONDS", "60"))
BEFORE = 5  # leads whose step is sent before the outage (the setup works)
DURING = 15  # leads whose step comes due while Redis is down


class PrivateRedis:
    """``redis-server`` on ``port``, no persistence, started and stopped by the test."""

    def __init__(self, port: int, directory: Path):
        self.port, self.directory = port, directory
        self.url = f"redis://127.0.0.1:{port}/0"
        self.process: subprocess.Popen | None = None
        directory.mkdir(parents=True, exist_ok=True)

    def start(self) -> None:
        command = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1",
                   "--save", "", "--appendonly", "no", "--daemonize", "no",
                   "--dir", str(self.directory)]
        with (self.directory / "redis.log").open("ab") as out:
            self.process = subprocess.Popen(command, stdout=out,  # noqa: S603
                                            stderr=subprocess.STDOUT, start_new_session=True)
        _wait(self.ping, 15, f"redis-server on port {self.port}")

    def ping(self) -> bool:
        import redis

        try:
            return bool(redis.Redis(port=self.port, socket_timeout=0.5).ping())
        except redis.RedisError:
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


@contextmanager
def private_redis(directory: Path):
    server = PrivateRedis(_free_port(), directory)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def beat(broker_url: str, tmp_path: Path):
    """``celery -A leadhub beat`` in its own process: queues nurture_dispatch every 5 s
    (leadhub/celery.py), as in production."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    log = tmp_path / "beat.log"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "leadhub.settings",
        "DATABASE_URL": _database_url(),
        "CELERY_BROKER_URL": broker_url,
        "SECRET_KEY": settings.SECRET_KEY,
        "LEADHUB_VAR_DIR": str(tmp_path / "var"),
        "REDIS_URL": "",
    }
    command = [sys.executable, "-m", "celery", "-A", "leadhub", "beat", "--loglevel", "INFO",
               "--schedule", str(tmp_path / "celerybeat-schedule")]
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


def _sent(leads) -> int:
    return EmailMessage.objects.filter(status=MessageStatus.SENT,
                                       enrollment__lead__in=leads).count()


def test_steps_due_while_redis_is_down_are_sent_once_after_it_returns(
    smtp, tmp_path, settings
):
    settings.ACTIVITY_HANDLERS = []
    sequence = make_sequence()
    early = LeadFactory.create_batch(BEFORE)
    late = LeadFactory.create_batch(DURING)
    for lead in [*early, *late]:
        enroll(sequence, lead)
    # The late ones come due during the outage (moved there below).
    Enrollment.objects.filter(lead__in=late).update(
        next_due_at=timezone.now() + timedelta(days=1))

    with private_redis(tmp_path / "redis") as redis_server, \
            worker(redis_server.url, tmp_path / "worker", smtp.port) as (w, worker_log), \
            beat(redis_server.url, tmp_path / "beat") as (b, beat_log):

        def logs() -> str:
            return (f"\nworker:\n{worker_log.read_text(errors='replace')[-4000:]}"
                    f"\nbeat:\n{beat_log.read_text(errors='replace')[-4000:]}")

        _wait(lambda: _sent(early) == BEFORE, 60, f"the steps due before the outage{logs()}")

        redis_server.stop()
        down_at = timezone.now()
        Enrollment.objects.filter(lead__in=late).update(
            next_due_at=down_at + timedelta(seconds=2))
        time.sleep(OUTAGE_SECONDS)
        assert _sent(late) == 0, "sent while the broker was down?"
        assert w.poll() is None and b.poll() is None, f"a process gave up{logs()}"

        redis_server.start()  # same port, empty: whatever was queued is gone
        back_at = timezone.now()
        _wait(lambda: _sent(late) == DURING, 120, f"the steps due during the outage{logs()}")

    received = Counter(m["To"] for m in smtp.messages)
    assert received == Counter({lead.email: 1 for lead in [*early, *late]})
    messages = EmailMessage.objects.filter(enrollment__lead__in=late)
    assert messages.count() == DURING
    assert all(m.status == MessageStatus.SENT and m.sent_at >= back_at for m in messages)
    assert EmailMessage.objects.filter(status=MessageStatus.SENT).count() == BEFORE + DURING
    assert not EmailMessage.objects.exclude(status=MessageStatus.SENT).exists()
