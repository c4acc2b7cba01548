"""Ingest (issue 3): public JSON submissions to POST /api/v1/forms/<key>/submissions/ on
gunicorn + Postgres, half new emails and half repeats (lua/ingest_post.lua), on an empty
database and with 100,000 existing leads; rows stored vs 2xx answered; the targets of
DESIGN.md checked against the ceilings of the same run; and, in-process, what one
submission costs and where its time goes (cProfile).

``ingest`` runs both passes (empty, then 100,000 leads, reported as ``ingest-100k``);
``--only ingest-100k`` runs the second alone.
"""

from __future__ import annotations

import cProfile
import json
import os
import pstats
import statistics
import time

from bench.registry import REGISTRY, Context, Figure, Measurement, Scenario, Target, register

# Every wrk request comes from 127.0.0.1 and posts to one form, and the public endpoint
# limits posts per client address (30/minute by default) and per form. Raised, not
# switched off (the checks still run and cost what they cost), before any settings load:
# the harness imports the scenarios first, and gunicorn inherits this environment.
# (bench/settings.py is the natural home for these two lines.)
os.environ["FORM_RATE_PER_IP"] = "1000000/second"
os.environ["FORM_RATE_PER_FORM"] = "1000000/second"

LEADS = 100_000
FIELDS = ("email", "first_name", "last_name", "company")
PROFILED_REQUESTS = 400
PROBED_REQUESTS = 60
# DESIGN.md, "Performance targets": public form submission.
TARGET_RPS_VS_INSERT = 0.50  # of the one-INSERT ceiling's req/s
TARGET_P99_VS_INSERT = 2.0  # × the one-INSERT ceiling's p99, at 32 clients
TARGET_KEPT_AT_100K = 0.90  # of the rate on an empty database
TARGET_SQL = 6

_state: dict[str, object] = {}
# The ceilings' runs, to check the targets against (the registry gives a scenario no view
# of other scenarios' figures; see remember_runs).
_seen: dict[str, list[Measurement]] = {}


def remember_runs(name: str) -> None:
    """Keep scenario ``name``'s measurements (for the target checks) when it runs,
    without changing what it does."""
    scenario = REGISTRY.get(name)
    if scenario is None:
        return
    original = scenario.after

    def after(ctx: Context, measured: list[Measurement]) -> list[Figure]:
        _seen[name] = [m for m in measured if not m.warmup and not m.failure]
        return original(ctx, measured) if original else []

    scenario.after = after


# --- Setup --------------------------------------------------------------------------------


def _form():
    """A live form with the four fields the Lua script posts (made once per database)."""
    from capture.models import FieldType, Form, FormField, FormStatus

    form = Form.objects.filter(name="bench ingest", status=FormStatus.LIVE).first()
    if form is None:
        form = Form.objects.create(name="bench ingest", status=FormStatus.LIVE, min_seconds=0)
        for position, name in enumerate(FIELDS):
            FormField.objects.create(
                form=form, name=name, position=position, maps_to=name, label=name,
                type=FieldType.EMAIL if name == "email" else FieldType.TEXT,
                required=name == "email",
            )
    return form


def empty_setup(ctx: Context) -> None:
    from bench import data

    data.clear_leads()  # TRUNCATE … CASCADE: submissions and activities go with them
    ctx.made_leads = None  # whatever a scenario before loaded is gone
    _state["form"] = _form()


def leads_setup(ctx: Context) -> None:
    from django.db import DatabaseError, connection, transaction

    ctx.ensure_leads(LEADS)
    _state["form"] = _form()
    # The load wrote a few hundred MB of WAL: checkpoint now, so the checkpoint it
    # causes does not land in the measured runs (steady state is what is measured).
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("CHECKPOINT")
    except DatabaseError as exc:  # needs superuser or pg_checkpoint
        print(f"  (no CHECKPOINT after the load: {exc})".strip(), flush=True)


def submissions_stored() -> int:
    from capture.models import Submission

    return Submission.objects.filter(form=_state["form"]).count()


def targets(ctx: Context) -> list[Target]:
    form = _state["form"]
    preflight = json.dumps({"email": f"preflight-{ctx.run_tag}-{time.monotonic_ns()}"
                                     "@bench.example.com", "first_name": "Ann"})
    return [Target(
        path=f"/api/v1/forms/{form.key}/submissions/",
        method="POST",
        script="ingest_post.lua",
        headers={"Content-Type": "application/json"},
        expect_status=201,
        preflight_body=preflight.encode(),
        check=_check_created,
        label="POST …/submissions/",
    )]


