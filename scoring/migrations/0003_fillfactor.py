"""Room on each page for the rows' next versions (Postgres): a rescore or an incremental
run rewrites a contribution's points and a lead's LeadScore row often, and with free
space on the page Postgres can update them in place without new index entries (HOT)."""

from django.db import migrations

TABLES = ["scoring_scorecontribution", "scoring_leadscore"]


def set_fillfactor(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in TABLES:
        schema_editor.execute(f"ALTER TABLE {table} SET (fillfactor = 80)")


def reset_fillfactor(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in TABLES:
        schema_editor.execute(f"ALTER TABLE {table} RESET (fillfactor)")


class Migration(migrations.Migration):
    dependencies = [("scoring", "0002_categories_and_settings")]

    operations = [migrations.RunPython(set_fillfactor, reset_fillfactor)]
