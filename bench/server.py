"""gunicorn for the benchmark: started on a free local port, stopped on every way out."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

WORKERS = 2
THREADS = 4  # per gthread worker
# mode -> (description, gunicorn arguments)
MODES: dict[str, tuple[str, list[str]]] = {
    "sync": (f"{WORKERS} sync workers", ["--worker-class", "sync"]),
    "gthread": (
        f"{WORKERS} gthread workers × {THREADS} threads",
        ["--worker-class", "gthread", "--threads", str(THREADS)],
    ),
}
ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``with Server(mode, log_path) as server: … server.base_url …``"""

    def __init__(self, mode: str, log_path: Path):
        self.mode = mode
        self.description = MODES[mode][0]
        self.log_path = log_path
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> Server:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self, ready_timeout: float = 60.0) -> None:
        command = [
            sys.executable, "-m", "gunicorn", "leadhub.wsgi:application",
            "--bind", f"127.0.0.1:{self.port}",
            "--workers", str(WORKERS), *MODES[self.mode][1],
            "--chdir", str(ROOT),
            "--backlog", "2048", "--timeout", "120",
            "--log-level", "warning", "--no-control-socket",
        ]
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "bench.settings"}
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        # gunicorn's own log and Django's (500s and their tracebacks) both go to stderr.
        with self.log_path.open("ab") as log:
            # Own session: Ctrl-C reaches the harness only, which stops gunicorn in order.
            self.process = subprocess.Popen(command, env=env, cwd=ROOT, start_new_session=True,
                                            stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"gunicorn exited with {self.process.returncode}; see {self.log_path}:\n"
                    + self.log_tail()
                )
            if self._answers():
                return
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"gunicorn did not answer within {ready_timeout:g} s:\n"
                           + self.log_tail())

    def _answers(self) -> bool:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
            conn.request("GET", "/bench/json/")
            return conn.getresponse().status == 200
        except OSError:
            return False

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM (graceful: finish in-flight requests), then SIGKILL the group."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def log_problems(self) -> int:
        """Lines in the log that report errors (tracebacks, ERROR, CRITICAL)."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return 0
        return sum(1 for line in text.splitlines()
                   if line.startswith("Traceback") or " ERROR " in line
                   or "[ERROR]" in line or "CRITICAL" in line)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text().splitlines()[-lines:])
        except OSError:
            return "(no log)"