def _check_created(body: bytes) -> str | None:
    try:
        answer = json.loads(body)
    except ValueError:
        return f"not JSON: {body[:200]!r}"
    if not isinstance(answer.get("lead"), int) or not isinstance(answer.get("submission"), int):
        return f"no lead or submission in the answer (spam?): {body[:200]!r}"
    return None


# --- After the runs: rows vs answers, the 100,000-lead pass, the targets --------------------


def rows_vs_answers(scenario: str, runs: list[Measurement], stored: int) -> Figure:
    """Every 2xx is a stored submission. wrk stops with requests in flight, which the
    server may complete (and store) without wrk counting them: up to one per connection
    per run. The 1 is the harness's preflight request."""
    answered = 1 + sum(m.requests - m.errors.get("status", 0) for m in runs if not m.failure)
    in_flight = sum(m.clients for m in runs)
    ok = answered <= stored <= answered + in_flight
    return Figure(scenario, "submissions stored vs 2xx answered", f"{stored:,} / {answered:,}",
                  ok=ok, note=f"up to {in_flight} may be in flight when wrk stops")


def empty_after(ctx: Context, measured: list[Measurement]) -> list[Figure]:
    figures = [rows_vs_answers("ingest", measured, submissions_stored())]
    if "ingest-100k" not in ctx.args.only:
        # The second pass, run from here so `--only ingest` gives both. Its runs go into
        # this scenario's list, under their own scenario name, so the runner prints and
        # compares them like any other (compare_to of ingest-100k).
        from bench.runner import run_target

        print(f"  -- now with {LEADS:,} existing leads (ingest-100k) --", flush=True)
        leads_setup(ctx)
        target = targets(ctx)[0]
        second = run_target(ctx, REGISTRY["ingest-100k"], target)
        measured.extend(second)
        figures.append(rows_vs_answers("ingest-100k", second, submissions_stored()))
        ctx.made_leads = None  # the pass added leads: the next ensure_leads reloads
    figures += target_checks([m for m in measured if not m.warmup and not m.failure])
    return figures


def leads_after(ctx: Context, measured: list[Measurement]) -> list[Figure]:
    figures = [rows_vs_answers("ingest-100k", measured, submissions_stored())]
    ctx.made_leads = None
    return figures


def _by_clients(runs: list[Measurement], scenario: str) -> dict[int, Measurement]:
    return {m.clients: m for m in runs if m.scenario == scenario}


def target_checks(runs: list[Measurement]) -> list[Figure]:
    """DESIGN.md's three ratios for a public form submission, from this run."""
    figures = []
    empty, full = _by_clients(runs, "ingest"), _by_clients(runs, "ingest-100k")
    insert = {m.clients: m for m in _seen.get("ceiling-insert", [])}
    if insert and empty:
        levels = sorted(set(insert) & set(empty))
        ratios = {c: empty[c].rps / insert[c].rps for c in levels if insert[c].rps}
        figures.append(Figure(
            "ingest", f"req/s ÷ one-INSERT ceiling's (target ≥ {TARGET_RPS_VS_INSERT:.0%})",
            "  ".join(f"{c} clients {r:.1%}" for c, r in ratios.items()),
            ok=bool(ratios) and min(ratios.values()) >= TARGET_RPS_VS_INSERT,
            note="; ".join(f"{c}: {empty[c].rps:,.0f} vs {insert[c].rps:,.0f} req/s"
                           for c in ratios),
        ))
        top = max(levels)
        if insert[top].p99_ms:
            ratio = empty[top].p99_ms / insert[top].p99_ms
            figures.append(Figure(
                "ingest", f"p99 ÷ one-INSERT ceiling's p99 at {top} clients "
                f"(target ≤ {TARGET_P99_VS_INSERT:g}×)", f"×{ratio:.2f}",
                ok=ratio <= TARGET_P99_VS_INSERT,
                note=f"{empty[top].p99_ms:.1f} vs {insert[top].p99_ms:.1f} ms",
            ))
    elif empty:
        figures.append(Figure("ingest", "targets vs the one-INSERT ceiling",
                              "n/a (run ceiling-insert in the same run)"))
    if empty and full:
        levels = sorted(set(empty) & set(full))
        kept = {c: full[c].rps / empty[c].rps for c in levels if empty[c].rps}
        figures.append(Figure(
            "ingest-100k", f"rate kept with {LEADS:,} leads (target ≥ {TARGET_KEPT_AT_100K:.0%})",
            "  ".join(f"{c} clients {k:.1%}" for c, k in kept.items()),
            ok=bool(kept) and min(kept.values()) >= TARGET_KEPT_AT_100K,
        ))
    return figures


