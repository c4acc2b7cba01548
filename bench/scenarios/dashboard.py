"""The funnel dashboard (/dashboard/) over 1,000,000 leads, in-process: server time of the
page for the default 30 days, 90 days, this quarter, a whole year, and 30 days filtered
by source and by owner (DESIGN.md: ≤ 1 s), and its SQL statements, counted on 10,000
and on 1,000,000 leads (must be equal).

Run it with ``make bench BENCH_ARGS="--only dashboard"`` (not part of a plain ``make
bench``: it makes 1,000,000 leads with stage histories, milestone rows and submissions,
about a minute, and replaces the leads the other scenarios use). DASHBOARD_BENCH_LEADS
(default 1,000,000) and DASHBOARD_BENCH_REPEAT (default 10) change the size and the
number of timed requests. No gunicorn: Django's test client, as a marketer.
"""

from __future__ import annotations

import math
import os
import statistics
import time
from datetime import timedelta

from bench.registry import Context, Figure, Scenario, register

NAME = "dashboard"
LEADS = int(os.environ.get("DASHBOARD_BENCH_LEADS", "1000000"))
SMALL = 10_000
REPEAT = int(os.environ.get("DASHBOARD_BENCH_REPEAT", "10"))
TARGET_MS = 1000
PAGE = "/dashboard/"
MARKETER = "bench-marketer"
SOURCE = "google"

_state: dict = {}


def requests() -> list[tuple[str, str]]:
    """(label, query string) of each page measured; the owner is bench-rep-1."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    today = timezone.localdate()
    owner = get_user_model().objects.get(username="bench-rep-1").pk
    year = f"period=custom&start={today - timedelta(days=364)}&end={today}"
    return [
        ("last 30 days (the default)", ""),
        ("last 90 days", "period=90d"),
        ("this quarter", "period=quarter"),
        ("a whole year (365 days)", year),
        (f"last 30 days, source {SOURCE}", f"source={SOURCE}"),
        ("last 30 days, owner bench-rep-1", f"owner={owner}"),
    ]


# --- Data -----------------------------------------------------------------------------------


def make_data(ctx: Context, count: int) -> None:
    """Exactly ``count`` leads (no activities: the dashboard reads none), their stage
    histories and milestone rows, and their form posts; made anew every run."""
    from bench import data

    started = time.perf_counter()
    owners = data.make_users()
    data.clear_leads()  # TRUNCATE … CASCADE: transitions, milestones, submissions go too
    print(f"  making {count:,} leads, their stage histories and submissions…", flush=True)
    made = data.make_leads(count, activities_per_lead=0, owner_ids=owners,
                           verbose=count > SMALL)
    histories = data.make_stage_histories(verbose=count > SMALL)
    posts = data.make_submissions()
    seconds = time.perf_counter() - started
    note = f"{made.leads:,} leads; {histories}; {posts:,} submissions"
    print(f"  made {note} ({seconds:.1f} s)", flush=True)
    if count > SMALL:
        ctx.figures.append(Figure(
            NAME, f"make {count:,} leads, stage histories, milestones and submissions",
            round(seconds, 1), "s", note=note))
        ctx.figures.append(Figure(
            NAME, f"milestone backfill (migration 0006's statement) over "
            f"{histories.transitions:,} transitions", round(histories.milestone_seconds, 1),
            "s", note=f"{histories.milestones:,} rows"))
    ctx.made_leads = None  # not ensure_leads' set: the next scenario must make its own
    from django.core.cache import cache

    cache.clear()  # the source menu of the data replaced


def _marketer():
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from leadhub.roles import MARKETER as ROLE

    user, created = get_user_model().objects.get_or_create(
        username=MARKETER, defaults={"email": f"{MARKETER}@leadhub.test",
                                     "first_name": "Bench", "last_name": "Marketer"})
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
        user.groups.add(Group.objects.get(name=ROLE))
    return user


def setup(ctx: Context) -> None:
    from django.db import DatabaseError, connection, transaction

    make_data(ctx, SMALL)
    _state["small"] = {label: count_queries(query) for label, query in requests()}
    make_data(ctx, LEADS)
    try:  # the load wrote a lot of WAL: its checkpoint must not land in the timings
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("CHECKPOINT")
    except DatabaseError as exc:  # needs superuser or pg_checkpoint
        print(f"  (no CHECKPOINT after the load: {exc})".strip(), flush=True)


# --- In-process: server time and SQL statements ------------------------------------------


def _client():
    from django.test import Client

    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(_marketer())
    return client


def _plain_static():
    """The harness has no collectstatic manifest; {% static %} needs only plain storage."""
    from django.conf import settings
    from django.test.utils import override_settings

    return override_settings(STORAGES={
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    })


def _get(client, query: str):
    response = client.get(f"{PAGE}?{query}" if query else PAGE)
    if response.status_code != 200:
        raise RuntimeError(f"{PAGE}?{query} answered {response.status_code}")
    return response


def count_queries(query: str) -> dict:
    """The statements of one request (after a first one: the session, the cached source
    menu), and where their time went."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with _plain_static():
        client = _client()
        _get(client, query)
        with CaptureQueriesContext(connection) as captured:
            _get(client, query)
    statements = captured.captured_queries
    slowest = max(statements, key=lambda q: float(q["time"]))
    return {
        "count": len(statements),
        "driver_ms": sum(float(q["time"]) for q in statements) * 1000,
        "slowest_ms": float(slowest["time"]) * 1000,
        "slowest": " ".join(slowest["sql"].split())[:60],
    }


