"""``manage.py quickstart`` (what ``make run`` runs): LeadHub on one machine, in the
foreground, with nothing else to set up.

Migrates, collects static files, makes sure the admin and demo accounts exist (printing
their passwords), adds demo data to an empty database, then runs gunicorn (web), a
Celery worker and Celery beat until Ctrl-C. Works on the embedded default (SQLite and
Celery's filesystem broker in $LEADHUB_VAR_DIR) and on DATABASE_URL/CELERY_BROKER_URL
(Postgres and Redis) alike.
"""

import errno
import os
import re
import socket
import sys
import time
from urllib.parse import urlsplit

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, connections

from leadhub.demo import bootstrap
from leadhub.demo.accounts import ADMIN_ACCOUNT
from leadhub.health import probe
from leadhub.management.supervisor import Child, Supervisor

READY_TIMEOUT_SECONDS = 60
# Celery logs two lines per task run; every tracked page view is one. Failures, retries
# and everything else still show.
TASK_LINE = re.compile(r"Task [\w.]+\[[0-9a-f-]+\] (received|succeeded)\b")


class Command(BaseCommand):
    help = (
        "Migrate, create the admin and demo accounts and demo data, then run web "
        "(gunicorn), a Celery worker and Celery beat in the foreground until Ctrl-C."
    )

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"),
                            help="Address gunicorn listens on (env HOST; default 127.0.0.1).")
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")),
                            help="Port gunicorn listens on (env PORT; default 8000).")
        parser.add_argument("--no-demo-data", action="store_true",
                            help="Create the accounts but no demo leads.")

    def handle(self, *args, host: str, port: int, no_demo_data: bool, verbosity: int,
               **options):
        _check_port_free(host, port)
        _check_broker()
        self.stdout.write(f"Database: {_describe_database()}")
        call_command("migrate", interactive=False, verbosity=1)
        call_command("collectstatic", interactive=False, verbosity=0)
        logins = bootstrap(demo_data=not no_demo_data, write=self.stdout.write)
        admin = next(login for login in logins if login.account == ADMIN_ACCOUNT)
        # The supervisor itself doesn't use the database; don't keep a connection open
        # for the hours it runs (Postgres) or hold the SQLite file.
        connections.close_all()

        url_host = {"0.0.0.0": "127.0.0.1", "::": "[::1]"}.get(host, host)  # noqa: S104
        if ":" in url_host and not url_host.startswith("["):
            url_host = f"[{url_host}]"
        url = f"http://{url_host}:{port}/"
        login = f"admin / {admin.password}" if admin.password else "admin (your own password)"
        sqlite = connection.vendor == "sqlite"
        filesystem_broker = settings.CELERY_BROKER_URL.startswith("filesystem:")

        def announce(supervisor: Supervisor) -> None:
            deadline = time.monotonic() + READY_TIMEOUT_SECONDS
            while time.monotonic() < deadline:
                ok, _ = probe(f"{url}healthz", timeout=2)
                if ok:
                    supervisor.say(f"LeadHub is running at {url} — log in as {login}")
                    supervisor.say("Press Ctrl-C to stop web, worker and beat.")
                    return
                time.sleep(0.5)
            supervisor.say(f"Web has not answered {url}healthz for "
                           f"{READY_TIMEOUT_SECONDS} s; see its output above.")

        python = sys.executable
        bind = f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"
        children = [
            Child("web", [
                python, "-m", "gunicorn", "leadhub.wsgi:application",
                "--bind", bind,
                "--workers", "2",
                "--timeout", "60",
                "--graceful-timeout", "8",
                "--access-logfile", "-",
                "--access-logformat", '%(h)s "%(r)s" %(s)s %(b)s %(M)sms',
                *_gunicorn_no_control_socket(),
            ]),
            Child("worker", [
                python, "-m", "celery", "-A", "leadhub", "worker", "--loglevel", "INFO",
                # SQLite has one writer at a time: a small pool waits less on the lock.
                *(["--concurrency", "2"] if sqlite else []),
                # The filesystem broker is polled once a second and hands out no more
                # than the prefetch limit per poll: at 1 × 2 processes the demo's backlog
                # would drain at 2 tasks a second. One worker on one machine has nobody
                # to be fair to, so take more per poll.
                *(["--prefetch-multiplier", "32"] if filesystem_broker else []),
                # Nothing to sync with on one machine; saves seconds at every start.
                "--without-mingle", "--without-gossip",
            ], quiet=None if verbosity > 1 else TASK_LINE),
            Child("beat", [
                python, "-m", "celery", "-A", "leadhub", "beat", "--loglevel", "INFO",
                "--schedule", settings.CELERY_BEAT_SCHEDULE_FILENAME,
            ]),
        ]
        env = {
            # Links in emails and snippets point where this run listens (PORT=8001 make
            # run included), unless PUBLIC_URL says where people reach it.
            "PUBLIC_URL": url.rstrip("/"),
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "DJANGO_SETTINGS_MODULE": settings.SETTINGS_MODULE,
        }
        supervisor = Supervisor(children, env=env, cwd=str(settings.BASE_DIR),
                                on_started=announce,
                                quiet_note=" (tasks; -v 2 shows each)")
        supervisor.say(f"Starting web on {url}, a Celery worker and Celery beat…")
        if host not in ("127.0.0.1", "localhost", "::1", "[::1]"):
            supervisor.say(f"Listening on {host}: LeadHub answers only to the names in "
                           f"ALLOWED_HOSTS ({', '.join(settings.ALLOWED_HOSTS)}).")
        code = supervisor.run()
        if code:
            raise CommandError("LeadHub stopped because one of its processes exited.",
                               returncode=code)


def _gunicorn_no_control_socket() -> list[str]:
    # gunicorn 27 opens a control socket in ~/.gunicorn by default, shared by every run
    # of every project on the machine; a local run needs none.
    import gunicorn

    return ["--no-control-socket"] if gunicorn.version_info >= (27,) else []


def _check_port_free(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        # As gunicorn does, so a port in TIME_WAIT after the last run still counts as free.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host.strip("[]"), port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise CommandError(
                    f"Port {port} on {host} is already in use (is LeadHub already running?). "
                    f"Stop that, or pick another port: PORT={port + 1} make run"
                ) from exc
            raise CommandError(f"Cannot listen on {host}:{port}: {exc}") from exc


def _check_broker() -> None:
    """Fail now, with the reason, rather than have every demo activity's task publish
    retry against a broker that isn't there."""
    from leadhub.celery import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=5)
    except Exception as exc:  # kombu raises several types; any means "not reachable"
        raise CommandError(
            f"Cannot reach the Celery broker at {_redact(settings.CELERY_BROKER_URL)}: {exc}. "
            "Start it, or unset CELERY_BROKER_URL to use the embedded filesystem broker."
        ) from exc


def _describe_database() -> str:
    db = settings.DATABASES["default"]
    if connection.vendor == "sqlite":
        return f"SQLite at {db['NAME']}"
    return f"{connection.vendor} {db.get('NAME')} on {db.get('HOST') or 'localhost'}"


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return parts._replace(netloc=netloc).geturl()
    return url