# --- In-process: cost of one submission, and where the time goes ---------------------------


TRANSACTION_CONTROL = {"BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE"}


def _verb(sql: str) -> str:
    """"SELECT capture_form", "INSERT capture_lead", …: a statement in two words."""
    words = sql.replace('"', "").split()
    verb = words[0].upper()
    upper = [w.upper() for w in words]
    keyword = {"SELECT": "FROM", "INSERT": "INTO", "DELETE": "FROM"}.get(verb)
    if keyword in upper:
        return f"{verb} {words[upper.index(keyword) + 1]}"
    if verb == "UPDATE" and len(words) > 1:
        return f"UPDATE {words[1]}"
    return verb


class StatementTimer:
    """Wall time per statement (and per COMMIT, which Django sends outside cursors), and
    the commits: each COMMIT, and each writing statement run in autocommit (which
    commits by itself, as a submission's one statement on Postgres does)."""

    def __init__(self, connection):
        self.connection = connection
        self.times: dict[str, list[float]] = {}
        self.commits = 0

    def __call__(self, execute, sql, params, many, context):
        verb = sql.split(None, 1)[0].upper()
        if self.connection.get_autocommit() and verb not in ("SELECT", "BEGIN"):
            self.commits += 1
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self._add(_verb(sql), started)

    def _add(self, name: str, started: float) -> None:
        self.times.setdefault(name, []).append((time.perf_counter() - started) * 1000)

    def __enter__(self):
        self._wrapper = self.connection.execute_wrapper(self)
        self._wrapper.__enter__()
        self._commit = self.connection._commit

        def commit():
            self.commits += 1
            started = time.perf_counter()
            try:
                self._commit()
            finally:
                self._add("COMMIT", started)

        self.connection._commit = commit
        return self

    def __exit__(self, *exc):
        self.connection._commit = self._commit
        self._wrapper.__exit__(*exc)

    def summary(self) -> str:
        return " · ".join(f"{name} {statistics.median(values):.2f}"
                          for name, values in self.times.items())


