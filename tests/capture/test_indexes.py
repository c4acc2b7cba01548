"""Indexes the migrations create on Postgres that Lead.Meta cannot declare."""

import pytest
from django.db import connection

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def _definition(name: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = %s", [name])
        return cursor.fetchone()[0]


def test_the_created_at_index_carries_the_source_for_the_dashboards_counts():
    """So the dashboard's count of new leads per source is an index-only scan (the
    dashboard bench measures it: 414 → 135 ms for a year of 1,000,000 leads)."""
    definition = _definition("capture_lead_created_idx")
    assert "(created_at, id) INCLUDE (source)" in definition

