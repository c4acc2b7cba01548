"""The pipeline board (issue 6) on 100,000 open leads (stages lead, MQL, SQL and
opportunity; 5 % customers and disqualified on top) with their deals: the board data
endpoint under wrk (target ≥ 100 req/s at 8 clients), and in-process the board page,
one column's next page and the endpoint: server time (target ≤ 150 ms) and SQL
statements, counted on 1,000 open leads and again on 100,000 (they must be equal).

The column totals (per stage: a COUNT and a SUM of deal values) are cached for a few
seconds per filter set (pipeline.selectors.board_column_totals_cached), so a board
request costs one thing when the totals are computed (the first request for a filter set,
after any move, every few seconds) and another when they come from the cache. Both are
timed and counted in-process; under wrk most requests find them cached (each gunicorn
worker keeps its own local-memory cache unless REDIS_URL is set).
"""

from __future__ import annotations

import cProfile
import html
import json
import pstats
import re
import statistics
import time

from bench.registry import Context, Figure, Measurement, Scenario, Target, register

NAME = "board"
BOARD_API = "/api/v1/board/"
BOARD_PAGE = "/board/"
SMALL = 1_000  # open leads for the second query count
CLOSED_SHARE = 0.05  # customers and disqualified on top of the open leads
COLUMNS = 6
# Issue 6 and DESIGN.md, "Performance targets": the pipeline board.
TARGET_MS = 150
TARGET_RPS = 100  # GET /api/v1/board/ at TARGET_CLIENTS concurrent clients
TARGET_CLIENTS = 8
REPEAT = 20  # timed requests per in-process figure (after two warm-ups)

_state: dict[str, object] = {}


# --- Data -----------------------------------------------------------------------------------


def board_data() -> tuple[int, int, int]:
    """(open leads, closed leads, deals with a value) in the database."""
    from bench.data import OPEN_STAGES
    from capture.models import Lead
    from pipeline.models import Deal

    open_ = Lead.objects.filter(stage__in=OPEN_STAGES).count()
    closed = Lead.objects.exclude(stage__in=OPEN_STAGES).count()
    return open_, closed, Deal.objects.filter(value__isnull=False).count()


def ensure_board_leads(ctx: Context, open_count: int) -> None:
    """Make the database hold exactly ``open_count`` open leads, CLOSED_SHARE closed ones
    on top, and their deals (bench.data: ~5 activities per lead), unless it does."""
    from bench import data

    closed_count = round(open_count * CLOSED_SHARE)
    open_, closed, deals = board_data()
    if (open_, closed) == (open_count, closed_count) and deals:
        print(f"  reusing {open_:,} open + {closed:,} closed leads, {deals:,} deal values")
    else:
        started = time.perf_counter()
        owners = data.make_users()
        data.clear_leads()  # TRUNCATE … CASCADE: deals and transitions go with them
        print(f"  making {open_count:,} open + {closed_count:,} closed leads and deals…",
              flush=True)
        opened = data.make_leads(open_count, owner_ids=owners, stage_mix=data.OPEN_STAGE_MIX)
        # A few thousand rows on top: kept in the indexes as they go (rebuilding every
        # index of 100,000 leads and their activities again would take longer).
        shut = data.make_leads(closed_count, owner_ids=owners,
                               stage_mix=data.CLOSED_STAGE_MIX, rebuild_indexes=False)
        rows = data.make_deals()
        seconds = time.perf_counter() - started
        open_, closed, deals = board_data()
        note = (f"{opened}; closed: {shut}; {rows:,} deal rows, {deals:,} with a value")
        print(f"  made {note}", flush=True)
        ctx.figures.append(Figure(
            NAME, f"make {open_count:,} open + {closed_count:,} closed leads and deals",
            round(seconds, 1), "s", note=note))
        if open_ != open_count:  # a bug in the data maker, not a slow board
            ctx.figures.append(Figure(NAME, "open leads made", f"{open_:,}",
                                      ok=False, note=f"expected {open_count:,}"))
    # Not the data maker's leads-only set: the next scenario's ensure_leads must reload.
    ctx.made_leads = None
    _state["open"], _state["closed"], _state["deals"] = open_, closed, deals
    _clear_cache()


