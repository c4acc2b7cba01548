"""Built-in scenarios. Each module registers its scenarios on import; the runner runs
them in the order of MODULES (ceilings first: the others are compared with them)."""

import importlib

MODULES = [
    "bench.scenarios.ceilings",
    "bench.scenarios.leads_api",
]


def load() -> None:
    for module in MODULES:
        importlib.import_module(module)
