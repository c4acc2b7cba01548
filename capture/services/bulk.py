"""Many activities at once: what ``activity_record`` does for one, set-based.

For writers that produce activities in groups (nurture's dispatcher records the
``email_sent`` activities of up to 50 sends at a time): one INSERT for the rows, one
UPDATE for the leads' ``last_activity_at`` and, on commit, ONE follow-up task
(``capture.tasks.activities_process``) for the whole group instead of one per activity.
The follow-up work is the same as ``activity_process``'s, activity by activity, and the
rows stay unprocessed (``processed_at`` null) until it ran, so the outbox sweep covers
them exactly as it covers single activities.
"""

from collections.abc import Iterable
from datetime import datetime
from functools import reduce
from operator import or_
from typing import Any, TypedDict

from django.db import connection, transaction
from django.db.models import Case, DateTimeField, Q, Value, When
from django.utils import timezone

from capture.models import Activity, Lead


class ActivityRow(TypedDict, total=False):
    lead: Lead  # required (or lead_id)
    lead_id: int
    kind: str  # required
    data: dict[str, Any]
    actor: Any
    occurred_at: datetime


def activities_record_bulk(rows: Iterable[ActivityRow]) -> list[Activity]:
    """Append these activities to their leads' timelines (one INSERT), move each lead's
    ``last_activity_at`` forward (never back; one UPDATE), and queue one follow-up task
    for all of them when the transaction commits. Returns the saved activities, in the
    order of ``rows``. Call it inside the caller's transaction (it opens one if there is
    none), as for ``activity_record``."""
    from capture.tasks import activities_process

    now = timezone.now()
    rows = list(rows)
    activities = [
        Activity(
            lead_id=row["lead"].pk if row.get("lead") is not None else row["lead_id"],
            kind=row["kind"],
            data=row.get("data") or {},
            actor=row.get("actor"),
            occurred_at=row.get("occurred_at") or now,
        )
        for row in rows
    ]
    if not activities:
        return []
    latest: dict[int, datetime] = {}
    for activity in activities:
        if activity.lead_id not in latest or activity.occurred_at > latest[activity.lead_id]:
            latest[activity.lead_id] = activity.occurred_at
    with transaction.atomic():
        Activity.objects.bulk_create(activities)
        _leads_touch(latest)
        ids = [activity.pk for activity in activities]
        # robust, as in activity_record: a broker outage must not fail the caller after
        # the rows committed; the outbox sweep queues them later (processed_at stays null
        # until their follow-up work ran).
        transaction.on_commit(lambda: activities_process.delay(ids), robust=True)
    for row in rows:  # the callers' Lead objects see the new date, as activity_record's do
        lead = row.get("lead")
        if lead is not None:
            lead.last_activity_at = max(lead.last_activity_at, latest[lead.pk])
    return activities


def _leads_touch(latest: dict[int, datetime]) -> None:
    """``last_activity_at = max(last_activity_at, t)`` for each lead, in one UPDATE that
    writes only the rows it moves forward (a late-arriving older activity never moves
    the date back)."""
    if not latest:
        return
    ids = sorted(latest)
    if connection.vendor == "postgresql":
        # The rows are joined, and so locked, in id order: two groups touching the same
        # leads cannot deadlock.
        table = connection.ops.quote_name(Lead._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} AS l SET last_activity_at = v.at"  # noqa: S608 - a table name
                " FROM unnest(%s::bigint[], %s::timestamptz[]) AS v(id, at)"
                " WHERE l.id = v.id AND l.last_activity_at < v.at",
                [ids, [latest[pk] for pk in ids]],
            )
        return
    later = reduce(or_, (Q(pk=pk, last_activity_at__lt=latest[pk]) for pk in ids))
    Lead.objects.filter(pk__in=ids).filter(later).update(
        last_activity_at=Case(
            *(When(pk=pk, then=Value(latest[pk])) for pk in ids),
            output_field=DateTimeField(),
        )
    )
