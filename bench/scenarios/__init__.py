"""Built-in scenarios. Each module registers its scenarios on import; the runner runs
them in the order of MODULES (ceilings first: the others are compared with them)."""

import importlib

MODULES = [
    "bench.scenarios.ceilings",
    "bench.scenarios.leads_api",
    "bench.scenarios.ingest",
    "bench.scenarios.board",
    # Starts its own Celery workers and SMTP server (needs Redis).
    "bench.scenarios.nurture",
    # Last: it replaces the 100,000 leads the others share with its own 1,000,000.
    "bench.scenarios.scoring",
    # Only with --only dashboard: its own 1,000,000 leads with stage histories (a minute).
    "bench.scenarios.dashboard",
]


def load() -> None:
    for module in MODULES:
        importlib.import_module(module)