def _clear_cache() -> None:
    """Cached column totals of the data replaced are no longer true (the local-memory
    cache is this process's; with REDIS_URL it is gunicorn's too)."""
    from django.core.cache import cache

    cache.clear()


def setup(ctx: Context) -> None:
    from django.db import DatabaseError, connection, transaction

    _state["api_headers"] = ctx.api_headers()
    # 1. The query counts on 1,000 open leads, for the comparison with 100,000.
    ensure_board_leads(ctx, SMALL)
    _state["small"] = {request.label: count_queries(request) for request in requests()}
    # 2. The measured data.
    ensure_board_leads(ctx, ctx.args.leads)
    # The load wrote a lot of WAL: checkpoint now, so the checkpoint it causes does not
    # land in the measured runs (as ingest does).
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("CHECKPOINT")
    except DatabaseError as exc:  # needs superuser or pg_checkpoint
        print(f"  (no CHECKPOINT after the load: {exc})".strip(), flush=True)


# --- The wrk target -------------------------------------------------------------------------


def check_board(body: bytes) -> str | None:
    """Six columns of cards whose counts add up to the open leads made, and deal sums."""
    from bench.data import OPEN_STAGES

    try:
        columns = json.loads(body)["columns"]
        counts = {c["stage"]: c["count"] for c in columns}
        sums = {c["stage"]: float(c["deal_total"]) for c in columns}
        cards = [len(c["results"]) for c in columns]
    except (ValueError, KeyError, TypeError):
        return f"not the board's columns: {body[:200]!r}"
    if len(columns) != COLUMNS:
        return f"{len(columns)} columns, expected {COLUMNS}"
    open_ = sum(counts.get(stage, 0) for stage in OPEN_STAGES)
    if open_ != _state.get("open"):
        return f"the columns count {open_:,} open leads, the database holds {_state['open']:,}"
    if not all(sums.get(stage) for stage in OPEN_STAGES):
        return f"a column without a deal total: {sums}"
    if min(cards) < 1:
        return f"a column without cards: {cards}"
    return None


def targets(ctx: Context) -> list[Target]:
    return [Target(path=BOARD_API, headers=ctx.api_headers(), check=check_board,
                   label="GET /api/v1/board/")]


def rate_check(ctx: Context, measured: list[Measurement]) -> list[Figure]:
    """The board data endpoint's req/s at TARGET_CLIENTS against TARGET_RPS."""
    runs = {m.clients: m for m in measured if not m.warmup and not m.failure}
    name = f"GET /api/v1/board/ req/s at {TARGET_CLIENTS} clients (target ≥ {TARGET_RPS})"
    m = runs.get(TARGET_CLIENTS)
    if m is None:
        return [Figure(NAME, name, f"n/a (no successful run at {TARGET_CLIENTS} clients)",
                       ok=False if measured else None)]
    return [Figure(NAME, name, f"{m.rps:,.1f}", "req/s", ok=m.rps >= TARGET_RPS,
                   note=f"p50 {m.p50_ms:.1f} ms, p99 {m.p99_ms:.1f} ms")]


# --- In-process: server time and SQL statements --------------------------------------------


