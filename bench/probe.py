"""Server time and SQL queries of one request, measured in the harness's own process
(Django's test client through the full middleware stack, no network, no load): the
figures to read beside wrk's, and what a "query count does not grow" check needs."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext


@dataclass
class Probe:
    path: str
    status: int
    median_ms: float
    p90_ms: float
    queries: int
    sql_ms: float  # time spent in the database driver, per request
    statements: list[str]


def probe(path: str, *, headers: dict[str, str] | None = None, method: str = "get",
          data=None, content_type: str = "application/json", repeat: int = 30) -> Probe:
    """Run the request ``repeat`` times (after two warm-ups) and return its timings and
    the queries of the last run. ``headers`` as HTTP headers, e.g. Authorization."""
    client = Client(headers=headers or {}, HTTP_HOST="127.0.0.1")
    call = getattr(client, method.lower())
    kwargs = {"data": data, "content_type": content_type} if data is not None else {}
    for _ in range(2):
        call(path, **kwargs)
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        call(path, **kwargs)
        times.append((time.perf_counter() - started) * 1000)
    with CaptureQueriesContext(connection) as captured:
        response = call(path, **kwargs)
    times.sort()
    return Probe(
        path=path,
        status=response.status_code,
        median_ms=statistics.median(times),
        p90_ms=times[int(len(times) * 0.9) - 1],
        queries=len(captured.captured_queries),
        sql_ms=sum(float(q["time"]) for q in captured.captured_queries) * 1000,
        statements=[q["sql"] for q in captured.captured_queries],
    )
