"""The outbox invariant end to end, with a real Celery worker process on a real broker:
a submission answered 201 while the broker is unreachable is committed, unprocessed;
once the broker is back, the sweep re-queues it and the worker processes it.

Needs Postgres (the worker is another process, reading the test database) and CI's
broker URL (settings.REAL_BROKER_URL, from CELERY_BROKER_URL); it uses its own Redis
database number on that server (E2E_REDIS_DB), which it empties first.
"""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
from django.conf import settings
from django.db import connection

from capture.followups import follow_ups
from capture.models import Activity, ActivityKind
from capture.tasks import activities_redispatch_unprocessed
from tests.brokers import publishing_to
from tests.factories import FormFactory

ROOT = Path(__file__).resolve().parents[2]
E2E_REDIS_DB = 13
WORKER_DEADLINE = 25.0  # seconds for the worker to start and process the activity

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not settings.REAL_BROKER_URL.startswith("redis"),
        reason="needs a real Redis broker: set CELERY_BROKER_URL=redis://127.0.0.1:6379/0 "
        "(CI does); the test uses database 13 on that server",
    ),
]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once the socket closes


def _own_redis_db(url: str) -> str:
    return urlsplit(url)._replace(path=f"/{E2E_REDIS_DB}").geturl()


def _database_url() -> str:
    """The test database (not the one DATABASE_URL names) as a URL for the worker."""
    db = connection.settings_dict
    credentials = quote(db["USER"] or "", safe="")
    if db["PASSWORD"]:
        credentials += ":" + quote(db["PASSWORD"], safe="")
    host = f"{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
    return f"postgres://{credentials}@{host}/{quote(db['NAME'], safe='')}"


@contextmanager
def worker(broker_url: str, tmp_path: Path):
    """``celery -A leadhub worker`` in its own process, on the test database."""
    log = tmp_path / "worker.log"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "leadhub.settings",
        "DATABASE_URL": _database_url(),
        "CELERY_BROKER_URL": broker_url,
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "SECRET_KEY": settings.SECRET_KEY,
        "LEADHUB_VAR_DIR": str(tmp_path / "var"),
        "EMAIL_URL": "consolemail://",
        "REDIS_URL": "",
    }
    command = [sys.executable, "-m", "celery", "-A", "leadhub", "worker", "--pool", "solo",
               "--without-gossip", "--without-mingle", "--without-heartbeat",
               "--loglevel", "INFO", "--hostname", f"outbox-e2e-{os.getpid()}@%h"]
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out,  # noqa: S603
                                   stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield process, log
    finally:
        process.send_signal(signal.SIGTERM)  # warm shutdown: finish the task in hand
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def test_a_submission_made_while_the_broker_was_down_is_processed_by_a_real_worker(
    client, tmp_path, settings, caplog
):
    import redis

    broker_url = _own_redis_db(settings.REAL_BROKER_URL)
    redis.Redis.from_url(broker_url).flushdb()  # our own database: no stray tasks
    form = FormFactory(with_fields=True)

    settings.CELERY_TASK_ALWAYS_EAGER = False  # as deployed: follow-ups sent in groups
    with publishing_to(f"redis://127.0.0.1:{_closed_port()}/0"):
        response = client.post(f"/api/v1/forms/{form.key}/submissions/",
                               json.dumps({"email": "ann@example.com"}),
                               content_type="application/json")

        follow_ups.flush()  # the task is sent from a background thread: wait for it
    assert response.status_code == 201  # answered: stored, whatever the broker's state
    assert "not queued" in caplog.text  # the queueing failed, and was logged
    activity = Activity.objects.get(kind=ActivityKind.FORM_SUBMITTED)
    assert activity.processed_at is None

    settings.ACTIVITY_REDISPATCH_AFTER_SECONDS = 0
    with worker(broker_url, tmp_path) as (process, log), publishing_to(broker_url):
        assert activities_redispatch_unprocessed() == 1  # the sweep, as beat runs it
        deadline = time.monotonic() + WORKER_DEADLINE
        while time.monotonic() < deadline and process.poll() is None:
            activity.refresh_from_db()
            if activity.processed_at is not None:
                break
            time.sleep(0.2)
        output = log.read_text(errors="replace")

    assert activity.processed_at is not None, f"not processed; the worker said:\n{output}"
    # It was the worker that ran it, not this process.
    assert re.search(r"Task capture\.tasks\.activity_process\[[^\]]+\] succeeded", output)
