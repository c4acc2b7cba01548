"""``manage.py quickstart`` (``make run``) as a person uses it: a real process on the real
settings and the embedded default (SQLite and the filesystem broker in a fresh
LEADHUB_VAR_DIR), stopped with Ctrl-C. Nothing here goes through the test settings."""

# Every URL opened here is http://127.0.0.1 of the server the test started.
# ruff: noqa: S310

import contextlib
import http.cookiejar
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="reads the process tree from /proc"
)

BASE_DIR = Path(__file__).resolve().parents[2]
# Whatever configures LeadHub (or the test run) must not leak into the real thing.
CLEARED = ("DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE",
           "SECRET_KEY", "DEBUG", "ALLOWED_HOSTS", "HTTPS", "HOST", "PORT", "EMAIL_URL",
           "CELERY_TASK_ALWAYS_EAGER", "STATIC_ROOT", "MEDIA_ROOT")
BANNER = re.compile(r"LeadHub is running at (http://\S+) — log in as admin / (\S+)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Quickstart:
    """A ``manage.py quickstart`` process, its output and its process tree."""

    def __init__(self, var_dir: Path, *args: str, port: int | None = None):
        self.port = port or free_port()
        self.var_dir = var_dir
        env = {k: v for k, v in os.environ.items() if k not in CLEARED}
        env.update(LEADHUB_VAR_DIR=str(var_dir), PORT=str(self.port), PYTHONUNBUFFERED="1")
        self.lines: list[str] = []
        self.process = subprocess.Popen(  # noqa: S603 (our own argv)
            [sys.executable, "manage.py", "quickstart", *args],
            cwd=BASE_DIR,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # so the test run's own Ctrl-C doesn't reach it
        )
        self.seen: dict[int, str] = {}  # every descendant ever seen: pid → start time
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, pattern: str, timeout: float = 60) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.descendants()  # remember them while they are around
            if match := re.search(pattern, self.output, re.MULTILINE):
                return match
            if self.process.poll() is not None:
                break
            time.sleep(0.25)
        pytest.fail(f"no {pattern!r} in quickstart's output after {timeout} s "
                    f"(exit code {self.process.poll()}):\n{self.output[-6000:]}")

    def descendants(self) -> dict[int, str]:
        parents: dict[int, list[int]] = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit() and (stat := _stat(int(entry.name))):
                parents.setdefault(int(stat[3]), []).append(int(entry.name))
        found, todo = {}, [self.process.pid]
        while todo:
            for child in parents.get(todo.pop(), []):
                if stat := _stat(child):
                    found[child] = stat[21]
                    todo.append(child)
        self.seen.update(found)
        return found

    def still_running(self) -> list[str]:
        """Descendants seen earlier that are still alive (not merely unreaped)."""
        alive = []
        for pid, started in self.seen.items():
            stat = _stat(pid)
            if stat and stat[21] == started and stat[2] != "Z":
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
                alive.append(f"{pid}: {cmdline.decode(errors='replace')[:120]}")
        return alive

    def kill_everything(self):
        for pid, started in [(self.process.pid, None), *self.seen.items()]:
            stat = _stat(pid)
            if stat and (started is None or stat[21] == started):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)


def _stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat (0-based: 2 state, 3 ppid, 21 start time)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name (field 1) is in parentheses and may contain spaces.
    head, _, rest = raw.rpartition(")")
    return [head.split(" (")[0], "", *rest.split()]


@pytest.fixture
def quickstart(tmp_path):
    started: list[Quickstart] = []

    def start(*args: str, **kwargs) -> Quickstart:
        run = Quickstart(tmp_path / "var", *args, **kwargs)
        started.append(run)
        return run

    yield start
    for run in started:
        run.kill_everything()


def no_redirects() -> urllib.request.OpenerDirector:
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(NoRedirect, urllib.request.HTTPCookieProcessor(jar))
    opener.jar = jar
    return opener


