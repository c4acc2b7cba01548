"""``make bench``: set up the benchmark database, start gunicorn, run the scenarios, print
and save the figures. ``python -m bench --help`` lists the options."""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

import django

from bench import server as servers
from bench import wrk
from bench.registry import REGISTRY, Context, Figure, Measurement, Scenario, Target

RESULTS_DIR = Path(__file__).resolve().parent / "results"
# Chosen by measurement on the 2-core machine (bench/README.md, "gunicorn mode").
DEFAULT_MODE = "sync"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="LeadHub benchmarks on gunicorn + Postgres (see bench/README.md).",
    )
    parser.add_argument("--duration", type=float, default=10.0,
                        help="seconds per wrk run (default 10)")
    parser.add_argument("--warmup", type=float, default=2.0,
                        help="seconds of warm-up per target before it is measured (default 2)")
    parser.add_argument("--connections", default="8,32",
                        help="concurrency levels, comma-separated (default 8,32)")
    parser.add_argument("--leads", type=int, default=100_000,
                        help="leads in the database for the leads API (default 100000)")
    parser.add_argument("--only", action="append", default=[], metavar="SCENARIO",
                        help="run only these scenarios (repeat or comma-separate); "
                             "ratios need their baselines in the same run")
    parser.add_argument("--reuse-db", action="store_true",
                        help="keep the benchmark database and its data when they fit")
    parser.add_argument("--mode", default=DEFAULT_MODE,
                        help=f"gunicorn worker mode: {', '.join(servers.MODES)} (default "
                             f"{DEFAULT_MODE}); 'both', or a comma-separated list, runs "
                             "everything on each in that order")
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    args = parser.parse_args(argv)
    try:
        args.connections = [int(c) for c in args.connections.split(",") if c.strip()]
    except ValueError:
        parser.error("--connections takes numbers, e.g. 8,32")
    args.modes = list(servers.MODES) if args.mode == "both" else [
        m.strip() for m in args.mode.split(",") if m.strip()]
    if not args.modes or any(m not in servers.MODES for m in args.modes):
        parser.error(f"--mode takes {', '.join(servers.MODES)}, both, or a list of them")
    args.only = [name.strip() for item in args.only for name in item.split(",") if name.strip()]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from bench import scenarios

    scenarios.load()
    if args.list:
        for scenario in REGISTRY.values():
            extra = "" if scenario.default else "  (only with --only)"
            print(f"{scenario.name:24} {scenario.title}{extra}")
        return 0
    unknown = [name for name in args.only if name not in REGISTRY]
    if unknown:
        print(f"Unknown scenario(s): {', '.join(unknown)}. Known: {', '.join(REGISTRY)}",
              file=sys.stderr)
        return 2
    selected = [s for s in REGISTRY.values() if (s.name in args.only if args.only else s.default)]

    wrk.wrk_path()  # before the database is dropped: no load generator, no run
    # A SIGTERM (e.g. from a CI timeout) unwinds like Ctrl-C, so gunicorn is stopped.
    signal.signal(signal.SIGTERM, _interrupt)
    report = Report(args)
    print(f"Load average before the run: {' '.join(f'{x:.2f}' for x in os.getloadavg())} "
          f"on {os.cpu_count()} cores (figures are noisy when other work runs)")
    ctx = Context(args=args, run_tag=report.tag)
    report.figures = ctx.figures  # the same list: figures so far survive an interrupt
    try:
        prepare_database(args)
        from bench import db

        ctx.token = db.api_token()
        for mode in args.modes:
            ctx.mode = mode
            run_mode(ctx, selected, report)
    except KeyboardInterrupt:
        report.interrupted = True
        print("\nInterrupted: gunicorn stopped; figures so far below.", file=sys.stderr)
    report.print()
    path = report.save()
    print(f"\nSaved {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}")
    return 130 if report.interrupted else (1 if report.failed else 0)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def prepare_database(args: argparse.Namespace) -> None:
    from django.conf import settings

    from bench import db

    django.setup()
    url = settings.BENCH_DATABASE_URL
    name = db.database_name(url)
    started = time.perf_counter()
    if args.reuse_db and db.exists(url):
        print(f"Database {name}: reusing it")
    else:
        db.recreate(url)
        print(f"Database {name}: created")
    db.migrate()
    print(f"Database {name}: migrated in {time.perf_counter() - started:.1f} s")


