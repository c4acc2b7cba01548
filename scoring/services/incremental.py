"""Incremental scoring: one new activity, a handful of indexed statements.

For each active behaviour rule the activity matches, one ScoreContribution (unique per
activity and rule: a retried task finds it and adds nothing). What it earns follows from
the lead's earlier matches of that rule (cap, count window) — one aggregate over the
(lead, rule) index. An activity that arrives out of order (an older page view linked
when a visitor submits a form) can change what later matches earn; then that rule's
matches for the lead are re-decided in Python (scoring.engine.rules.assign), exactly as
the full rescore's SQL decides them.

Then the lead's score (its unexpired contributions), its grade (fit rules over its fields)
and whether it meets the MQL threshold are recomputed; what changed is written to Lead
and LeadScore with a score_changed / grade_changed activity, and a lead that newly meets
the threshold is handed to the pipeline's promoter.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from capture.models import Activity, ActivityKind, Lead
from capture.services import (
    LAST_ACTIVITY_ASSIGNMENT,
    activities_insert_statement,
    activities_inserted,
)
from scoring.conditions import UNSCORABLE_KINDS
from scoring.engine import sql as engine
from scoring.engine.rules import (
    FIT_KINDS,
    RuleSpec,
    Snapshot,
    assign,
    snapshot_cached,
    snapshot_current,
)
from scoring.models import LeadScore, Rule, ScoreContribution
from scoring.services.promote import mql_promote


@dataclass
class LeadScored:
    score: int
    grade: str
    categories: dict[str, int]
    fit_score: int
    score_changed: bool
    grade_changed: bool
    promoted: bool


def activity_score_apply(*, activity: Activity, now: datetime | None = None) -> LeadScored | None:
    """Score one activity (idempotent). Returns the lead's new state, or None when the
    activity concerns no rule (nothing was read beyond the rules' stamp)."""
    if activity.kind in UNSCORABLE_KINDS:
        return None
    snapshot = snapshot_cached()
    if snapshot is None or not _concerns(snapshot, activity):
        # Are the cached rules current? (The stamp is read again under the lock below
        # when the activity does concern a rule, so a cached "yes" needs no check here.)
        snapshot = snapshot_current()
        if not _concerns(snapshot, activity):
            return None
    now = now or timezone.now()
    dialect = engine.current_dialect()
    with transaction.atomic():
        with connection.cursor() as cursor:
            # The lead's bucket lock, shared with other leads' scoring (a rescore batch or
            # the decay run holds it exclusively while it rewrites these contributions),
            # and the rules as of that lock: a rescore may just have finished with new ones.
            stamp = engine.incremental_begin(cursor, dialect, activity.lead_id)
        if stamp != snapshot.stamp:
            snapshot = snapshot_current(stamp)
        lead = _lead_locked(activity.lead_id)
        if lead is None:
            return None  # deleted with its timeline while the task waited
        matched = snapshot.matching(activity.kind, activity.data)
        totals, writes = None, []
        if matched:
            totals, writes = _contributions_add(lead, activity, matched, dialect, now,
                                                snapshot)
        # The change is dated with the activity that caused it (so the timeline shows
        # them together, also for an older activity that arrived late).
        return lead_rescore(lead=lead, snapshot=snapshot, now=now,
                            cause={"activity": activity.pk}, at=activity.occurred_at,
                            totals=totals, writes=writes)


def _concerns(snapshot: Snapshot, activity: Activity) -> bool:
    return bool(snapshot.matching(activity.kind, activity.data)) or (
        activity.kind in FIT_KINDS and snapshot.grading)


Totals = tuple[int, dict[str, int], datetime | None]
Statement = tuple[str, list]


# What scoring reads of a lead: the fields fit rules may test, and what it writes; in
# the model's field order (Model.from_db expects it).
_LEAD_READS = {"id", "email", "first_name", "last_name", "company", "job_title", "phone",
               "website", "country", "industry", "source", "company_size", "attributes",
               "stage", "score", "grade", "last_activity_at"}
LEAD_FIELDS = tuple(f.attname for f in Lead._meta.concrete_fields if f.attname in _LEAD_READS)


@dataclass
class _State:
    """A lead's LeadScore row as read with it."""

    fit_score: int
    categories: dict[str, int]
    qualified: bool
    next_expiry: datetime | None


def _lead_locked(lead_id: int) -> Lead | None:
    """The lead (the fields scoring reads; others are deferred), locked, with its
    LeadScore as ``lead.scoring_snapshot`` (None if it has none). Raw SQL: this runs
    for every scored activity, and building the ORM query cost more than running it."""
    dialect = engine.current_dialect()
    columns = ", ".join(f"l.{Lead._meta.get_field(f).column}" for f in LEAD_FIELDS)
    lock = " FOR UPDATE OF l" if dialect.vendor == "postgresql" else ""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {columns}, ls.lead_id, ls.fit_score, ls.categories, ls.qualified, "  # noqa: S608
            f"ls.next_expiry FROM {engine.LEAD} l LEFT JOIN {engine.LEADSCORE} ls "
            f"ON ls.lead_id = l.id WHERE l.id = %s{lock}", [lead_id])
        row = cursor.fetchone()
    if row is None:
        return None
    values = list(row[: len(LEAD_FIELDS)])
    # Converted as the ORM would (SQLite hands JSON and times over as text).
    for i, name in enumerate(LEAD_FIELDS):
        field = Lead._meta.get_field(name)
        for converter in field.get_db_converters(connection) + \
                connection.ops.get_db_converters(field.get_col(Lead._meta.db_table)):
            values[i] = converter(values[i], field.get_col(Lead._meta.db_table), connection)
    lead = Lead.from_db(connection.alias, list(LEAD_FIELDS), values)
    state_id, fit_score, categories, qualified, next_expiry = row[len(LEAD_FIELDS):]
    lead.scoring_snapshot = None if state_id is None else _State(
        fit_score, json.loads(categories) if isinstance(categories, str) else categories,
        bool(qualified), _aware(next_expiry) if next_expiry is not None else None)
    return lead


