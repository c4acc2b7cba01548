"""Submissions' follow-up tasks, queued in groups from a background thread
(capture.followups)."""

import base64
import json
import threading
import time
from urllib.parse import urlsplit

import pytest
from django.conf import settings

from capture.followups import FollowUps, follow_ups
from tests.brokers import publishing_to


class Sent:
    """A send function that records each group, and in which thread it ran."""

    def __init__(self, fail_first: int = 0, gate: threading.Event | None = None):
        self.groups: list[list[int]] = []
        self.threads: list[str] = []
        self.fail_first = fail_first
        self.gate = gate

    def __call__(self, ids: list[int]) -> None:
        if self.gate is not None:
            self.gate.wait(5)
        self.threads.append(threading.current_thread().name)
        if self.fail_first:
            self.fail_first -= 1
            raise ConnectionError("broker unreachable")
        self.groups.append(list(ids))

    def wait_for(self, count: int, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while sum(map(len, self.groups)) < count and time.monotonic() < deadline:
            time.sleep(0.01)


@pytest.fixture
def not_eager(monkeypatch):
    monkeypatch.setattr("capture.followups._eager", lambda: False)


def test_ids_that_arrive_within_the_window_go_as_one_task_in_order(not_eager):
    sent = Sent()
    queue = FollowUps(sent, window=0.3)

    for activity_id in (7, 3, 9):
        queue.add(activity_id)
    assert sent.groups == []  # not yet: the window is open
    sent.wait_for(3)

    assert sent.groups == [[7, 3, 9]]
    assert sent.threads == ["follow-ups"]  # not the request's thread


def test_a_full_group_goes_at_once_and_flush_sends_the_rest(not_eager):
    sent = Sent()
    queue = FollowUps(sent, window=60, max_batch=2)

    for activity_id in range(1, 6):
        queue.add(activity_id)
    sent.wait_for(4)
    assert sent.groups == [[1, 2], [3, 4]]  # full groups, without waiting a minute

    assert queue.flush() is True
    assert sent.groups == [[1, 2], [3, 4], [5]]


def test_a_failed_send_is_logged_and_later_ids_still_go(not_eager, caplog):
    sent = Sent(fail_first=1)
    queue = FollowUps(sent, window=0.01)

    queue.add(1)
    queue.flush()
    queue.add(2)
    queue.flush()

    assert "not queued; the outbox sweep re-queues them" in caplog.text
    assert sent.groups == [[2]]


def test_ids_beyond_the_limit_are_left_to_the_outbox_sweep(not_eager, caplog):
    gate = threading.Event()
    sent = Sent(gate=gate)  # a broker that hangs
    queue = FollowUps(sent, window=0.01, max_batch=1, max_waiting=3)

    for activity_id in range(1, 8):
        queue.add(activity_id)
        time.sleep(0.02)  # the thread takes the first and hangs on it
    gate.set()
    queue.flush()

    sent_ids = [i for group in sent.groups for i in group]
    assert sent_ids == [1, 2, 3, 4]  # the one in hand, then the 3 that fit
    assert "left to the outbox sweep" in caplog.text


def test_eagerly_run_tasks_and_a_zero_window_are_sent_at_once_in_the_callers_thread(
    monkeypatch,
):
    sent = Sent()
    FollowUps(sent, window=0.5).add(1)  # the test settings run Celery tasks eagerly
    monkeypatch.setattr("capture.followups._eager", lambda: False)
    FollowUps(sent, window=0).add(2)

    assert sent.groups == [[1], [2]]
    assert sent.threads == [threading.current_thread().name] * 2


@pytest.mark.skipif(not settings.REAL_BROKER_URL.startswith("redis"),
                    reason="needs a real Redis broker: set CELERY_BROKER_URL=redis://… "
                    "(CI does); the test uses database 12 on that server")
def test_a_group_reaches_a_real_broker_as_one_activities_process_task(settings):
    import redis

    settings.CELERY_TASK_ALWAYS_EAGER = False

    url = urlsplit(settings.REAL_BROKER_URL)._replace(path="/12").geturl()
    server = redis.Redis.from_url(url)
    server.flushdb()
    with publishing_to(url):
        for activity_id in (11, 12, 13):
            follow_ups.add(activity_id)
        assert follow_ups.flush() is True

    messages = [json.loads(raw) for raw in server.lrange("celery", 0, -1)]
    assert [m["headers"]["task"] for m in messages] == ["capture.tasks.activities_process"]
    args, _kwargs, _embed = json.loads(base64.b64decode(messages[0]["body"]))
    assert args == [[11, 12, 13]]
    server.flushdb()
