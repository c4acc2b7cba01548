"""Queueing each accepted submission's follow-up task, off the request's path.

A submission's activity is committed before its follow-up task is queued (the outbox:
capture.services.submissions). Publishing one Celery task per submission was a fifth of
a submission's CPU, and with the broker down every submission waited for the broker's
connection timeout before it was answered. Instead, the activity's id goes to this
process's ``follow_ups`` and a background thread sends the ids that arrived within
FOLLOW_UP_BATCH_SECONDS as one ``activities_process`` task (one ``activity_process``
for a lone id): at 250 submissions/s a process publishes about 12 tasks a second, not
250.

Nothing is lost when this process dies with ids still waiting (a SIGKILL, a crash): the
activities are committed and unprocessed, and the outbox sweep re-queues them after
ACTIVITY_REDISPATCH_AFTER_SECONDS. An orderly exit sends what is waiting (atexit), and
a broker that fails a send is logged; the sweep covers those too. With Celery running
tasks eagerly (tests) or FOLLOW_UP_BATCH_SECONDS = 0, each task is queued at once, in
the caller's thread, as before.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections.abc import Callable

from django.conf import settings

logger = logging.getLogger(__name__)

MAX_BATCH = 200  # ids per task: one task's work stays well inside its time limit
MAX_WAITING = 20_000  # beyond this (a broker down for long), ids are left to the sweep


def celery_send(activity_ids: list[int]) -> None:
    from capture.tasks import activities_process, activity_process

    if len(activity_ids) == 1:
        activity_process.delay(activity_ids[0])
    else:
        activities_process.delay(activity_ids)


def _eager() -> bool:
    # Django's setting, not the Celery app's conf: reading that costs more than a
    # submission's rate-limit check.
    return bool(getattr(settings, "CELERY_TASK_ALWAYS_EAGER", False))


class FollowUps:
    """Activity ids waiting for their follow-up task, sent in groups by one thread."""

    def __init__(self, send: Callable[[list[int]], None] = celery_send, *,
                 window: float | None = None, max_batch: int = MAX_BATCH,
                 max_waiting: int = MAX_WAITING):
        self.send = send
        self._window = window
        self.max_batch = max_batch
        self.max_waiting = max_waiting
        self._start()

    def _start(self) -> None:
        """(Re)set the state: at construction, and in a process forked from one that
        had a thread (which the child does not inherit)."""
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._waiting: list[int] = []
        self._sending = 0
        self._urgent = False
        self._dropped = 0
        self._thread: threading.Thread | None = None

    @property
    def window(self) -> float:
        return settings.FOLLOW_UP_BATCH_SECONDS if self._window is None else self._window

    def add(self, activity_id: int) -> None:
        """Queue the follow-up task of this (committed) activity."""
        if self.window <= 0 or _eager():
            self._send([activity_id])
            return
        if self._pid != os.getpid():
            self._start()
        with self._lock:
            if len(self._waiting) >= self.max_waiting:
                self._dropped += 1
                if self._dropped == 1 or self._dropped % 1000 == 0:
                    logger.warning("%d follow-up tasks waiting (is the broker down?); "
                                   "%d more left to the outbox sweep", len(self._waiting),
                                   self._dropped)
                return
            self._waiting.append(activity_id)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="follow-ups",
                                                daemon=True)
                self._thread.start()
                atexit.register(self.flush)
            if len(self._waiting) == 1 or len(self._waiting) >= self.max_batch:
                self._changed.notify_all()

    def flush(self, timeout: float = 10.0) -> bool:
        """Send what is waiting now, and wait until it (and any group being sent) is
        out; False if that took longer than ``timeout``."""
        if self._pid != os.getpid():
            return True  # a fork's copy: nothing of this process waits in it
        deadline = time.monotonic() + timeout
        with self._lock:
            self._urgent = True
            self._changed.notify_all()
            while self._waiting or self._sending:
                left = deadline - time.monotonic()
                if left <= 0 or self._thread is None or not self._thread.is_alive():
                    break
                self._changed.wait(left)
            self._urgent = False
            left_over, self._waiting = self._waiting, []
        # No thread to send them (it died, or flush ran at exit after it): send here.
        for start in range(0, len(left_over), self.max_batch):
            self._send(left_over[start:start + self.max_batch])
        return not left_over or time.monotonic() < deadline

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._waiting:
                    self._changed.wait()
                # The first id opens a window; others that arrive in it go with it.
                deadline = time.monotonic() + self.window
                while len(self._waiting) < self.max_batch and not self._urgent:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._changed.wait(left)
                batch = self._waiting[:self.max_batch]
                del self._waiting[:self.max_batch]
                self._sending += 1
            try:
                self._send(batch)
            finally:
                with self._lock:
                    self._sending -= 1
                    self._changed.notify_all()

    def _send(self, batch: list[int]) -> None:
        try:
            self.send(batch)
        except Exception:
            # As Django's robust on_commit does: the activities are committed, and the
            # outbox sweep queues them once the broker is back.
            logger.exception("Follow-up tasks of %d activities (%s…) not queued; the "
                             "outbox sweep re-queues them", len(batch), batch[0])


follow_ups = FollowUps()
