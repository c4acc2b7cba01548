"""The pipeline board on 100,000 leads: the board data endpoint under wrk (target
≥ 100 req/s at 8 clients), and in-process the board page, one column's next page and
the endpoint: server time (target ≤ 150 ms) and SQL statements (a fixed number, the same
for 1,000 leads as for 100,000; tests/pipeline proves the count does not grow)."""

import json
import statistics
import time

from bench.registry import Context, Figure, Scenario, Target, register

BOARD_API = "/api/v1/board/"
BOARD_PAGE = "/board/"
TARGET_MS = 150
MAX_QUERIES = 20  # a fixed number: tests/pipeline prove it does not grow with leads


def setup(ctx: Context) -> None:
    ctx.ensure_leads(ctx.args.leads)


def check_board(body: bytes) -> str | None:
    try:
        columns = json.loads(body)["columns"]
    except (ValueError, KeyError, TypeError):
        return f"not the board's columns: {body[:200]!r}"
    if len(columns) != 6:
        return f"{len(columns)} columns, expected 6"
    return None


def targets(ctx: Context) -> list[Target]:
    return [Target(path=BOARD_API, headers=ctx.api_headers(), check=check_board,
                   label="GET /api/v1/board/")]


def _time_html(client, path: str, repeat: int = 20) -> tuple[float, int, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(2):
        client.get(path)
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = client.get(path)
        times.append((time.perf_counter() - started) * 1000)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path)
    return statistics.median(times), len(queries), response.status_code


def run(ctx: Context) -> list[Figure]:
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.test.utils import override_settings

    from bench.probe import probe

    figures = []
    api = probe(BOARD_API, headers=ctx.api_headers(), repeat=20)
    figures += [
        Figure("board", "GET /api/v1/board/ in-process (median / p90)",
               f"{api.median_ms:.1f} / {api.p90_ms:.1f}", "ms", ok=api.median_ms <= TARGET_MS),
        Figure("board", "GET /api/v1/board/ SQL per request", api.queries, "queries",
               ok=api.queries <= MAX_QUERIES),
    ]
    user = get_user_model().objects.filter(is_active=True, is_superuser=False).filter(
        groups__name="Admin").first()
    if user is None:
        return [*figures, Figure("board", "board page", "no Admin user to log in", ok=False)]
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(user)
    # The harness has no collectstatic manifest; {% static %} needs only plain storage.
    plain = override_settings(STORAGES={
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    })
    with plain:
        return figures + _html_figures(client)


def _html_figures(client) -> list[Figure]:
    figures = []
    median, queries, status = _time_html(client, BOARD_PAGE)
    figures += [
        Figure("board", "GET /board/ in-process (median)", f"{median:.1f}", "ms",
               ok=status == 200 and median <= TARGET_MS),
        Figure("board", "GET /board/ SQL per request", queries, "queries",
               ok=queries <= MAX_QUERIES),
    ]
    first = json.loads(client.get(BOARD_API, {"column": "lead"}).content)["columns"][0]
    if first["next_cursor"]:
        path = f"/board/column/lead/?cursor={first['next_cursor']}"
        median, queries, status = _time_html(client, path)
        figures += [
            Figure("board", "one column's next page in-process (median)", f"{median:.1f}",
                   "ms", ok=status == 200 and median <= TARGET_MS),
            Figure("board", "next page SQL per request", queries, "queries",
                   ok=queries <= MAX_QUERIES),
        ]
    return figures


register(Scenario(
    name="board",
    title="The pipeline board on 100,000 leads: /api/v1/board/ under wrk; /board/ in-process",
    setup=setup,
    targets=targets,
    run=run,
    compare_to=["ceiling-json"],
))