def run_mode(ctx: Context, selected: list[Scenario], report: Report) -> None:
    needs_server = any(s.needs_server for s in selected)
    log = RESULTS_DIR / f"{report.tag}-gunicorn-{ctx.mode}.log"
    description = servers.MODES[ctx.mode][0]
    server = None
    with contextlib.ExitStack() as stack:
        if needs_server:
            print(f"\nStarting gunicorn: {description}, DJANGO_SETTINGS_MODULE=bench.settings")
            server = stack.enter_context(servers.Server(ctx.mode, log))
            ctx.base_url = server.base_url
            report.modes[ctx.mode] = description
            print(f"gunicorn ready at {server.base_url} (its log: bench/results/{log.name})")
        for scenario in selected:
            run_scenario(ctx, scenario, report)
        ctx.base_url = ""
    if server and (problems := server.log_problems()):
        ctx.figures.append(Figure("gunicorn", "errors in its log", problems, "lines", ok=False,
                                  note=f"bench/results/{log.name}", mode=ctx.mode))


def run_scenario(ctx: Context, scenario: Scenario, report: Report) -> None:
    print(f"\n== {scenario.name}: {scenario.title}", flush=True)
    measured: list[Measurement] = []
    first_figure = len(ctx.figures)
    try:
        if scenario.setup:
            scenario.setup(ctx)
        for target in scenario.resolve_targets(ctx):
            measured += run_target(ctx, scenario, target)
        if scenario.after:
            ctx.figures += scenario.after(ctx, measured)
        if scenario.run:
            ctx.figures += scenario.run(ctx)
    except KeyboardInterrupt:
        raise
    except Exception as exc:
        traceback.print_exc()
        ctx.figures.append(Figure(scenario.name, "scenario failed", f"{type(exc).__name__}: "
                                  f"{exc}", ok=False))
    for figure in ctx.figures[first_figure:]:
        figure.mode = figure.mode or (ctx.mode if scenario.needs_server else "")
        mark = {True: " ok", False: " FAILED", None: ""}[figure.ok]
        print(f"  {figure.name}: {figure.value}{' ' + figure.unit if figure.unit else ''}"
              f"{mark}", flush=True)
    report.measurements += [m for m in measured if not m.warmup]


def run_target(ctx: Context, scenario: Scenario, target: Target) -> list[Measurement]:
    levels = list(target.connections or ctx.args.connections)
    problem = preflight(ctx.base_url, target)
    if problem:
        print(f"  {target.name}: FAILED before the run: {problem}", flush=True)
        return [Measurement(scenario.name, target.name, clients, failure=problem, mode=ctx.mode)
                for clients in levels]
    results = []
    if ctx.args.warmup > 0:
        warm = wrk.run(ctx.base_url, target, scenario=scenario.name, clients=max(levels),
                       seconds=ctx.args.warmup, tag=f"{ctx.run_tag}w{ctx.mode}")
        warm.warmup, warm.mode = True, ctx.mode
        results.append(warm)
    for clients in levels:
        m = wrk.run(ctx.base_url, target, scenario=scenario.name, clients=clients,
                    seconds=ctx.duration, tag=f"{ctx.run_tag}c{clients}{ctx.mode}")
        m.mode = ctx.mode
        results.append(m)
        if m.failure:
            print(f"  {target.name} × {clients}: FAILED: {m.failure}", flush=True)
        else:
            print(f"  {target.name} × {clients:>3} clients: {m.rps:9,.1f} req/s  "
                  f"p50 {m.p50_ms:7.2f} ms  p99 {m.p99_ms:7.2f} ms  "
                  f"errors {m.error_count}", flush=True)
    return results


def preflight(base_url: str, target: Target) -> str | None:
    """One request as wrk will send it: None if it answers as the target expects."""
    try:
        conn = http.client.HTTPConnection(base_url.removeprefix("http://"), timeout=30)
        conn.request(target.method, target.path, body=target.preflight_body,
                     headers=target.headers)
        response = conn.getresponse()
        body = response.read()
    except OSError as exc:
        return f"{target.method} {target.path}: {exc}"
    if response.status != target.expect_status:
        snippet = body[:300].decode("utf-8", "replace").strip()
        hint = " (is the endpoint built yet?)" if response.status == 404 else ""
        return (f"{target.method} {target.path} answered {response.status}, expected "
                f"{target.expect_status}{hint}: {snippet}")
    if target.check:
        return target.check(body)
    return None


# --- Report -------------------------------------------------------------------------------