def time_requests(query: str) -> list[float]:
    """Server time of REPEAT requests, after two warm-ups."""
    with _plain_static():
        client = _client()
        for _ in range(2):
            _get(client, query)
        times = []
        for _ in range(REPEAT):
            started = time.perf_counter()
            _get(client, query)
            times.append((time.perf_counter() - started) * 1000)
    return times


def cold_menu_ms() -> float:
    """The default page with the source menu not cached (its first request in 5 minutes:
    a DISTINCT over every lead's source)."""
    from django.core.cache import cache

    with _plain_static():
        client = _client()
        _get(client, "")
        cache.clear()
        started = time.perf_counter()
        _get(client, "")
        return (time.perf_counter() - started) * 1000


def run(ctx: Context) -> list[Figure]:
    small = _state.get("small") or {}
    figures = []
    print(f"  timing {len(requests())} pages, {REPEAT} requests each…", flush=True)
    for label, query in requests():
        times = sorted(time_requests(query))
        median = statistics.median(times)
        p90 = times[math.ceil(len(times) * 0.9) - 1]
        figures.append(Figure(
            NAME, f"{label}: server time (target ≤ {TARGET_MS} ms), median / p90 / max",
            f"{median:.0f} / {p90:.0f} / {times[-1]:.0f}", "ms", ok=median <= TARGET_MS,
            note=f"GET {PAGE}{'?' + query if query else ''}"))
        big = count_queries(query)
        few = small.get(label)
        note = (f"with {LEADS:,} leads: {big['driver_ms']:.0f} ms in the database driver, "
                f"the slowest statement {big['slowest_ms']:.0f} ms ({big['slowest']}…)")
        figures.append(Figure(
            NAME, f"{label}: SQL per request, {SMALL:,} vs {LEADS:,} leads (must be equal)",
            f"{few['count'] if few else 'n/a'} vs {big['count']}", "queries",
            ok=few is not None and few["count"] == big["count"], note=note))
    figures.append(Figure(NAME, "last 30 days with the source menu not cached (its first "
                          "request in 5 minutes)", f"{cold_menu_ms():.0f}", "ms"))
    return figures


register(Scenario(
    name=NAME,
    title="funnel dashboard page over 1,000,000 leads with stage histories, in-process: "
          "30 days, 90 days, quarter, year, 30 days by source and by owner (≤ 1 s)",
    setup=setup,
    run=run,
    # Only with --only dashboard: its data takes about a minute to make.
    default=False,
))
