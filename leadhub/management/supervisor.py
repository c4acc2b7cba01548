"""Run a few long-lived processes in the foreground as one: interleaved, prefixed output;
Ctrl-C or SIGTERM stops them all; if one dies, the others are stopped too.

What ``manage.py quickstart`` uses to run web, worker and beat on a laptop (production
runs each under its own supervisor: Docker, systemd, Kubernetes).
"""

import contextlib
import ctypes
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO

COLORS = ["36", "35", "33", "32", "34"]  # cyan, magenta, yellow, green, blue

# Each child is the leader of its own process group (so a terminal's Ctrl-C reaches only
# the supervisor, which then stops the children in order). Should the supervisor die
# without that chance (SIGKILL), Linux sends the child SIGTERM: no orphans left serving.
_PR_SET_PDEATHSIG = 1
try:
    _libc = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None
except OSError:  # pragma: no cover
    _libc = None


def _die_with_parent() -> None:  # runs in the child between fork and exec
    if _libc is not None:
        _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class Child:
    name: str
    argv: list[str]
    process: subprocess.Popen | None = None
    reader: threading.Thread | None = None
    # Routine lines (one per task run, say) that are counted instead of printed, by the
    # pattern's first group: "… 12 received, 12 succeeded".
    quiet: re.Pattern | None = None
    quieted: Counter = field(default_factory=Counter)


class Supervisor:
    def __init__(
        self,
        children: list[Child],
        *,
        env: dict[str, str] | None = None,
        cwd: str | None = None,
        out: TextIO = sys.stdout,
        grace_seconds: float = 10.0,
        on_started: Callable[["Supervisor"], None] | None = None,
        quiet_note: str = "",
    ):
        self.children = children
        self.env = env
        self.cwd = cwd
        self.out = out
        self.grace_seconds = grace_seconds
        self.on_started = on_started
        self.quiet_note = quiet_note
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._signal: int | None = None
        self._signals_seen = 0
        width = max(len(c.name) for c in [*children, Child("quickstart", [])])
        color = out.isatty() and os.environ.get("NO_COLOR") is None
        self._prefix = {
            c.name: (f"\033[{COLORS[i % len(COLORS)]}m{c.name:<{width}} |\033[0m " if color
                     else f"{c.name:<{width}} | ")
            for i, c in enumerate(children)
        }
        self._prefix["quickstart"] = f"{'quickstart':<{width}} | "

    # --- output ------------------------------------------------------------------------

    def say(self, text: str, name: str = "quickstart") -> None:
        with self._lock:
            for line in text.splitlines() or [""]:
                self.out.write(f"{self._prefix[name]}{line}\n")
            self.out.flush()

    def _pump(self, child: Child) -> None:
        assert child.process is not None and child.process.stdout is not None
        for raw in iter(child.process.stdout.readline, b""):
            line = raw.decode(errors="replace").rstrip("\r\n")
            if child.quiet and (match := child.quiet.search(line)):
                with self._lock:
                    child.quieted[match.group(1)] += 1
                continue
            self.say(line, child.name)

    def _report_quieted(self) -> None:
        for child in self.children:
            with self._lock:
                counts, child.quieted = child.quieted, Counter()
            if counts:
                summary = ", ".join(f"{n} {what}" for what, n in sorted(counts.items()))
                self.say(f"… {summary}{self.quiet_note}", child.name)

    def _report_quieted_every(self, seconds: float) -> None:
        while not self._stop.wait(seconds):
            self._report_quieted()

    # --- lifecycle ---------------------------------------------------------------------

    def _on_signal(self, signum, frame) -> None:
        self._signals_seen += 1
        if self._signal is None:
            self._signal = signum
        self._stop.set()

    def run(self) -> int:
        """Start every child; return 0 after a requested stop, 1 if a child died."""
        previous = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            # Start them all before any reader thread exists: preexec_fn is only safe in a
            # process that has a single thread.
            for child in self.children:
                try:
                    child.process = subprocess.Popen(  # noqa: S603 (our own argv)
                        child.argv,
                        stdin=subprocess.DEVNULL,
                        stdout=subprocess.PIPE,
                        stderr=subprocess.STDOUT,
                        env=self.env,
                        cwd=self.cwd,
                        start_new_session=True,
                        preexec_fn=_die_with_parent,
                    )
                except OSError:
                    for started in self.children:
                        if started.process is not None:
                            _kill_group(started)
                            started.process.wait()
                    raise
            for child in self.children:
                child.reader = threading.Thread(target=self._pump, args=(child,), daemon=True)
                child.reader.start()
            if self.on_started:
                threading.Thread(target=self.on_started, args=(self,), daemon=True).start()
            if any(c.quiet for c in self.children):
                threading.Thread(target=self._report_quieted_every, args=(10,),
                                 daemon=True).start()

            failed = self._wait()
            if failed:
                others = [c.name for c in self.children if c is not failed and _alive(c)]
                self.say(
                    f"{failed.name} exited unexpectedly (exit code {failed.process.returncode})"
                    + (f"; stopping {' and '.join(others)}." if others else ".")
                )
                self._stop_all(signal.SIGTERM)
                self.say(f"Stopped because {failed.name} exited.")
                return 1
            name = signal.Signals(self._signal).name if self._signal else "stop"
            self.say(f"{name}: stopping {', '.join(c.name for c in self.children)}…")
            self._stop_all(self._signal or signal.SIGTERM)
            self.say("Stopped.")
            return 0
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def _wait(self) -> Child | None:
        """Block until asked to stop (None) or until a child exits (that child)."""
        while not self._stop.wait(0.2):
            for child in self.children:
                if child.process.poll() is not None:
                    return child
        return None

    def _stop_all(self, signum: int) -> None:
        for child in self.children:
            if _alive(child):
                _signal_leader(child, signum)
        deadline = time.monotonic() + self.grace_seconds
        signals_before = self._signals_seen
        while any(_alive(c) for c in self.children) and time.monotonic() < deadline:
            if self._signals_seen > signals_before:
                break  # Ctrl-C (again) while stopping: the person doesn't want to wait
            time.sleep(0.1)
        for child in self.children:
            if _alive(child):
                self.say(f"{child.name} did not stop within {self.grace_seconds:.0f} s; "
                         "killing it.")
            # Also anything the child left behind in its process group (pool processes).
            _kill_group(child)
            child.process.wait()
        for child in self.children:
            if child.reader is not None:
                child.reader.join(timeout=2)
        self._report_quieted()


def _alive(child: Child) -> bool:
    return child.process is not None and child.process.poll() is None


def _signal_leader(child: Child, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        child.process.send_signal(signum)


def _kill_group(child: Child) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(child.process.pid, signal.SIGKILL)
