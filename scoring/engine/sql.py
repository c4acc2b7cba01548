# ruff: noqa: S608 -- the SQL here is built from table names, numbers and fragments this
# package writes; every value a user typed (rule conditions) is a bind parameter.
"""Set-based scoring: the SQL of the full rescore, the decay run and the impact preview.

A rescore works on one range of lead ids at a time (a batch), in one transaction:

1. ``tmp_desired`` — every (activity, rule) match of the batch's leads and what it earns:
   the activities joined to the active behaviour rules on their kind, filtered by each
   rule's conditions (``CASE rule_id WHEN … THEN <conditions> END``), then window
   functions: ``row_number()`` over (lead, rule) in (occurred_at, id) order numbers the
   firings for caps; for count rules, ``count(*) OVER (… RANGE BETWEEN <W> PRECEDING AND
   CURRENT ROW)`` counts the matches within the window (minus same-instant matches with
   a higher id, so ties are ordered by id as in Python), a rule fires where that count
   equals N, and a running ``sum()`` of firings applies the cap.
2. The stored contributions of those leads are brought to ``tmp_desired``: DELETE the
   ones no longer wanted, UPDATE the changed ones, INSERT the new ones (after a rule
   change most rows are unchanged, and are neither written nor probed one by one).
3. ``tmp_scores`` — per lead: the sum of unexpired contributions and its per-category
   subtotals (two GROUP BYs over the contributions), the fit score (one CASE per fit
   rule over the lead's columns), the grade (a CASE over the bands) and whether it meets
   the MQL threshold; beside the old values.
4. INSERT … SELECT score_changed / grade_changed activities for the leads whose value
   changed, one UPDATE … FROM for their scores and grades, one upsert of LeadScore.
5. The leads that now meet the MQL threshold and did not before (and are still in stage
   "lead") are returned, for the promoter.

The decay run does steps 3–5 for the leads whose next expiry has passed. The same SQL
runs on Postgres and SQLite (see scoring.engine.dialect for the differences).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection

from capture.models import Activity, ActivityKind, Lead
from scoring.conditions import not_automated_sql
from scoring.engine.dialect import Dialect, Sql, dialect_for
from scoring.engine.rules import RuleSpec, Snapshot
from scoring.models import LeadScore, Rule, ScoreCategory, ScoreContribution

CONTRIB = ScoreContribution._meta.db_table
LEAD = Lead._meta.db_table
ACTIVITY = Activity._meta.db_table
LEADSCORE = LeadScore._meta.db_table
RULE = Rule._meta.db_table
CATEGORY = ScoreCategory._meta.db_table

# Postgres advisory lock namespace for scoring ("SC"), and how many consecutive lead ids
# one lock covers. Incremental scoring takes its lead's bucket shared; a rescore batch or
# a decay run takes every bucket it touches exclusively, in ascending order.
LOCK_NAMESPACE = 0x5343
LOCK_BUCKET = 1000

# A function of a column name giving a predicate on it (the leads a statement covers).
LeadFilter = Callable[[str], Sql]


def lead_range(lo: int, hi: int) -> LeadFilter:
    return lambda column: (f"{column} BETWEEN %s AND %s", [lo, hi])


def lead_table(name: str) -> LeadFilter:
    return lambda column: (f"{column} IN (SELECT lead_id FROM {name})", [])


def all_leads() -> LeadFilter:
    return lambda column: ("1 = 1", [])


class Timings(dict):
    """Seconds per phase of the rescore, summed over batches (for benchmarks and logs):
    ``with timings("phase"): …``."""

    @contextmanager
    def __call__(self, phase: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self[phase] = self.get(phase, 0.0) + time.perf_counter() - started


class _NoTimings(Timings):
    @contextmanager
    def __call__(self, phase: str) -> Iterator[None]:
        yield


NO_TIMINGS = _NoTimings()  # for callers that do not ask


@dataclass
class ScoredBatch:
    leads: int = 0
    scores_changed: int = 0
    grades_changed: int = 0
    promotable: list[int] = field(default_factory=list)


# --- Contributions -------------------------------------------------------------------------


def _rules_values(specs: list[RuleSpec]) -> Sql:
    rows, params = [], []
    for spec in specs:
        rows.append("(CAST(%s AS BIGINT), CAST(%s AS VARCHAR(64)), CAST(%s AS INTEGER), "
                    "CAST(%s AS INTEGER), CAST(%s AS BIGINT), CAST(%s AS INTEGER))")
        params += [spec.id, spec.activity_kind, spec.points, spec.max_times,
                   spec.expires_seconds, spec.count]
    return ("r (rule_id, kind, points, max_times, expires_seconds, count_n) AS (VALUES "
            + ", ".join(rows) + ")"), params


def _extractions(dialect: Dialect, specs: list[RuleSpec]) -> tuple[list[str], list, dict]:
    """The fields the rules' conditions read, each extracted once per activity (only for
    the kinds whose rules read it): select-list items, their parameters, and
    {(kind, field name): column} for compiling the conditions."""
    wanted: dict[str, tuple] = {}
    for spec in specs:
        for read, _, _ in spec.compiled.parts:
            entry = wanted.setdefault(read.name, (read, set()))
            entry[1].add(spec.activity_kind)
    items, params, refs = [], [], {}
    for i, (name, (read, kinds)) in enumerate(sorted(wanted.items(), key=lambda w: w[0])):
        column = f"f{i}"
        expr, expr_params = read.extract_sql(dialect)
        only, kind_params = dialect.in_list("a.kind", sorted(kinds))
        items.append(f"CASE WHEN {only} THEN {expr} END AS {column}")
        params += kind_params + expr_params
        for kind in kinds:
            refs[(kind, name)] = f"x.{column}"
    return items, params, refs


def desired_sql(dialect: Dialect, specs: list[RuleSpec], leads: LeadFilter) -> Sql:
    """SELECT lead_id, rule_id, activity_id, occurred_at, points, expires_at: every
    match of ``specs`` among the activities of ``leads``, and what it earns."""
    ctes, select, params = _desired(dialect, specs, leads)
    return f"WITH {ctes} {select}", params


def _desired(dialect: Dialect, specs: list[RuleSpec], leads: LeadFilter) -> tuple[str, str,
                                                                                  list]:
    """desired_sql as (CTEs, final SELECT, parameters), for statements that add CTEs."""
    rules_cte, params = _rules_values(specs)
    lead_sql, lead_params = leads("a.lead_id")
    automated, automated_params = not_automated_sql(dialect)
    kinds = sorted({s.activity_kind for s in specs})
    kinds_sql, kinds_params = dialect.in_list("a.kind", kinds)
    items, item_params, refs = _extractions(dialect, specs)
    # Materialized, so each field is read out of the JSON once per activity, not once
    # per (activity, rule) pair the join below makes.
    extracted = (
        "x AS MATERIALIZED (SELECT a.lead_id, a.id AS activity_id, a.occurred_at, a.kind"
        + "".join(f", {item}" for item in items)
        + f" FROM {ACTIVITY} a WHERE {lead_sql} AND {kinds_sql} AND {automated})"
    )
    params += item_params + lead_params + kinds_params + automated_params
    whens, when_params = [], []
    for spec in specs:
        spec_refs = {name: column for (kind, name), column in refs.items()
                     if kind == spec.activity_kind}
        sql, p = spec.compiled.sql(dialect, spec_refs)
        whens.append(f"WHEN {int(spec.id)} THEN {sql}")
        when_params += p
    matches = (
        "m AS MATERIALIZED (SELECT x.lead_id, x.activity_id, x.occurred_at, r.rule_id "
        "FROM x JOIN r ON r.kind = x.kind "
        f"WHERE (CASE r.rule_id {' '.join(whens)} ELSE 1 = 0 END))"
    )
    params += when_params

    def ids(group: list[RuleSpec]) -> str:
        return ", ".join(str(int(s.id)) for s in group)

    uncapped = [s for s in specs if not s.is_counted and s.max_times is None]
    capped = [s for s in specs if not s.is_counted and s.max_times is not None]
    counted = [s for s in specs if s.is_counted]
    branches = []
    if uncapped:  # every match earns: no ordering needed
        branches.append(
            "SELECT m.lead_id, m.rule_id, m.activity_id, m.occurred_at, 1 AS fired, "
            f"1 AS fire_n FROM m WHERE m.rule_id IN ({ids(uncapped)})")
    if capped:
        branches.append(
            "SELECT m.lead_id, m.rule_id, m.activity_id, m.occurred_at, 1 AS fired, "
            "row_number() OVER (PARTITION BY m.lead_id, m.rule_id "
            "ORDER BY m.occurred_at, m.activity_id) AS fire_n "
            f"FROM m WHERE m.rule_id IN ({ids(capped)})"
        )
    if counted:
        order = dialect.time_order("m.occurred_at")
        windows = {}
        for seconds in sorted({s.window_seconds for s in counted}):
            windows[seconds] = (
                "count(*) OVER (PARTITION BY m.lead_id, m.rule_id ORDER BY "
                f"{order} RANGE BETWEEN {dialect.range_offset(seconds)} PRECEDING "
                "AND CURRENT ROW)"
            )
        in_window = " ".join(f"WHEN {int(s.id)} THEN {windows[s.window_seconds]}"
                             for s in counted)
        needed = " ".join(f"WHEN {int(s.id)} THEN {int(s.count)}" for s in counted)
        # Matches at the same instant with a higher id come after this one: the RANGE
        # frame counts them as peers, so they are taken off again.
        later_peers = (
            "(count(*) OVER (PARTITION BY m.lead_id, m.rule_id, m.occurred_at) - "
            "row_number() OVER (PARTITION BY m.lead_id, m.rule_id, m.occurred_at "
            "ORDER BY m.activity_id))"
        )
        branches.append(
            "SELECT x.lead_id, x.rule_id, x.activity_id, x.occurred_at, x.fired, "
            "sum(x.fired) OVER (PARTITION BY x.lead_id, x.rule_id "
            "ORDER BY x.occurred_at, x.activity_id "
            "ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS fire_n FROM ("
            "SELECT m.lead_id, m.rule_id, m.activity_id, m.occurred_at, "
            f"CASE WHEN (CASE m.rule_id {in_window} END) - {later_peers} "
            f"= (CASE m.rule_id {needed} END) THEN 1 ELSE 0 END AS fired "
            f"FROM m WHERE m.rule_id IN ({ids(counted)})) x"
        )
    earns = "u.fired = 1 AND (r.max_times IS NULL OR u.fire_n <= r.max_times)"
    expires = dialect.add_seconds("u.occurred_at", "r.expires_seconds")
    select = (
        "SELECT u.lead_id, u.rule_id, u.activity_id, u.occurred_at, "
        f"CASE WHEN {earns} THEN r.points ELSE 0 END AS points, "
        f"CASE WHEN {earns} AND r.expires_seconds IS NOT NULL THEN {expires} END AS expires_at "
        f"FROM ({' UNION ALL '.join(branches)}) u JOIN r ON r.rule_id = u.rule_id"
    )
    return f"{rules_cte}, {extracted}, {matches}", select, params


DESIRED = "tmp_scoring_desired"


def contributions_sync(cursor, dialect: Dialect, specs: list[RuleSpec],
                       leads: LeadFilter, timings: Timings = NO_TIMINGS,
                       rules: list[int] | None = None) -> int:
    """Make the stored contributions of ``leads`` what ``specs`` say they should be.

    What should be is written to a temporary table (tmp_scoring_desired, which the
    scores step then sums, instead of reading the contributions again); one FULL JOIN
    of it with what is finds the differences, and only those rows are deleted, updated
    or inserted. Returns how many rows changed. The caller drops the temporary table
    (drop_desired) when the batch is done.

    ``rules``: only the stored contributions of these rule ids are brought to ``specs``
    (which then hold the active ones among them; a rule listed without a spec, deleted
    or deactivated, loses its contributions); the others are left as they are. None:
    all of them (``specs`` are every active rule)."""
    if specs:
        desired, params = desired_sql(dialect, specs, leads)
    else:
        desired, params = (
            "SELECT lead_id, rule_id, activity_id, occurred_at, points, expires_at "
            f"FROM {CONTRIB} WHERE 1 = 0", [])
    with timings("matching activities to rules (tmp_scoring_desired)"):
        _temp(cursor, dialect, DESIRED, desired, params)
    lead_sql, lead_params = leads("c.lead_id")
    if rules is not None:
        only, rule_params = dialect.in_list("c.rule_id", sorted(rules))
        lead_sql, lead_params = f"{lead_sql} AND {only}", lead_params + rule_params
    changed = " OR ".join(dialect.distinct(f"c.{col}", f"d.{col}")
                          for col in ("points", "expires_at", "occurred_at", "lead_id"))
    with timings("finding changed contributions (FULL JOIN)"):
        _temp(cursor, dialect, "tmp_scoring_diff",
              "SELECT c.id AS existing_id, d.lead_id, d.rule_id, d.activity_id, d.occurred_at, "
          f"d.points, d.expires_at FROM {DESIRED} d FULL JOIN (SELECT c.id, c.lead_id, "
          "c.rule_id, c.activity_id, c.points, c.occurred_at, c.expires_at "
          f"FROM {CONTRIB} c WHERE {lead_sql}) c "
          "ON c.activity_id = d.activity_id AND c.rule_id = d.rule_id "
              f"WHERE d.activity_id IS NULL OR c.id IS NULL OR {changed}", lead_params)
        cursor.execute("SELECT count(*) FROM tmp_scoring_diff")
        (rows,) = cursor.fetchone()
    with timings("writing changed contributions"):
        _diff_apply(cursor, rows)
    _drop(cursor, dialect, "tmp_scoring_diff")
    return rows


def _diff_apply(cursor, rows: int) -> None:
    if rows:
        cursor.execute(f"DELETE FROM {CONTRIB} WHERE id IN (SELECT existing_id FROM "
                       "tmp_scoring_diff WHERE activity_id IS NULL)")
        cursor.execute(
            f"UPDATE {CONTRIB} SET points = t.points, expires_at = t.expires_at, "
            "occurred_at = t.occurred_at, lead_id = t.lead_id FROM tmp_scoring_diff t "
            f"WHERE {CONTRIB}.id = t.existing_id AND t.activity_id IS NOT NULL")
        cursor.execute(
            f"INSERT INTO {CONTRIB} (lead_id, rule_id, activity_id, points, occurred_at, "
            "expires_at) SELECT t.lead_id, t.rule_id, t.activity_id, t.points, t.occurred_at, "
            "t.expires_at FROM tmp_scoring_diff t WHERE t.existing_id IS NULL")


def drop_desired(cursor, dialect: Dialect) -> None:
    _drop(cursor, dialect, DESIRED)


# --- Scores ----------------------------------------------------------------------------------


def fit_sql(dialect: Dialect, fit: tuple[RuleSpec, ...] | list[RuleSpec]) -> Sql:
    """The fit score of lead ``l``: one CASE per fit rule."""
    if not fit:
        return "0", []
    parts, params = [], []
    for spec in fit:
        sql, p = spec.compiled.sql(dialect)
        parts.append(f"(CASE WHEN {sql} THEN {int(spec.points)} ELSE 0 END)")
        params += p
    return "(" + " + ".join(parts) + ")", params


def grade_sql(snapshot: Snapshot, fit: str) -> str:
    if not snapshot.grading:
        return "''"
    whens = " ".join(f"WHEN {fit} >= {int(minimum)} THEN '{grade}'"
                     for grade, minimum in snapshot.thresholds.bands.items())
    return f"(CASE {whens} ELSE 'F' END)"


def qualified_sql(snapshot: Snapshot) -> Sql:
    t = snapshot.thresholds
    parts, params = ["s.score >= %s"], [t.mql_score]
    if t.mql_min_grade:
        grades = "ABCDF"[: "ABCDF".index(t.mql_min_grade) + 1]
        parts.append(f"s.grade IN ({', '.join(repr(g) for g in grades)})")
    if t.mql_category:
        parts.append("s.cat_points >= %s")
        params.append(t.mql_category_min)
    return "(CASE WHEN " + " AND ".join(parts) + " THEN 1 ELSE 0 END)", params


def scores_sql(dialect: Dialect, snapshot: Snapshot, leads: LeadFilter,
               now: datetime, source: str = CONTRIB) -> Sql:
    """SELECT per lead of ``leads``: old and new score, grade, categories, fit score,
    next expiry and MQL qualification (see the module docstring, step 3). ``source``:
    the contributions to sum (the table, or a batch's tmp_scoring_desired)."""
    contrib_filter, contrib_params = leads("c.lead_id")
    lead_filter, lead_params = leads("l.id")
    # Repeated on LeadScore so the planner reads only the batch's rows of it.
    state_filter, state_params = leads("ls.lead_id")
    fit, fit_params = fit_sql(dialect, snapshot.fit)
    category = snapshot.thresholds.mql_category
    now_param = dialect.param_datetime(now)
    totals = (
        "SELECT x.lead_id, sum(x.pts) AS score, "
        f"{dialect.json_group('x.cat', 'x.pts', 'x.pts <> 0')} AS categories, "
        "min(x.next_expiry) AS next_expiry, "
        "sum(CASE WHEN x.cat = %s THEN x.pts ELSE 0 END) AS cat_points FROM ("
        "SELECT c.lead_id, k.key AS cat, sum(c.points) AS pts, min(c.expires_at) AS next_expiry "
        f"FROM {source} c JOIN {RULE} r ON r.id = c.rule_id "
        f"JOIN {CATEGORY} k ON k.id = r.category_id "
        f"WHERE {contrib_filter} AND c.points <> 0 "
        "AND (c.expires_at IS NULL OR c.expires_at > %s) "
        "GROUP BY c.lead_id, k.key) x GROUP BY x.lead_id"
    )
    inner = (
        "SELECT l.id AS lead_id, l.score AS old_score, l.grade AS old_grade, l.stage, "
        "coalesce(t.score, 0) AS score, "
        f"coalesce(t.categories, {dialect.empty_object()}) AS categories, "
        "t.next_expiry, coalesce(t.cat_points, 0) AS cat_points, "
        f"{fit} AS fit_score, "
        "CASE WHEN ls.lead_id IS NULL THEN 0 ELSE 1 END AS has_state, "
        "coalesce(ls.qualified, false) AS old_qualified, ls.fit_score AS old_fit_score, "
        "ls.categories AS old_categories, ls.next_expiry AS old_next_expiry "
        f"FROM {LEAD} l LEFT JOIN ({totals}) t ON t.lead_id = l.id "
        f"LEFT JOIN {LEADSCORE} ls ON ls.lead_id = l.id AND {state_filter} "
        f"WHERE {lead_filter}"
    )
    params = [*fit_params, category, *contrib_params, now_param, *state_params, *lead_params]
    graded = f"SELECT s.*, {grade_sql(snapshot, 's.fit_score')} AS grade FROM ({inner}) s"
    qualified, q_params = qualified_sql(snapshot)
    # The outer select list comes first in the text, so its parameters do too.
    return f"SELECT s.*, {qualified} AS qualified FROM ({graded}) s", q_params + params


def scores_write(cursor, dialect: Dialect, snapshot: Snapshot, leads: LeadFilter,
                 now: datetime, cause: str, cause_params: list,
                 source: str = CONTRIB, timings: Timings = NO_TIMINGS) -> ScoredBatch:
    """Steps 3–5: recompute and write the scores and grades of ``leads``; ``cause`` is
    SQL for the JSON cause of the activities (with ``cause_params``)."""
    with timings("totals, fit scores, grades (tmp_scoring_scores)"):
        _temp(cursor, dialect, "tmp_scoring_scores",
              *scores_sql(dialect, snapshot, leads, now, source))
        if dialect.vendor == "postgresql":
            cursor.execute("ANALYZE tmp_scoring_scores (lead_id)")
    cursor.execute(
        "SELECT count(*), coalesce(sum(CASE WHEN score <> old_score THEN 1 ELSE 0 END), 0), "
        "coalesce(sum(CASE WHEN grade <> old_grade THEN 1 ELSE 0 END), 0) "
        "FROM tmp_scoring_scores")
    leads_count, scores_changed, grades_changed = cursor.fetchone()
    now_param = dialect.param_datetime(now)
    with timings("score_changed / grade_changed activities"):
        _changes_record(cursor, dialect, scores_changed, grades_changed, cause, cause_params,
                        now_param)
    with timings("UPDATE capture_lead (changed scores and grades)"):
        if scores_changed or grades_changed:
            cursor.execute(
                f"UPDATE {LEAD} SET score = s.score, grade = s.grade FROM tmp_scoring_scores s "
                f"WHERE {LEAD}.id = s.lead_id AND (s.score <> s.old_score "
                "OR s.grade <> s.old_grade)")
    with timings("LeadScore upsert"):
        _states_write(cursor, dialect, now_param)
    cursor.execute(
        "SELECT lead_id FROM tmp_scoring_scores WHERE qualified = 1 AND NOT old_qualified "
        "AND stage = 'lead' ORDER BY lead_id")
    promotable = [row[0] for row in cursor.fetchall()]
    _drop(cursor, dialect, "tmp_scoring_scores")
    return ScoredBatch(leads_count, scores_changed, grades_changed, promotable)


def _changes_record(cursor, dialect: Dialect, scores_changed: int, grades_changed: int,
                    cause: str, cause_params: list, now_param) -> None:
    if scores_changed:
        data = dialect.json_object([
            ("old", "s.old_score"), ("new", "s.score"), ("cause", cause),
            ("categories", dialect.json_embed("s.categories")),
        ])
        _activities_insert(cursor, dialect, ActivityKind.SCORE_CHANGED, data,
                           "s.score <> s.old_score", cause_params, now_param)
    if grades_changed:
        data = dialect.json_object([
            ("old", "s.old_grade"), ("new", "s.grade"), ("fit_score", "s.fit_score"),
            ("cause", cause),
        ])
        _activities_insert(cursor, dialect, ActivityKind.GRADE_CHANGED, data,
                           "s.grade <> s.old_grade", cause_params, now_param)


def _states_write(cursor, dialect: Dialect, now_param) -> None:
    state_changed = " OR ".join([
        "s.has_state = 0",
        dialect.distinct("s.fit_score", "s.old_fit_score"),
        dialect.distinct("CASE WHEN s.qualified = 1 THEN 1 ELSE 0 END",
                         "CASE WHEN s.old_qualified THEN 1 ELSE 0 END"),
        dialect.distinct("s.next_expiry", "s.old_next_expiry"),
        dialect.distinct("s.categories", "s.old_categories"),
    ])
    cursor.execute(
        f"INSERT INTO {LEADSCORE} (lead_id, fit_score, categories, qualified, next_expiry, "
        f"updated_at) SELECT s.lead_id, s.fit_score, s.categories, s.qualified = 1, "
        f"s.next_expiry, %s FROM tmp_scoring_scores s WHERE {state_changed} "
        "ON CONFLICT (lead_id) DO UPDATE SET fit_score = excluded.fit_score, "
        "categories = excluded.categories, qualified = excluded.qualified, "
        "next_expiry = excluded.next_expiry, updated_at = excluded.updated_at",
        [now_param])


def _activities_insert(cursor, dialect: Dialect, kind: str, data: str, where: str,
                       cause_params: list, now_param) -> None:
    """INSERT … SELECT one activity per lead of tmp_scoring_scores matching ``where``.
    Written already processed: a rescore can change a million scores, and those are
    records, not follow-up work (see scoring/README.md)."""
    columns, values, params = [], [], []
    known = {"lead_id": "s.lead_id", "kind": "%s", "data": data, "actor_id": "NULL",
             "occurred_at": "%s", "created_at": "%s", "processed_at": "%s"}
    for f in Activity._meta.concrete_fields:
        if f.primary_key:
            continue
        columns.append(f.column)
        if f.column in known:
            values.append(known[f.column])
        else:  # a column another app's migration added: its default
            values.append("%s")
        # Parameters in the order their placeholders appear.
        if f.column == "kind":
            params.append(kind)
        elif f.column == "data":
            params += cause_params  # the cause appears once in the data object
        elif f.column in ("occurred_at", "created_at", "processed_at"):
            params.append(now_param)
        elif f.column not in known:
            params.append(f.get_db_prep_save(f.get_default(), connection))
    cursor.execute(
        f"INSERT INTO {ACTIVITY} ({', '.join(columns)}) SELECT {', '.join(values)} "
        f"FROM tmp_scoring_scores s WHERE {where}", params)


def _temp(cursor, dialect: Dialect, name: str, select: str, params: list) -> None:
    _drop(cursor, dialect, name)
    cursor.execute(dialect.temp_table(name, select), params)


def _drop(cursor, dialect: Dialect, name: str) -> None:
    if dialect.temp_table_drop(name):
        cursor.execute(dialect.temp_table_drop(name))


# --- Locks ------------------------------------------------------------------------------------


def lock_buckets(cursor, dialect: Dialect, lead_ids_or_range, *, shared: bool) -> None:
    """Advisory locks (Postgres) on the buckets of the given leads, in ascending order so
    two exclusive lockers cannot deadlock. ``lead_ids_or_range`` is a (lo, hi) tuple or
    a list of lead ids."""
    sql = dialect.advisory_lock(shared=shared)
    if sql is None:
        return
    if isinstance(lead_ids_or_range, tuple):
        lo, hi = lead_ids_or_range
        buckets = range(lo // LOCK_BUCKET, hi // LOCK_BUCKET + 1)
    else:
        buckets = sorted({i // LOCK_BUCKET for i in lead_ids_or_range})
    for bucket in buckets:
        cursor.execute(sql, [LOCK_NAMESPACE, bucket])


def session(cursor, dialect: Dialect) -> None:
    for statement in dialect.session_setup():
        cursor.execute(statement)


def incremental_begin(cursor, dialect: Dialect, lead_id: int) -> str:
    """At the start of incremental scoring's transaction: the lead's bucket lock (shared)
    and the rules' stamp as of that lock, in one statement; returns the stamp.

    On Postgres the transaction also commits without waiting for its WAL to reach the
    disk: scoring is recomputable, and the activity is marked processed afterwards by a
    transaction that does wait (and so flushes this one's WAL first). A crash in between
    loses both, and the outbox sweep scores the activity again: nothing is lost."""
    stamp = "(SELECT rules_stamp FROM scoring_scoringsettings WHERE id = 1)"
    if dialect.vendor == "postgresql":
        cursor.execute(
            "SELECT set_config('synchronous_commit', 'off', true), "
            f"pg_advisory_xact_lock_shared(%s, %s), {stamp}",
            [LOCK_NAMESPACE, lead_id // LOCK_BUCKET])
        return cursor.fetchone()[2]
    cursor.execute(f"SELECT {stamp}")
    return cursor.fetchone()[0]


def write_together(dialect: Dialect, statements: list[tuple[str, list]], *,
                   returning: bool = False) -> list:
    """Run ``statements`` (INSERT / UPDATE, no two touching the same row) in order; with
    ``returning``, the last one has a RETURNING clause and its first column is returned.

    On Postgres they go as one statement (each but the last a data-modifying WITH
    query, which Postgres runs once and to completion whether or not it is read): one
    round trip instead of one each, on the path every scored activity takes. The
    statements see the same snapshot, which is why none may depend on another's rows."""
    if not statements:
        return []
    with connection.cursor() as cursor:
        if dialect.vendor == "postgresql" and len(statements) > 1:
            *before, (last, last_params) = statements
            if not returning:
                before, last, last_params = statements, "SELECT 1", []
            with_ = ", ".join(f"w{i} AS ({sql})" for i, (sql, _) in enumerate(before))
            cursor.execute(f"WITH {with_} {last}",
                           [p for _, params in before for p in params] + last_params)
            return [row[0] for row in cursor.fetchall()] if returning else []
        for sql, params in statements:
            cursor.execute(sql, params)
        return [row[0] for row in cursor.fetchall()] if returning else []


def analyze(cursor, dialect: Dialect) -> None:
    """Fresh planner statistics for the contributions table before a rescore (after a
    first rescore or a rule change its contents can differ wholesale)."""
    if dialect.vendor == "postgresql":
        cursor.execute(f"ANALYZE {CONTRIB}")
        cursor.execute(f"ANALYZE {LEADSCORE}")


def current_dialect() -> Dialect:
    return dialect_for(connection)