class Report:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.started = datetime.now(UTC)
        self.tag = self.started.strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(2)
        self.modes: dict[str, str] = {}
        self.measurements: list[Measurement] = []
        self.figures: list[Figure] = []
        self.interrupted = False
        self.loadavg_at_start = os.getloadavg()

    @property
    def failed(self) -> bool:
        return any(m.failure for m in self.measurements) or any(
            f.ok is False for f in self.figures)

    def ratios(self) -> list[dict]:
        """Each scenario's first target against each baseline's first target, per mode
        and concurrency level: req/s ratio and p99 ratio."""
        rows = []
        firsts: dict[tuple[str, str, int], Measurement] = {}
        for m in self.measurements:
            firsts.setdefault((m.scenario, m.mode, m.clients), m)
        for (name, mode, clients), m in firsts.items():
            scenario = REGISTRY[name]
            for base_name in scenario.compare_to:
                base = firsts.get((base_name, mode, clients))
                usable = base and not base.failure and not m.failure and base.rps and base.p99_ms
                rows.append({
                    "scenario": name, "baseline": base_name, "mode": mode, "clients": clients,
                    "rps_ratio": round(m.rps / base.rps, 3) if usable else None,
                    "p99_ratio": round(m.p99_ms / base.p99_ms, 2) if usable else None,
                    "why_none": "" if usable else (
                        "baseline not run" if not base else "a run failed"),
                })
        return rows

    def print(self) -> None:
        args = self.args
        print("\n" + "=" * 100)
        print(f"LeadHub bench {self.tag}: {os.cpu_count()} cores, {args.duration:g} s per run "
              f"after {args.warmup:g} s warm-up, wrk {wrk.THREADS} threads, "
              f"{args.leads:,} leads")
        print("load average at start / now: "
              f"{' '.join(f'{x:.2f}' for x in self.loadavg_at_start)} / "
              f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        for mode, description in self.modes.items():
            print(f"gunicorn {mode}: {description}, Postgres, persistent connections")
        header = (f"{'scenario':16} {'target':22} {'mode':8} {'clients':>7} {'req/s':>10} "
                  f"{'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
        print("\n" + header + "\n" + "-" * len(header))
        for m in self.measurements:
            if m.failure:
                print(f"{m.scenario:16} {m.target:22} {m.mode:8} {m.clients:>7}  "
                      f"FAILED: {m.failure[:200]}")
                continue
            errors = str(m.error_count)
            if m.error_count:
                errors += " (" + ", ".join(f"{k} {v}" for k, v in m.errors.items() if v) + ")"
            print(f"{m.scenario:16} {m.target:22} {m.mode:8} {m.clients:>7} {m.rps:>10,.1f} "
                  f"{m.p50_ms:>8.2f} {m.p99_ms:>8.2f} {errors:>7}")
        ratios = self.ratios()
        if ratios:
            print("\nRatios (same run, same gunicorn): req/s ÷ baseline's req/s; "
                  "p99 ÷ baseline's p99")
            for r in ratios:
                what = f"{r['scenario']} vs {r['baseline']}"
                if r["rps_ratio"] is None:
                    print(f"  {what:36} {r['mode']:8} {r['clients']:>3} clients: "
                          f"n/a ({r['why_none']})")
                else:
                    print(f"  {what:36} {r['mode']:8} {r['clients']:>3} clients: "
                          f"req/s {r['rps_ratio']:6.1%}   p99 ×{r['p99_ratio']:.2f}")
        if self.figures:
            print("\nOther figures")
            for f in self.figures:
                mark = {True: " ok", False: " FAILED", None: ""}[f.ok]
                note = f"  ({f.note})" if f.note else ""
                mode = f"[{f.mode}] " if f.mode and len(self.modes) > 1 else ""
                print(f"  {f.scenario:16} {mode}{f.name}: {f.value}"
                      f"{' ' + f.unit if f.unit else ''}{mark}{note}")
        if self.interrupted:
            print("\n(interrupted: incomplete)")

    def save(self) -> Path:
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        path = RESULTS_DIR / f"{self.tag}.json"
        data = {
            "tag": self.tag,
            "started_at": self.started.isoformat(),
            "finished_at": datetime.now(UTC).isoformat(),
            "interrupted": self.interrupted,
            "git": git_describe(),
            "machine": {"cpus": os.cpu_count(), "loadavg_at_start": self.loadavg_at_start,
                        "loadavg_at_end": os.getloadavg()},
            "args": {k: v for k, v in vars(self.args).items() if k != "list"},
            "gunicorn": self.modes,
            "measurements": [m.as_dict() for m in self.measurements],
            "ratios": self.ratios(),
            "figures": [vars(f) for f in self.figures],
        }
        path.write_text(json.dumps(data, indent=2, default=str) + "\n")
        return path


def git_describe() -> dict:
    def git(*command: str) -> str:
        try:
            return subprocess.run(["git", *command], capture_output=True, text=True,
                                  cwd=servers.ROOT, timeout=10, check=False).stdout.strip()
        except OSError:
            return ""

    return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain"))}