class Request:
    """One board request through Django's test client, as an API client or a rep."""

    def __init__(self, label: str, path: str, *, api: bool, column_of: str = ""):
        self.label, self.path, self.api, self.column_of = label, path, api, column_of

    def client(self):
        from django.contrib.auth import get_user_model
        from django.test import Client

        from bench import db

        if self.api:
            return Client(headers=_state["api_headers"], HTTP_HOST="127.0.0.1")
        client = Client(HTTP_HOST="127.0.0.1")
        # A sales rep: the board's everyday user (can move cards, sees every lead).
        rep = get_user_model().objects.filter(username__startswith="bench-rep-").first()
        client.force_login(rep or get_user_model().objects.get(username=db.API_USERNAME))
        return client

    def url(self, client) -> str:
        """The path; for a next page, with the cursor the first page of the column gives."""
        if not self.column_of:
            return self.path
        first = client.get(self.column_of)
        if self.api:
            cursor = json.loads(first.content)["columns"][0]["next_cursor"]
            if not cursor:
                raise RuntimeError(f"{self.column_of} gave no next_cursor")
            return f"{self.path}{'&' if '?' in self.path else '?'}cursor={cursor}"
        # The "Load more" button's hx-get: the next page's URL, as the board's script gets it.
        found = re.search(r'hx-get="([^"]*cursor=[^"]*)"', first.content.decode())
        if not found:
            raise RuntimeError(f"{self.column_of} has no next-page link")
        return html.unescape(found.group(1))


def requests() -> list[Request]:
    return [
        Request("GET /api/v1/board/", BOARD_API, api=True),
        Request("GET /api/v1/board/ next page of a column",
                f"{BOARD_API}?column=lead", api=True, column_of=f"{BOARD_API}?column=lead"),
        Request("GET /board/ (the page)", BOARD_PAGE, api=False),
        Request("GET /board/column/lead/ next page", "/board/column/lead/", api=False,
                column_of="/board/column/lead/"),
    ]


def _plain_static():
    """The harness has no collectstatic manifest; {% static %} needs only plain storage."""
    from django.conf import settings
    from django.test.utils import override_settings

    return override_settings(STORAGES={
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    })


def count_queries(request: Request) -> dict[str, int]:
    """SQL statements of one request, with the column totals computed and cached."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with _plain_static():
        client = request.client()
        url = request.url(client)
        client.get(url)  # the first request of a process asks a few things once
        counts = {}
        for state in ("computed", "cached"):
            if state == "computed":
                _clear_cache()
            else:
                client.get(url)  # fills the cache (and warms up)
            with CaptureQueriesContext(connection) as captured:
                response = client.get(url)
            if response.status_code != 200:
                raise RuntimeError(f"{request.label} ({url}) answered {response.status_code}")
            counts[state] = len(captured.captured_queries)
            counts[f"{state}_sql"] = statement_summary(captured.captured_queries)
    return counts


def statement_summary(queries: list[dict]) -> str:
    """The statements' time in the driver, by what they are for."""
    kinds: dict[str, list[float]] = {}
    for q in queries:
        sql = q["sql"]
        kind = ("column totals" if "GROUP BY" in sql
                else "cards" if 'ORDER BY "capture_lead"."score" DESC' in sql
                else "other")
        kinds.setdefault(kind, []).append(float(q["time"]) * 1000)
    total = sum(sum(v) for v in kinds.values())
    parts = ", ".join(f"{kind} {sum(v):.0f} ms ({len(v)})" for kind, v in kinds.items())
    return f"{total:.0f} ms in the driver: {parts}"


def time_request(request: Request) -> dict[str, list[float]]:
    """Server time of REPEAT requests with the totals computed (cache cleared before
    each, outside the timing) and REPEAT with them cached, after two warm-ups."""
    with _plain_static():
        client = request.client()
        url = request.url(client)
        for _ in range(2):
            client.get(url)
        times: dict[str, list[float]] = {"computed": [], "cached": []}
        for _ in range(REPEAT):
            _clear_cache()
            started = time.perf_counter()
            client.get(url)
            times["computed"].append((time.perf_counter() - started) * 1000)
        client.get(url)
        for _ in range(REPEAT):
            started = time.perf_counter()
            client.get(url)
            times["cached"].append((time.perf_counter() - started) * 1000)
    return times


def _p90(values: list[float]) -> float:
    values = sorted(values)
    return values[int(len(values) * 0.9) - 1]