def _contributions_add(lead: Lead, activity: Activity, matched: list[RuleSpec], dialect,
                       now: datetime, snapshot: Snapshot
                       ) -> tuple[Totals | None, list[Statement]]:
    """This activity's contributions: the lead's totals with them, and the INSERT that
    adds them, for lead_rescore to send with its own writes. When an older activity
    re-decides later matches, the rows are written here and the totals are None (they
    are read again)."""
    at = activity.occurred_at
    before, by_rule = _matches_so_far(lead.pk, activity, matched, dialect, now)
    rows, redecide = [], []
    for spec in matched:
        seen = before.get(spec.id)
        if seen and seen["mine"]:
            continue  # a retried task: this match was counted the first time
        earned = True
        if spec.needs_order and seen:
            if seen["later"]:
                redecide.append(spec)
                earned = False  # provisional; re-decided below with the later matches
            elif spec.is_counted:
                fired = seen["recent"] + 1 == spec.count
                earned = fired and (spec.max_times is None or seen["earned"] < spec.max_times)
            else:
                earned = seen["earned"] < spec.max_times
        elif spec.is_counted:
            earned = spec.count == 1  # the first match: a count of 1 (never: count ≥ 2)
        rows.append(ScoreContribution(
            lead_id=lead.pk, rule_id=spec.id, activity_id=activity.pk, occurred_at=at,
            points=spec.points if earned else 0, expires_at=spec.expiry(at) if earned else None,
        ))
    insert = None
    if rows:
        values = ", ".join(["(%s, %s, %s, %s, %s, %s)"] * len(rows))
        insert = (
            f"INSERT INTO {engine.CONTRIB} (lead_id, rule_id, activity_id, points, "  # noqa: S608
            f"occurred_at, expires_at) VALUES {values}",
            [x for r in rows for x in (
                r.lead_id, r.rule_id, r.activity_id, r.points,
                dialect.param_datetime(r.occurred_at),
                dialect.param_datetime(r.expires_at) if r.expires_at else None)])
    if redecide:
        if insert:
            with connection.cursor() as cursor:
                cursor.execute(*insert)
        for spec in redecide:
            _redecide(lead.pk, spec)
        return None, []
    for row in rows:  # the totals read before these rows were added, plus them
        if row.points and (row.expires_at is None or row.expires_at > now):
            points, expiry = by_rule.get(row.rule_id, (0, None))
            expiries = [e for e in (expiry, row.expires_at) if e is not None]
            by_rule[row.rule_id] = (points + row.points, min(expiries, default=None))
    return _totals(by_rule, snapshot.category_of), [insert] if insert else []


