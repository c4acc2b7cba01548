# LeadMilestone (when each lead first moved into each funnel stage), and its rows
# backfilled from the StageTransition history: one INSERT … SELECT … GROUP BY that works
# on SQLite and Postgres alike (1,000,000 transitions: about 2 s on Postgres).

import django.db.models.deletion
from django.db import migrations, models

# Frozen here, not imported from the app: the columns as this migration made them.
MILESTONE_COLUMNS = {
    "mql": "mql_at",
    "sql": "sql_at",
    "opportunity": "opportunity_at",
    "customer": "customer_at",
}


def backfill_sql(milestone_table: str, transition_table: str, lead_table: str,
                 quote) -> tuple[str, list]:
    """One row per lead with transitions: its earliest move into each funnel stage, and
    its created_at and source (what lead_change_stage writes, move by move). bench.data
    runs it to make the benchmark's rows."""
    q = quote
    columns = ", ".join(q(column) for column in MILESTONE_COLUMNS.values())
    firsts = ", ".join(
        f"MIN(CASE WHEN {q('to_stage')} = %s THEN {q('created_at')} END) AS {q(column)}"
        for column in MILESTONE_COLUMNS.values()
    )
    picked = ", ".join(f"f.{q(column)}" for column in MILESTONE_COLUMNS.values())
    sql = (
        f"INSERT INTO {q(milestone_table)} ({q('lead_id')}, {q('lead_created_at')}, "
        f"{q('source')}, {columns}) "
        f"SELECT f.{q('lead_id')}, l.{q('created_at')}, l.{q('source')}, {picked} "
        f"FROM (SELECT {q('lead_id')}, {firsts} FROM {q(transition_table)} "
        f"GROUP BY {q('lead_id')}) f "
        f"JOIN {q(lead_table)} l ON l.{q('id')} = f.{q('lead_id')}"
    )
    return sql, list(MILESTONE_COLUMNS)


def backfill(apps, schema_editor):
    tables = [apps.get_model(app, name)._meta.db_table for app, name in (
        ("pipeline", "LeadMilestone"), ("pipeline", "StageTransition"), ("capture", "Lead"))]
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        cursor.execute(*backfill_sql(*tables, connection.ops.quote_name))


class Migration(migrations.Migration):

    dependencies = [
        ('capture', '0004_submission_decoy_lead_id'),
        ('pipeline', '0005_handoff_owner_and_first_touch'),
    ]

    operations = [
        migrations.CreateModel(
            name='LeadMilestone',
            fields=[
                ('lead', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name='milestone', serialize=False, to='capture.lead')),
                ('lead_created_at', models.DateTimeField()),
                ('source', models.CharField(blank=True, max_length=200)),
                ('mql_at', models.DateTimeField(blank=True, null=True)),
                ('sql_at', models.DateTimeField(blank=True, null=True)),
                ('opportunity_at', models.DateTimeField(blank=True, null=True)),
                ('customer_at', models.DateTimeField(blank=True, null=True)),
            ],
            options={
                'indexes': [models.Index(fields=['lead_created_at'], name='pipeline_ms_created_idx'), models.Index(condition=models.Q(('mql_at__isnull', False)), fields=['mql_at'], name='pipeline_ms_mql_idx'), models.Index(condition=models.Q(('sql_at__isnull', False)), fields=['sql_at'], name='pipeline_ms_sql_idx'), models.Index(condition=models.Q(('customer_at__isnull', False)), fields=['customer_at'], name='pipeline_ms_customer_idx')],
            },
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop, elidable=True),
    ]