def in_process(ctx: Context) -> list[Figure]:
    """The endpoint without network or concurrency (Django's test client through the full
    stack, in this process, on the database as the runs left it): wall and CPU time of a
    new and of a repeated email, the SQL statements and what each waits, and cProfile of
    the CPU part."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    form = _state["form"]
    client = Client(HTTP_HOST="127.0.0.1")
    path = f"/api/v1/forms/{form.key}/submissions/"
    tag = f"probe-{ctx.run_tag}-{time.monotonic_ns()}"

    def post(n: int, *, repeat: bool = False):
        email = f"{tag}-{n}@bench.example.com"
        body = {"email": email.upper() if repeat else email, "first_name": "Ann",
                "last_name": "Lee", "company": "Acme"}
        return client.post(path, json.dumps(body), content_type="application/json")

    figures = []
    for label, repeat in (("new email", False), ("repeated email", True)):
        for n in range(3):  # warm-up (and, for repeats, the leads they repeat)
            post(n)
        numbers = range(100, 100 + PROBED_REQUESTS)
        if repeat:
            for n in numbers:
                post(n)  # the leads the timed requests repeat
        wall, cpu = [], 0.0
        with StatementTimer(connection) as timer:
            for n in numbers:
                started, started_cpu = time.perf_counter(), time.process_time()
                response = post(n, repeat=repeat)
                wall.append((time.perf_counter() - started) * 1000)
                cpu += time.process_time() - started_cpu
        if response.status_code != 201:
            return [Figure("ingest", "in-process request", f"answered {response.status_code}",
                           ok=False)]
        with CaptureQueriesContext(connection) as queries, StatementTimer(connection) as one:
            if repeat:
                post(2, repeat=True)
            else:
                post(999)
        wall.sort()
        figures.append(Figure(
            "ingest", f"in-process, {label}: wall median / p90, CPU mean",
            f"{statistics.median(wall):.2f} / {wall[int(len(wall) * 0.9) - 1]:.2f}, "
            f"{cpu * 1000 / len(wall):.2f}", "ms",
            note="the rest of the wall time is waiting for Postgres"))
        sql = [q["sql"] for q in queries.captured_queries]
        statements = [q for q in sql if q.split()[0].upper() not in TRANSACTION_CONTROL]
        commits = one.commits
        figures.append(Figure(
            "ingest", f"SQL per submission, {label} (target ≤ {TARGET_SQL} and 1 commit)",
            f"{len(statements)} statements, {commits} commit",
            ok=len(statements) <= TARGET_SQL and commits == 1,
            note=f"median ms each: {timer.summary()}"))

    # cProfile with a CPU clock: the statements' waits are above; this is the Python part.
    profiler = cProfile.Profile(time.process_time)
    started = time.process_time()
    profiler.enable()
    for n in range(PROFILED_REQUESTS // 2):
        post(10_000 + n)
        post(10_000 + n, repeat=True)
    profiler.disable()
    per_request = (time.process_time() - started) * 1000 / PROFILED_REQUESTS
    figures.append(Figure("ingest", f"where the CPU goes (cProfile, {PROFILED_REQUESTS} "
                          "requests, half repeats)", f"{per_request:.2f}",
                          "ms CPU per request under the profiler",
                          note=profile_summary(profiler)))
    _discard_queued_tasks()
    return figures


def _discard_queued_tasks() -> None:
    """Every submission queued its follow-up task and no worker runs here: on the
    filesystem broker that is a file each, tens of thousands a run. Drop them."""
    from django.conf import settings

    from leadhub.celery import app

    if settings.CELERY_BROKER_URL.startswith("filesystem://"):
        discarded = app.control.purge()
        print(f"  discarded {discarded:,} queued follow-up tasks (no worker runs in the bench)",
              flush=True)


# Steps of a submission, by the function that does each (cumulative time, so a step
# includes what it calls; indented steps are inside the one above). cProfile sees this
# thread only: the follow-up tasks' sending, in capture.followups' thread, is not here.
STEPS = [
    ("whole request", "django/test/client.py", "request"),
    ("middleware and view dispatch", "django/core/handlers/base.py", "_get_response"),
    ("  URL resolution", "django/urls/resolvers.py", "resolve"),
    ("  the form, from this process's cache", "capture/public.py", "live_form_unchecked"),
    ("  rate-limit checks", "capture/public.py", "throttle"),
    ("  body parse", "capture/api/submissions.py", "_posted_fields"),
    ("  submission_record", "capture/services/submissions.py", "submission_record"),
    ("    validation", "capture/validation.py", "clean_submission"),
    ("    spam checks", "capture/spam.py", "spam_reason"),
    ("    the one statement (lead, submission, activity, form check)",
     "capture/services/submissions.py", "_accepted_insert"),
    ("      its parameters, prepared by the model fields", "django/db/models/fields/__init__.py",
     "get_db_prep_save"),
    ("    handing the follow-up task to the sender thread", "capture/followups.py", "add"),
    ("  response", "capture/api/submissions.py", "_json"),
    ("all SQL in the driver (the database's health check included)", "psycopg/cursor.py",
     "execute"),
]


def profile_summary(profiler: cProfile.Profile) -> str:
    stats = pstats.Stats(profiler)
    total = None
    parts = []
    for label, path_part, function in STEPS:
        cumulative = sum(
            entry[3] for (filename, _, name), entry in stats.stats.items()
            if name == function and filename.endswith(path_part)
        )
        if total is None:
            total = cumulative or 1.0
        parts.append(f"{label.strip()} {cumulative / total:.0%}")
    return "; ".join(parts)


remember_runs("ceiling-insert")

register(Scenario(
    name="ingest",
    title="public JSON form submissions, half new emails: empty database, then 100,000 leads",
    setup=empty_setup,
    targets=targets,
    after=empty_after,
    run=in_process,
    compare_to=["ceiling-insert", "ceiling-json"],
))

register(Scenario(
    name="ingest-100k",
    title="public JSON form submissions, half new emails, on 100,000 existing leads",
    setup=leads_setup,
    targets=targets,
    after=leads_after,
    compare_to=["ingest", "ceiling-insert"],
    default=False,  # `ingest` runs this pass too
))
