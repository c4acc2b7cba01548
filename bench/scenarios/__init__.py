"""Built-in scenarios. Each module registers its scenarios on import; the runner runs
them in the order of MODULES (ceilings first: the others are compared with them)."""

import importlib

MODULES = [
    "bench.scenarios.ceilings",
    "bench.scenarios.leads_api",
    "bench.scenarios.ingest",
    "bench.scenarios.board",
    # Only with --only scoring: it loads its own 1,000,000 leads.
    "bench.scenarios.scoring",
    # Only with --only nurture: starts its own Celery workers and SMTP server (needs Redis).
    "bench.scenarios.nurture",
]


def load() -> None:
    for module in MODULES:
        importlib.import_module(module)
