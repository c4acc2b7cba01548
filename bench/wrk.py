"""Drive one target with wrk and read its figures back (as JSON, from lua/report.lua)."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

from bench.registry import Measurement, Target

LUA_DIR = Path(__file__).resolve().parent / "lua"
RESULT_MARK = "BENCH_RESULT "
THREADS = 2


def wrk_path() -> str:
    path = shutil.which("wrk")
    if not path:
        raise SystemExit("wrk not found: apt-get install -y wrk")
    return path


def script_for(target: Target, directory: Path) -> Path:
    """The target's Lua (if any) followed by report.lua, in one file for wrk -s."""
    parts = []
    if target.script:
        parts.append((LUA_DIR / target.script).read_text())
    elif target.method != "GET":
        parts.append(f'wrk.method = "{target.method}"\n')
    parts.append((LUA_DIR / "report.lua").read_text())
    path = directory / f"{(target.script or 'plain').removesuffix('.lua')}-combined.lua"
    path.write_text("\n".join(parts))
    return path


def run(
    base_url: str,
    target: Target,
    *,
    scenario: str,
    clients: int,
    seconds: float,
    tag: str,
    timeout: float = 10.0,
) -> Measurement:
    measurement = Measurement(scenario=scenario, target=target.name, clients=clients)
    with tempfile.TemporaryDirectory(prefix="leadhub-bench-") as tmp:
        script = script_for(target, Path(tmp))
        command = [
            wrk_path(), "--latency", "-t", str(min(THREADS, clients)), "-c", str(clients),
            "-d", f"{seconds:g}s", "--timeout", f"{timeout:g}s", "-s", str(script),
        ]
        for name, value in target.headers.items():
            command += ["-H", f"{name}: {value}"]
        command += [base_url + target.path, "--", tag]
        done = subprocess.run(command, capture_output=True, text=True,
                              timeout=seconds + timeout + 30, check=False)
    line = next((x for x in done.stdout.splitlines() if x.startswith(RESULT_MARK)), None)
    if done.returncode != 0 or line is None:
        measurement.failure = (
            f"wrk exited {done.returncode}: {(done.stderr or done.stdout).strip()[:300]}"
        )
        return measurement
    raw = json.loads(line.removeprefix(RESULT_MARK))
    measurement.requests = raw["requests"]
    measurement.seconds = raw["duration_us"] / 1e6
    measurement.rps = raw["requests"] / measurement.seconds if measurement.seconds else 0.0
    measurement.p50_ms = raw["p50_us"] / 1000
    measurement.p90_ms = raw["p90_us"] / 1000
    measurement.p99_ms = raw["p99_us"] / 1000
    measurement.max_ms = raw["max_us"] / 1000
    measurement.errors = {k: raw[k] for k in ("connect", "read", "write", "status", "timeout")}
    return measurement