def log_in(base_url: str, username: str, password: str) -> tuple[int, str, set[str]]:
    """Sign in through the real login form: GET it for the CSRF cookie and token, POST."""
    opener = no_redirects()
    with opener.open(f"{base_url}accounts/login/", timeout=10) as response:
        page = response.read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    form = urllib.parse.urlencode(
        {"username": username, "password": password, "csrfmiddlewaretoken": token}
    ).encode()
    request = urllib.request.Request(f"{base_url}accounts/login/", data=form)
    try:
        with opener.open(request, timeout=10) as response:
            status, location = response.status, ""
    except urllib.error.HTTPError as redirect:  # 302 after a successful sign-in
        status, location = redirect.code, redirect.headers.get("Location", "")
    return status, location, {cookie.name for cookie in opener.jar}


def unprocessed_activities(var_dir: Path) -> int:
    with sqlite3.connect(var_dir / "leadhub.sqlite3", timeout=20) as db:
        return db.execute(
            "SELECT count(*) FROM capture_activity WHERE processed_at IS NULL"
        ).fetchone()[0]


def test_it_runs_web_worker_and_beat_until_ctrl_c(quickstart):
    run = quickstart()

    url, password = run.wait_for(BANNER.pattern, timeout=120).groups()
    run.wait_for(r"^worker\s+\| .*celery@\S+ ready\.")
    run.wait_for(r"^beat\s+\| .*beat: Starting")

    assert url == f"http://127.0.0.1:{run.port}/"
    with urllib.request.urlopen(f"{url}accounts/login/", timeout=10) as response:
        assert response.status == 200
        login_page = response.read().decode()
    with urllib.request.urlopen(f"{url}healthz", timeout=10) as response:
        assert json.loads(response.read()) == {"status": "ok", "database": "ok"}
    # Static files come from whitenoise, out of the collected, hashed files.
    css = re.search(r'href="(/static/[^"]+\.css)"', login_page)
    if css:
        with urllib.request.urlopen(f"{url}{css.group(1).lstrip('/')}", timeout=10) as r:
            assert r.status == 200

    # The printed password is the stored one, and it signs in.
    stored = json.loads((run.var_dir / "credentials.json").read_text())
    assert stored["admin"] == password
    assert (run.var_dir / "credentials.json").stat().st_mode & 0o777 == 0o600
    status, location, cookies = log_in(url, "admin", password)
    assert (status, "sessionid" in cookies) == (302, True), (status, location)
    assert log_in(url, "admin", "not-the-password")[0] == 200

    # The worker drains what the demo data queued through the filesystem broker.
    deadline = time.monotonic() + 90
    while unprocessed_activities(run.var_dir) and time.monotonic() < deadline:
        run.descendants()
        time.sleep(1)
    assert unprocessed_activities(run.var_dir) == 0

    tree = run.descendants()
    assert len(tree) >= 6, tree  # gunicorn + 2 workers, celery + its pool, beat
    # Links made without a request (emails, snippets) point at this run's port.
    web = next(pid for pid in tree
               if b"gunicorn" in Path(f"/proc/{pid}/cmdline").read_bytes())
    environ = Path(f"/proc/{web}/environ").read_bytes().split(b"\0")
    assert f"PUBLIC_URL=http://127.0.0.1:{run.port}".encode() in environ

    run.process.send_signal(signal.SIGINT)
    assert run.process.wait(timeout=15) == 0, run.output[-3000:]
    run._reader.join(timeout=5)
    assert "Stopped." in run.output
    assert run.still_running() == []


def test_it_stops_everything_when_one_process_dies(quickstart):
    run = quickstart("--no-demo-data")
    run.wait_for(BANNER.pattern, timeout=120)
    run.wait_for(r"^beat\s+\| .*beat: Starting")
    run.wait_for(r"^worker\s+\| .*celery@\S+ ready\.")
    beat = next(pid for pid in run.descendants()
                if b" beat " in Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" "))

    os.kill(beat, signal.SIGKILL)

    assert run.process.wait(timeout=20) != 0
    run._reader.join(timeout=5)
    assert "beat exited unexpectedly" in run.output
    assert run.still_running() == []


def test_it_refuses_a_port_that_is_taken(quickstart):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        run = quickstart(port=taken.getsockname()[1])

        assert run.process.wait(timeout=60) != 0
    run._reader.join(timeout=5)
    assert "already in use" in run.output
    assert not (run.var_dir / "leadhub.sqlite3").exists()  # it gave up before migrating