def _matches_so_far(lead_id: int, activity: Activity, matched: list[RuleSpec], dialect,
                    now: datetime) -> tuple[dict[int, dict[str, int]], dict]:
    """In one statement: per matched rule, whether this activity was counted already
    ("mine"), and for rules whose earnings depend on order (caps, counts), about the
    lead's other matches: how many earned points, how many fall in the count window
    before this one, how many come after it (rules with nothing stored are absent);
    and the lead's unexpired points and next expiry per rule, as lead_totals reads them."""
    at = dialect.param_datetime(activity.occurred_at)
    ordered = [s for s in matched if s.needs_order]
    # Built from ids and a table name; the values are parameters.
    no_time = dialect.null_timestamp()
    sql = (f"SELECT 1, rule_id, 0, 0, 0, {no_time} FROM {engine.CONTRIB} "  # noqa: S608
           "WHERE activity_id = %s "
           f"AND rule_id IN ({', '.join(str(int(s.id)) for s in matched)})")
    params: list = [activity.pk]
    if ordered:
        windows = " ".join(
            f"WHEN {int(s.id)} THEN %s" for s in ordered if s.is_counted)
        window_params = [dialect.param_datetime(activity.occurred_at - timedelta(
            days=s.window_days)) for s in ordered if s.is_counted]
        recent = (f"sum(CASE WHEN occurred_at >= (CASE rule_id {windows} END) THEN 1 "
                  "ELSE 0 END)") if windows else "0"
        sql += (
            " UNION ALL SELECT 2, rule_id, "  # noqa: S608
            "sum(CASE WHEN points <> 0 THEN 1 ELSE 0 END), "
            f"{recent}, "
            "sum(CASE WHEN occurred_at > %s OR (occurred_at = %s AND activity_id > %s) "
            f"THEN 1 ELSE 0 END), {no_time} "
            f"FROM {engine.CONTRIB} WHERE lead_id = %s AND activity_id <> %s "
            f"AND rule_id IN ({', '.join(str(int(s.id)) for s in ordered)}) GROUP BY rule_id"
        )
        params += [*window_params, at, at, activity.pk, lead_id, activity.pk]
    sql += (
        f" UNION ALL SELECT 3, rule_id, sum(points), 0, 0, min(expires_at) FROM {engine.CONTRIB} "  # noqa: S608
        "WHERE lead_id = %s AND points <> 0 AND (expires_at IS NULL OR expires_at > %s) "
        "GROUP BY rule_id")
    params += [lead_id, dialect.param_datetime(now)]
    seen: dict[int, dict[str, int]] = {}
    by_rule: dict[int, tuple[int, datetime | None]] = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for part, rule_id, a, b, c, expiry in cursor.fetchall():
            if part == 3:
                by_rule[rule_id] = (a, _aware(expiry) if expiry is not None else None)
                continue
            row = seen.setdefault(rule_id, {"mine": 0, "earned": 0, "recent": 0, "later": 0})
            if part == 1:
                row["mine"] += 1
            else:
                row["earned"], row["recent"], row["later"] = a or 0, b or 0, c or 0
    return seen, by_rule


def _redecide(lead_id: int, spec: RuleSpec) -> None:
    rows = list(ScoreContribution.objects.filter(lead_id=lead_id, rule_id=spec.id)
                .order_by("occurred_at", "activity_id"))
    earned = assign(spec, [(r.occurred_at, r.activity_id) for r in rows])
    for row, new in zip(rows, earned, strict=True):
        if (row.points, row.expires_at) != (new.points, new.expires_at):
            row.points, row.expires_at = new.points, new.expires_at
            row.save(update_fields=["points", "expires_at"])


def lead_totals(lead_id: int, now: datetime, category_of: dict[int, str] | None = None
                ) -> tuple[int, dict[str, int], datetime | None]:
    """The lead's score, per-category subtotals (non-zero ones) and the next time any of
    its points expire, from its unexpired contributions. ``category_of``: each rule's
    category key (from the rules snapshot), else read here."""
    dialect = engine.current_dialect()
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT rule_id, sum(points), min(expires_at) FROM {engine.CONTRIB} "  # noqa: S608
            "WHERE lead_id = %s AND points <> 0 AND (expires_at IS NULL OR expires_at > %s) "
            "GROUP BY rule_id", [lead_id, dialect.param_datetime(now)])
        rows = cursor.fetchall()
    return _totals({rule_id: (points, _aware(expiry) if expiry is not None else None)
                    for rule_id, points, expiry in rows}, category_of)


def _totals(by_rule: dict[int, tuple[int, datetime | None]],
            category_of: dict[int, str] | None) -> Totals:
    category_of = category_of or {}
    missing = set(by_rule) - set(category_of)
    if missing:
        category_of = {**category_of, **dict(
            Rule.all_objects.filter(pk__in=missing).values_list("pk", "category__key"))}
    subtotals: dict[str, int] = {}
    score, expiries = 0, []
    for rule_id, (points, next_expiry) in by_rule.items():
        score += points
        key = category_of[rule_id]
        subtotals[key] = subtotals.get(key, 0) + points
        if next_expiry is not None:
            expiries.append(next_expiry)
    categories = {key: points for key, points in subtotals.items() if points}
    return score, categories, min(expiries, default=None)