def run(ctx: Context) -> list[Figure]:
    small = _state.get("small") or {}
    big_n, small_n = ctx.args.leads, SMALL
    figures = []
    for request in requests():
        times = time_request(request)
        computed, cached = times["computed"], times["cached"]
        worst = statistics.median(computed)
        figures.append(Figure(
            NAME, f"{request.label}: server time (target ≤ {TARGET_MS} ms), totals computed "
            "median / p90 · cached median",
            f"{worst:.1f} / {_p90(computed):.1f} · {statistics.median(cached):.1f}", "ms",
            ok=worst <= TARGET_MS))
        big = count_queries(request)
        few = small.get(request.label)
        note = f"with {big_n:,} leads, totals computed: {big['computed_sql']}"
        if few is None:
            figures.append(Figure(NAME, f"{request.label}: SQL per request",
                                  f"{big['computed']} (no {small_n:,}-lead count)", "queries",
                                  ok=False, note=note))
            continue
        figures.append(Figure(
            NAME, f"{request.label}: SQL per request, {small_n:,} vs {big_n:,} open leads "
            "(must be equal)",
            f"{few['computed']} vs {big['computed']} (totals computed), "
            f"{few['cached']} vs {big['cached']} (cached)", "queries",
            ok=all(few[s] == big[s] for s in ("computed", "cached")), note=note))
    figures.append(profile_api())
    return figures


# Steps of GET /api/v1/board/, by the function that does each (cumulative: a step includes
# what it calls; indented steps are inside the one above).
STEPS = [
    ("whole request", "django/test/client.py", "request"),
    ("authentication and permissions", "rest_framework/views.py", "initial"),
    ("board view", "pipeline/api/board.py", "get"),
    ("  column totals (cached or computed)", "pipeline/board.py", "totals_json"),
    ("  the filters (django-filter)", "pipeline/selectors/board.py", "board_filter"),
    ("  first pages: query and rows", "pipeline/selectors/board.py",
     "board_columns_first_cards"),
    ("    SQL compilation", "django/db/models/sql/compiler.py", "as_sql"),
    ("  cards as JSON (CardMaker.row_json)", "pipeline/board.py", "row_json"),
    ("response rendering (JSON)", "rest_framework/response.py", "rendered_content"),
    ("all SQL in the driver", "psycopg/cursor.py", "execute"),
]
PROFILED = 100


def profile_api() -> Figure:
    """cProfile (CPU clock) of GET /api/v1/board/ with the totals cached, as most requests
    under wrk find them: shares of the request by step."""
    from django.test import Client

    client = Client(headers=_state["api_headers"], HTTP_HOST="127.0.0.1")
    for _ in range(3):
        client.get(BOARD_API)
    started = time.process_time()
    for _ in range(PROFILED):
        client.get(BOARD_API)
    cpu = (time.process_time() - started) * 1000 / PROFILED
    profiler = cProfile.Profile(time.process_time)
    profiler.enable()
    for _ in range(PROFILED):
        client.get(BOARD_API)
    profiler.disable()
    stats = pstats.Stats(profiler)
    total, parts = None, []
    for label, path_part, function in STEPS:
        cumulative = sum(
            entry[3] for (filename, _, name), entry in stats.stats.items()
            if name == function and filename.endswith(path_part))
        if total is None:
            total = cumulative or 1.0
        parts.append(f"{label.strip()} {cumulative / total:.0%}")
    return Figure(NAME, f"GET /api/v1/board/, totals cached: CPU per request (cProfile of "
                  f"{PROFILED} for the shares)", f"{cpu:.1f}", "ms", note="; ".join(parts))


register(Scenario(
    name=NAME,
    title="pipeline board on 100,000 open leads with deals: /api/v1/board/ under wrk; "
          "page, next page and endpoint in-process",
    setup=setup,
    targets=targets,
    after=rate_check,
    run=run,
    # leads-api: a token-authenticated API read of the same 100,000 leads (50 of them).
    compare_to=["ceiling-json", "leads-api"],
))
