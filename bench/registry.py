"""What a benchmark scenario is, and the registry the runner reads.

A scenario is a name, an optional ``setup`` (make the data it needs), and either a list
of wrk ``targets`` (HTTP endpoints driven at each concurrency level) or a ``run``
function (anything else: a management command, Celery workers, …) that returns
``Figure``s, or both. ``after`` may check what a wrk run left behind (rows stored vs 2xx
answered). ``compare_to`` names scenarios whose first target is this one's baseline:
the runner prints req/s and p99 ratios against each, at each concurrency.

See bench/README.md, "Adding a scenario".
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Target:
    """One HTTP endpoint to drive with wrk."""

    path: str
    method: str = "GET"
    # A Lua file in bench/lua/ that shapes requests (bodies, unique values); the harness
    # appends report.lua to it. Its first argument is the run's unique tag.
    script: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    expect_status: int = 200
    # One request the harness sends before the run, to fail fast on a wrong status (wrk
    # itself counts only statuses >= 400 as errors). Must be usable once per run.
    preflight_body: bytes | None = None
    # Checks the preflight's response (status already matched): returns a problem or None.
    check: Callable[[bytes], str | None] | None = None
    # Concurrency levels; default: the runner's --connections (8 and 32).
    connections: Sequence[int] | None = None
    label: str = ""  # shown in the table; default "METHOD path"

    @property
    def name(self) -> str:
        return self.label or f"{self.method} {self.path}"


@dataclass
class Figure:
    """A measured value that is not a wrk row: a data load time, a rescore time, rows
    stored vs answered, emails/s, …"""

    scenario: str
    name: str
    value: Any
    unit: str = ""
    ok: bool | None = None  # True/False when the figure is checked against a target
    note: str = ""
    mode: str = ""  # gunicorn mode, filled in by the runner


@dataclass
class Measurement:
    """One wrk run: a target at one concurrency level."""

    scenario: str
    target: str
    clients: int
    requests: int = 0
    seconds: float = 0.0
    rps: float = 0.0
    p50_ms: float = 0.0
    p90_ms: float = 0.0
    p99_ms: float = 0.0
    max_ms: float = 0.0
    errors: dict[str, int] = field(default_factory=dict)  # connect/read/write/status/timeout
    failure: str = ""  # why there are no figures (endpoint missing, wrong status, …)
    mode: str = ""  # gunicorn mode it ran on
    warmup: bool = False  # a warm-up run: passed to ``after``, left out of the table

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def as_dict(self) -> dict:
        return {**asdict(self), "error_count": self.error_count}


@dataclass
class Context:
    """What setup, run and after functions get."""

    args: argparse.Namespace
    run_tag: str  # unique per run: use it in values that must not repeat across runs
    mode: str = ""  # gunicorn mode, e.g. "sync" or "gthread"
    base_url: str = ""  # http://127.0.0.1:<port> while the server runs
    token: str = ""  # API token of bench-admin (Admin role)
    figures: list[Figure] = field(default_factory=list)
    made_leads: int | None = None  # leads the last ensure_leads() left in place

    @property
    def duration(self) -> float:
        return self.args.duration

    def api_headers(self) -> dict[str, str]:
        return {"Authorization": f"Token {self.token}"}

    def ensure_leads(self, count: int, *, activities_per_lead: int = 5) -> None:
        """Make the database hold exactly ``count`` leads from bench.data (with
        ~``activities_per_lead`` activities each), reloading only when it does not."""
        from bench import data

        if self.made_leads == count or (
            self.made_leads is None and data.lead_count() == count
        ):
            self.made_leads = count
            return
        owners = data.make_users()
        data.clear_leads()
        print(f"  making {count:,} leads…", flush=True)
        made = data.make_leads(count, activities_per_lead=activities_per_lead,
                               owner_ids=owners)
        print(f"  made {made}", flush=True)
        self.figures.append(Figure("data", f"make {count:,} leads", round(made.seconds, 1),
                                   "s", note=str(made)))
        self.made_leads = count


@dataclass
class Scenario:
    name: str
    title: str  # one line: what it measures
    targets: Sequence[Target] | Callable[[Context], Sequence[Target]] = ()
    setup: Callable[[Context], None] | None = None
    run: Callable[[Context], list[Figure]] | None = None
    after: Callable[[Context, list[Measurement]], list[Figure]] | None = None
    compare_to: Sequence[str] = ()
    default: bool = True  # False: only with --only (slow or needs extra services)

    def resolve_targets(self, ctx: Context) -> list[Target]:
        targets = self.targets(ctx) if callable(self.targets) else self.targets
        return list(targets)

    @property
    def needs_server(self) -> bool:
        return bool(self.targets)


REGISTRY: dict[str, Scenario] = {}


def register(scenario: Scenario) -> Scenario:
    if scenario.name in REGISTRY:
        raise ValueError(f"Two scenarios named {scenario.name!r}")
    REGISTRY[scenario.name] = scenario
    return scenario
