"""Settings for ``make bench``: the product's own settings (``leadhub.settings``) as a
production deployment would set them, pointed at the benchmark's own database, plus the
``bench`` app and its two ceiling endpoints under ``/bench/``.

The harness imports these and gives gunicorn the same environment, so both ends agree
(and every gunicorn worker gets the same SECRET_KEY).
"""

import os
import secrets
from pathlib import Path

DEFAULT_BENCH_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/leadhub_bench"
BENCH_DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", DEFAULT_BENCH_DATABASE_URL)

# Forced, not defaulted: a benchmark never runs against the database DATABASE_URL names
# (the harness drops and recreates its own), and never with DEBUG (it keeps every query).
os.environ["DATABASE_URL"] = BENCH_DATABASE_URL
os.environ["DEBUG"] = "0"
os.environ["ALLOWED_HOSTS"] = "127.0.0.1,localhost"
# Throttling stays on (it is part of what an API request costs) but never trips. DRF keeps
# one timestamp per request inside the window, so the window is one second, not a day.
os.environ.setdefault("API_THROTTLE_RATE", "1000000/second")
if not os.environ.get("SECRET_KEY"):
    os.environ["SECRET_KEY"] = secrets.token_urlsafe(50)
os.environ.setdefault(
    "LEADHUB_VAR_DIR", str(Path(__file__).resolve().parent.parent / "var" / "bench")
)

from leadhub.settings import *  # noqa: E402, F403
from leadhub.settings import DATABASES, INSTALLED_APPS, STATIC_ROOT  # noqa: E402

INSTALLED_APPS = [*INSTALLED_APPS, "bench"]
ROOT_URLCONF = "bench.urls"
# Persistent connections: each gunicorn worker (or thread) keeps its own for the whole run.
DATABASES["default"]["CONN_MAX_AGE"] = None
# WhiteNoise warns at every worker start when there is no collected static; the API and
# the ceilings serve none.
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
# The nurture scenario measures the dispatcher: the follow-up tasks of the email_sent
# activities it records (scoring, triggers, goals) go to a queue its worker does not
# consume, as a deployment that gives the dispatcher its own workers would have it. On
# shared workers they take turns with the dispatcher (bench/README.md, "nurture").
if _follow_ups := os.environ.get("BENCH_FOLLOW_UPS_QUEUE"):
    CELERY_TASK_ROUTES = {
        **CELERY_TASK_ROUTES,  # noqa: F405
        "capture.tasks.activity_process": {"queue": _follow_ups},
        "capture.tasks.activities_process": {"queue": _follow_ups},
    }
