"""DESIGN.md: dependencies point one way, capture ← scoring ← pipeline and capture ←
nurture. Every import in each app's code (module level or inside a function) is read,
so a shortcut through another app's code fails here rather than in a review."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
APPS = ("capture", "scoring", "nurture", "pipeline")
# What each app may import of the others.
ALLOWED = {
    "capture": set(),
    "scoring": {"capture"},
    "nurture": {"capture"},
    "pipeline": {"capture", "scoring"},
}


def imported_apps(app: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in (ROOT / app).rglob("*.py"):
        if "migrations" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top in APPS and top != app:
                    found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return found


@pytest.mark.parametrize("app", APPS)
def test_an_app_imports_only_the_apps_below_it(app):
    wrong = {other: files for other, files in imported_apps(app).items()
             if other not in ALLOWED[app]}
    assert not wrong, f"{app} imports {wrong}"
