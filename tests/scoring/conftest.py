"""Fixtures for scoring's tests: a clean rules cache, and helpers to make activities and
score them the way the activity handler does."""

from datetime import UTC, datetime

import pytest

from scoring.engine.rules import snapshot_cache_clear

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _fresh_rules_cache():
    # Each test's rules are rolled back with it; a cached snapshot must not outlive them.
    snapshot_cache_clear()
    yield
    snapshot_cache_clear()