def _aware(value) -> datetime:
    """A date-time read with raw SQL: SQLite gives an aggregate of one as ISO text."""
    if isinstance(value, str):
        value = parse_datetime(value)
    if timezone.is_naive(value):
        value = timezone.make_aware(value, UTC)
    return value


def lead_rescore(*, lead: Lead, snapshot: Snapshot | None = None,
                 now: datetime | None = None, cause: dict,
                 at: datetime | None = None, totals: Totals | None = None,
                 writes: list[Statement] | None = None) -> LeadScored:
    """Recompute one lead's score, grade and MQL qualification from its contributions and
    fields, and write what changed (score_changed / grade_changed dated ``at``, default
    now). Call inside a transaction holding the lead's row. ``writes``: statements of
    the caller's (its contributions) sent with these writes, after ``totals`` were read."""
    snapshot = snapshot or snapshot_current()
    now = now or timezone.now()
    at = at or now
    score, categories, next_expiry = totals or lead_totals(lead.pk, now, snapshot.category_of)
    fit = snapshot.fit_score(lead)
    grade = snapshot.grade(fit)
    state = getattr(lead, "scoring_snapshot", None) if hasattr(lead, "scoring_snapshot") \
        else LeadScore.objects.filter(pk=lead.pk).first()
    qualified = snapshot.thresholds.qualifies(score, grade, categories)
    was_qualified = bool(state and state.qualified)

    old_score, old_grade = lead.score, lead.grade
    dialect = engine.current_dialect()
    # Raw statements on this path, sent as one (write_together): it runs for every scored
    # activity, and round trips and the ORM's query building cost more than the writes.
    writes = list(writes or [])
    entries = []
    if score != old_score:
        entries.append((ActivityKind.SCORE_CHANGED, {
            "old": old_score, "new": score, "cause": cause, "categories": categories}, at))
    if grade != old_grade:
        entries.append((ActivityKind.GRADE_CHANGED, {
            "old": old_grade, "new": grade, "fit_score": fit, "cause": cause}, at))
    if entries:
        # The change's activities move the lead's last activity on, in the same UPDATE.
        writes.append((f"UPDATE {engine.LEAD} SET score = %s, grade = %s, "  # noqa: S608
                       f"{LAST_ACTIVITY_ASSIGNMENT} WHERE id = %s",
                       [score, grade, dialect.param_datetime(at), dialect.param_datetime(at),
                        lead.pk]))
        lead.score, lead.grade = score, grade
    if state is None or (state.fit_score, state.categories, state.qualified,
                         state.next_expiry) != (fit, categories, qualified, next_expiry):
        writes.append((
            f"INSERT INTO {engine.LEADSCORE} (lead_id, fit_score, categories, "  # noqa: S608
            f"qualified, next_expiry, updated_at) VALUES (%s, %s, {dialect.json_param()}, "
            "%s, %s, %s) ON CONFLICT (lead_id) DO UPDATE SET fit_score = "
            "excluded.fit_score, categories = excluded.categories, qualified = "
            "excluded.qualified, next_expiry = excluded.next_expiry, "
            "updated_at = excluded.updated_at",
            [lead.pk, fit, json.dumps(categories), qualified,
             dialect.param_datetime(next_expiry) if next_expiry else None,
             dialect.param_datetime(now)]))
    if entries:
        writes.append(activities_insert_statement(lead=lead, entries=entries))
    ids = engine.write_together(dialect, writes, returning=bool(entries))
    if entries:
        activities_inserted(lead=lead, ids=ids, latest=at)
    promoted = False
    if qualified and not was_qualified and lead.stage == "lead":
        reason = f"Reached the MQL threshold ({snapshot.thresholds.describe()})."
        promoted = mql_promote(lead_ids=[lead.pk], reason=reason) > 0
    return LeadScored(score, grade, categories, fit, score != old_score, grade != old_grade,
                      promoted)


def lead_score_refresh(
    *, lead_id: int, cause: dict, now: datetime | None = None
) -> LeadScored | None:
    """Recompute one lead now (no new activity): e.g. after its fields were changed."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            engine.lock_buckets(cursor, engine.current_dialect(), [lead_id], shared=True)
        lead = _lead_locked(lead_id)
        if lead is None:
            return None
        return lead_rescore(lead=lead, now=now, cause=cause)
