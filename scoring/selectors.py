# ruff: noqa: S608 -- SQL built from table names and fragments scoring.engine writes; the
# values users typed are bind parameters.
"""Reads for the scoring pages and the API: a lead's score breakdown, the impact of an
unsaved rule, what a rule would give one lead, rule effectiveness (and its CSV), rescore
progress. Nothing here writes.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.apps import apps
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Case, Value, When
from django.utils import timezone

from capture.models import Activity, Lead, Stage
from scoring.engine import sql as engine
from scoring.engine.dialect import JsonRef
from scoring.engine.rules import RuleSpec, Snapshot, assign, fires, snapshot_load
from scoring.models import (
    LeadScore,
    RescoreJob,
    RescoreStatus,
    Rule,
    RuleKind,
    ScoreCategory,
    ScoreContribution,
)

BREAKDOWN_CONTRIBUTIONS_PER_RULE = 50


# --- A lead's breakdown -------------------------------------------------------------------


@dataclass
class ContributionLine:
    activity_id: int
    activity_kind: str
    occurred_at: datetime
    points: int
    expires_at: datetime | None
    expired: bool


@dataclass
class RuleLine:
    rule_id: int
    name: str
    category: str  # key
    category_name: str
    points: int  # what it adds now (unexpired)
    times: int  # contributions that earned points, expired ones included
    unearned: int  # matches that earned nothing: over_cap + short_of_count
    contributions: list[ContributionLine] = field(default_factory=list)
    over_cap: int = 0  # fired the rule after it had earned max_times
    short_of_count: int = 0  # count rules: matches that did not complete the count
    max_times: int | None = None
    count: int | None = None
    window_days: int | None = None
    deleted: bool = False  # deleted; the rescore it queued takes these points off


@dataclass
class FitLine:
    rule_id: int
    name: str
    points: int
    matched: bool


@dataclass
class CategoryLine:
    key: str
    name: str
    points: int


@dataclass
class Breakdown:
    lead_id: int
    score: int
    grade: str
    fit_score: int
    qualified: bool
    threshold: str
    categories: list[CategoryLine]
    rules: list[RuleLine]
    fit: list[FitLine]


def lead_score_breakdown(lead: Lead, *, now: datetime | None = None,
                         snapshot: Snapshot | None = None) -> Breakdown:
    """Why the lead has its score and grade: per category, per rule (with the activities
    that earned points and when those expire, newest first, at most 50 per rule) and per
    fit rule. Expired contributions are listed, marked expired."""
    now = now or timezone.now()
    snapshot = snapshot or snapshot_load()
    rows = (ScoreContribution.objects.filter(lead_id=lead.pk)
            .select_related("rule__category", "activity")
            .only("points", "occurred_at", "expires_at", "activity_id", "activity__kind",
                  "rule_id", "rule__name", "rule__kind", "rule__max_times", "rule__count",
                  "rule__window_days", "rule__deleted_at", "rule__category__key",
                  "rule__category__name")
            .order_by("rule_id", "-occurred_at", "-activity_id"))
    lines: dict[int, RuleLine] = {}
    unearned: dict[int, set[int]] = {}  # per rule, the activities whose match earned nothing
    times: dict[int, list] = {}  # per rule, its matches' times, newest first
    for c in rows:
        line = lines.get(c.rule_id)
        if line is None:
            category = c.rule.category
            line = lines[c.rule_id] = RuleLine(
                rule_id=c.rule_id, name=c.rule.name, category=category.key if category else "",
                category_name=category.name if category else "", points=0, times=0,
                unearned=0, max_times=c.rule.max_times, count=c.rule.count,
                window_days=c.rule.window_days, deleted=c.rule.deleted_at is not None)
        times.setdefault(c.rule_id, []).append(c.occurred_at)
        if not c.points:
            line.unearned += 1
            unearned.setdefault(c.rule_id, set()).add(len(times[c.rule_id]) - 1)
            continue
        expired = c.expires_at is not None and c.expires_at <= now
        line.times += 1
        if not expired:
            line.points += c.points
        if len(line.contributions) < BREAKDOWN_CONTRIBUTIONS_PER_RULE:
            line.contributions.append(ContributionLine(
                activity_id=c.activity_id, activity_kind=c.activity.kind,
                occurred_at=c.occurred_at, points=c.points, expires_at=c.expires_at,
                expired=expired))
    for rule_id, positions in unearned.items():
        _unearned_split(lines[rule_id], times[rule_id], positions)
    state = LeadScore.objects.filter(pk=lead.pk).first()
    subtotals = state.categories if state else {}
    categories = [CategoryLine(k.key, k.name, subtotals.get(k.key, 0))
                  for k in ScoreCategory.objects.all()]
    fit = [FitLine(r.id, r.name, r.points, r.compiled.matches(lead)) for r in snapshot.fit]
    return Breakdown(
        lead_id=lead.pk, score=lead.score, grade=lead.grade,
        fit_score=sum(f.points for f in fit if f.matched),
        qualified=snapshot.thresholds.qualifies(lead.score, lead.grade, subtotals),
        threshold=snapshot.thresholds.describe(), categories=categories,
        rules=sorted((line for line in lines.values() if line.times or line.unearned),
                     key=lambda line: (-abs(line.points), line.rule_id)),
        fit=fit,
    )


def _unearned_split(line: RuleLine, newest_first: list, positions: set[int]) -> None:
    """Why the matches at ``positions`` (in ``newest_first``) earned nothing: a plain
    rule's were over its cap; a count rule's either did not complete the count or
    completed it after the rule had earned max_times (which firing is which follows
    from the matches' times, as the engine decides it: engine.rules.fires)."""
    if line.count is None or not line.window_days:
        line.over_cap = len(positions)
        return
    fired = fires(list(reversed(newest_first)), count=line.count,
                  window_days=line.window_days)
    last = len(newest_first) - 1
    line.over_cap = sum(1 for i in positions if fired[last - i])
    line.short_of_count = len(positions) - line.over_cap


# --- Unsaved rules ------------------------------------------------------------------------


def rule_spec_from(values: dict[str, Any], *, rule: Rule | None = None) -> RuleSpec:
    """A rule as the engine sees it, from the editor's values (validated like a save).
    ``values`` are RULE_FIELDS; the rule being edited fills in what is missing."""
    from scoring.services.rules import RULE_FIELDS, _check, default_category

    base = {f: getattr(rule, f) for f in RULE_FIELDS} if rule else {
        "activity_kind": "", "category": None, "conditions": [], "max_times": None,
        "expires_after_days": None, "count": None, "window_days": None, "active": True,
        "position": 0}
    merged = {**base, **values}
    if merged.get("kind") == RuleKind.BEHAVIOR and merged.get("category") is None:
        merged["category"] = default_category()
    _check(merged)
    unsaved = Rule(**{f: merged[f] for f in RULE_FIELDS})
    unsaved.pk = rule.pk if rule else 0
    return RuleSpec.from_rule(unsaved, merged["category"].key if merged["category"] else "")


@dataclass
class Impact:
    leads_scored: int  # leads in the database
    leads_changed: int  # whose score (behaviour) or grade (fit) would change
    leads_up: int
    leads_down: int
    would_become_mql: int  # in stage "lead", not meeting the threshold now, would then
    would_drop_below: int  # meet it now, would not then
    points_delta: int  # the sum of all changes


def rule_impact(values: dict[str, Any] | None, *, rule: Rule | None = None,
                now: datetime | None = None) -> Impact:
    """What saving an unsaved or changed rule would do, computed with the rescore's SQL
    on the side (nothing is written): ``values`` is the rule as the editor holds it
    (RULE_FIELDS; ``rule`` is the saved one it changes, if any). ``values=None`` with a
    rule: deleting (or deactivating) it. Behaviour rules: how many leads' scores change
    and by how much; fit rules: how many leads' grades change. Both: how many leads in
    stage "lead" would newly meet the MQL threshold (and how many would fall below it).
    Raises ValidationError for invalid values."""
    now = now or timezone.now()
    if values is None and rule is None:
        raise ValueError("Give the new values, the rule being changed, or both.")
    new = rule_spec_from(values, rule=rule) if values is not None else None
    if new is not None and not (values.get("active", rule.active if rule else True)):
        new = None  # saving it inactive: like deleting it, for the scores
    old = None
    if rule is not None and rule.active:
        old = RuleSpec.from_rule(rule, rule.category.key if rule.category_id else "")
    snapshot = snapshot_load()
    dialect = engine.current_dialect()
    impact = Impact(Lead.objects.count(), 0, 0, 0, 0, 0, 0)
    behaviour = [r if r and r.kind == RuleKind.BEHAVIOR else None for r in (old, new)]
    fit = [r if r and r.kind == RuleKind.FIT else None for r in (old, new)]
    # A rule switched between kinds (rare) adds both impacts; a lead may count twice.
    parts = []
    if any(behaviour):
        parts.append(_behaviour_impact(dialect, snapshot, *behaviour, now))
    if any(fit):
        parts.append(_fit_impact(dialect, snapshot, *fit))
    for part in parts:
        for name in ("leads_changed", "leads_up", "leads_down", "would_become_mql",
                     "would_drop_below", "points_delta"):
            setattr(impact, name, getattr(impact, name) + getattr(part, name))
    return impact


def _threshold_sql(snapshot: Snapshot, score: str, grade: str, category_points: str) -> str:
    t = snapshot.thresholds
    parts = [f"{score} >= {int(t.mql_score)}"]
    if t.mql_min_grade:
        grades = "ABCDF"[: "ABCDF".index(t.mql_min_grade) + 1]
        parts.append(f"{grade} IN ({', '.join(repr(g) for g in grades)})")
    if t.mql_category:
        parts.append(f"{category_points} >= {int(t.mql_category_min)}")
    return "(" + " AND ".join(parts) + ")"


def _category_points(dialect, snapshot: Snapshot) -> tuple[str, list]:
    key = snapshot.thresholds.mql_category
    if not key:
        return "0", []
    ref = JsonRef("ls.categories", (key,))
    is_number, p1 = dialect.json_is(ref, "number")
    number, p2 = dialect.json_number(ref)
    return f"(CASE WHEN {is_number} THEN {number} ELSE 0 END)", p1 + p2


def _behaviour_impact(dialect, snapshot: Snapshot, old: RuleSpec | None,
                      new: RuleSpec | None, now: datetime) -> Impact:
    now_param = dialect.param_datetime(now)
    parts, params = [], []
    if new is not None:
        desired, desired_params = engine.desired_sql(dialect, [new], engine.all_leads())
        parts.append(
            f"SELECT d.lead_id, sum(d.points) AS delta, CAST(%s AS VARCHAR(50)) AS cat "
            f"FROM ({desired}) d "
            "WHERE d.points <> 0 AND (d.expires_at IS NULL OR d.expires_at > %s) "
            "GROUP BY d.lead_id")
        params += [new.category, *desired_params, now_param]
    if old is not None:
        parts.append(
            "SELECT c.lead_id, -sum(c.points) AS delta, CAST(%s AS VARCHAR(50)) AS cat "
            f"FROM {engine.CONTRIB} c "
            "WHERE c.rule_id = %s AND c.points <> 0 "
            "AND (c.expires_at IS NULL OR c.expires_at > %s) GROUP BY c.lead_id")
        params += [old.category, old.id, now_param]
    cat_points, cat_params = _category_points(dialect, snapshot)
    key = snapshot.thresholds.mql_category
    per_lead = (
        "SELECT x.lead_id, sum(x.delta) AS delta, "
        "sum(CASE WHEN x.cat = %s THEN x.delta ELSE 0 END) AS cat_delta "
        f"FROM ({' UNION ALL '.join(parts)}) x GROUP BY x.lead_id"
    )
    before = _threshold_sql(snapshot, "l.score", "l.grade", cat_points)
    after = _threshold_sql(snapshot, "l.score + d.delta", "l.grade",
                           f"({cat_points} + d.cat_delta)")
    sql = (
        "SELECT count(*), "
        "coalesce(sum(CASE WHEN d.delta > 0 THEN 1 ELSE 0 END), 0), "
        "coalesce(sum(CASE WHEN d.delta < 0 THEN 1 ELSE 0 END), 0), "
        f"coalesce(sum(CASE WHEN l.stage = 'lead' AND NOT {before} AND {after} "
        "THEN 1 ELSE 0 END), 0), "
        f"coalesce(sum(CASE WHEN {before} AND NOT {after} THEN 1 ELSE 0 END), 0), "
        "coalesce(sum(d.delta), 0) "
        f"FROM ({per_lead}) d JOIN {engine.LEAD} l ON l.id = d.lead_id "
        f"LEFT JOIN {engine.LEADSCORE} ls ON ls.lead_id = l.id WHERE d.delta <> 0"
    )
    # Placeholders in text order: the four threshold expressions (each with the category
    # parameters), then the per-lead subquery.
    all_params = [*cat_params, *cat_params, *cat_params, *cat_params, key or "", *params]
    with connection.cursor() as cursor:
        cursor.execute(sql, all_params)
        changed, up, down, into, out, delta = cursor.fetchone()
    return Impact(Lead.objects.count(), changed, up, down, into, out, int(delta or 0))


def _fit_impact(dialect, snapshot: Snapshot, old: RuleSpec | None,
                new: RuleSpec | None) -> Impact:
    fit = [r for r in snapshot.fit if old is None or r.id != old.id]
    if new is not None and new.kind == RuleKind.FIT:
        fit.append(new)
    proposed = Snapshot(stamp="preview", behavior=snapshot.behavior, fit=tuple(fit),
                        thresholds=snapshot.thresholds, by_kind=snapshot.by_kind)
    fit_now, now_params = engine.fit_sql(dialect, snapshot.fit)
    fit_new, new_params = engine.fit_sql(dialect, proposed.fit)
    grade_new = engine.grade_sql(proposed, "f.fit_new")
    cat_points, cat_params = _category_points(dialect, snapshot)
    before = _threshold_sql(snapshot, "f.score", "f.grade", "f.cat_points")
    after = _threshold_sql(snapshot, "f.score", grade_new, "f.cat_points")
    sql = (
        "SELECT count(*), "
        "coalesce(sum(CASE WHEN f.fit_new > f.fit_now THEN 1 ELSE 0 END), 0), "
        "coalesce(sum(CASE WHEN f.fit_new < f.fit_now THEN 1 ELSE 0 END), 0), "
        f"coalesce(sum(CASE WHEN f.stage = 'lead' AND NOT {before} AND {after} "
        "THEN 1 ELSE 0 END), 0), "
        f"coalesce(sum(CASE WHEN {before} AND NOT {after} THEN 1 ELSE 0 END), 0), "
        "coalesce(sum(f.fit_new - f.fit_now), 0) "
        f"FROM (SELECT l.score, l.grade, l.stage, {cat_points} AS cat_points, "
        f"{fit_now} AS fit_now, {fit_new} AS fit_new FROM {engine.LEAD} l "
        f"LEFT JOIN {engine.LEADSCORE} ls ON ls.lead_id = l.id) f "
        f"WHERE {grade_new} <> f.grade"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*cat_params, *now_params, *new_params])
        changed, up, down, into, out, delta = cursor.fetchone()
    return Impact(Lead.objects.count(), changed, up, down, into, out, int(delta or 0))


@dataclass
class LeadTestLine:
    activity_id: int
    occurred_at: datetime
    points: int
    expires_at: datetime | None
    expired: bool


@dataclass
class LeadTest:
    """What a rule would give one lead."""

    lead_id: int
    kind: str
    points: int  # behaviour: unexpired points now; fit: points if the lead matches
    matched: bool
    lines: list[LeadTestLine]  # behaviour: every matching activity and what it earns
    score_now: int
    score_then: int
    grade_now: str
    grade_then: str


def rule_test_against_lead(values: dict[str, Any], lead: Lead, *, rule: Rule | None = None,
                           now: datetime | None = None) -> LeadTest:
    """"Test against a lead": what the rule (unsaved, or ``rule`` with changed
    ``values``) would give ``lead``, from its activities and fields as they are now."""
    now = now or timezone.now()
    spec = rule_spec_from(values, rule=rule)
    snapshot = snapshot_load()
    if spec.kind == RuleKind.FIT:
        matched = spec.compiled.matches(lead)
        fit = [r for r in snapshot.fit if r.id != spec.id]
        fit_then = sum(r.points for r in fit if r.compiled.matches(lead)) + (
            spec.points if matched else 0)
        grade_then = snapshot.thresholds.grade_for(fit_then)
        return LeadTest(lead.pk, spec.kind, spec.points if matched else 0, matched, [],
                        lead.score, lead.score, lead.grade, grade_then)
    activities = list(Activity.objects.filter(lead_id=lead.pk, kind=spec.activity_kind)
                      .order_by("occurred_at", "id").only("id", "occurred_at", "data"))
    matches = [a for a in activities if spec.matches_activity(spec.activity_kind, a.data)]
    earned = assign(spec, [(a.occurred_at, a.pk) for a in matches])
    lines = [
        LeadTestLine(a.pk, a.occurred_at, e.points, e.expires_at,
                     e.expires_at is not None and e.expires_at <= now)
        for a, e in zip(matches, earned, strict=True)
    ]
    points = sum(line.points for line in lines if not line.expired)
    current = 0
    if rule is not None and rule.active:
        current = sum(c.points for c in ScoreContribution.objects.filter(
            lead_id=lead.pk, rule_id=rule.pk).exclude(points=0)
            if c.expires_at is None or c.expires_at > now)
    return LeadTest(lead.pk, spec.kind, points, bool(matches), lines, lead.score,
                    lead.score - current + points, lead.grade, lead.grade)


# --- Rule effectiveness -------------------------------------------------------------------

REACHED_SQL = (Stage.SQL, Stage.OPPORTUNITY, Stage.CUSTOMER)


@dataclass
class RuleEffect:
    rule_id: int
    name: str
    kind: str
    category: str
    active: bool
    fired: int  # leads of the period it gave points to (fit: leads it matches)
    not_fired: int
    sql_fired: int  # of those, how many reached SQL (or beyond)
    sql_not_fired: int
    customer_fired: int
    customer_not_fired: int

    @staticmethod
    def _rate(part: int, whole: int) -> float | None:
        return part / whole if whole else None

    @property
    def sql_rate(self) -> float | None:
        return self._rate(self.sql_fired, self.fired)

    @property
    def sql_rate_without(self) -> float | None:
        return self._rate(self.sql_not_fired, self.not_fired)

    @property
    def customer_rate(self) -> float | None:
        return self._rate(self.customer_fired, self.fired)

    @property
    def customer_rate_without(self) -> float | None:
        return self._rate(self.customer_not_fired, self.not_fired)

    @staticmethod
    def _lift(rate: float | None, without: float | None) -> float | None:
        if rate is None or not without:
            return None
        return rate / without

    @property
    def sql_lift(self) -> float | None:
        """How many times likelier leads it fired for reached SQL than the others."""
        return self._lift(self.sql_rate, self.sql_rate_without)

    @property
    def customer_lift(self) -> float | None:
        return self._lift(self.customer_rate, self.customer_rate_without)


@dataclass
class Effectiveness:
    start: datetime
    end: datetime
    leads: int
    reached_sql: int
    reached_customer: int
    rules: list[RuleEffect]


def rule_effectiveness(*, start: datetime, end: datetime) -> Effectiveness:
    """For each rule: of the leads created in [start, end), those it fired for (gave
    points to; fit rules: that match it now) and those it did not, and how many of each
    reached SQL (or beyond) and customer, by the pipeline's stage transitions. Set-based:
    three queries whatever the number of leads."""
    transitions = apps.get_model("pipeline", "StageTransition")._meta.db_table
    dialect = engine.current_dialect()
    window = [dialect.param_datetime(start), dialect.param_datetime(end)]
    reached = ", ".join(f"'{s}'" for s in REACHED_SQL)
    conversions = (
        "SELECT t.lead_id, "
        f"max(CASE WHEN t.to_stage IN ({reached}) THEN 1 ELSE 0 END) AS to_sql, "
        f"max(CASE WHEN t.to_stage = '{Stage.CUSTOMER}' THEN 1 ELSE 0 END) AS to_customer "
        f"FROM {transitions} t JOIN {engine.LEAD} c ON c.id = t.lead_id "
        "WHERE c.created_at >= %s AND c.created_at < %s GROUP BY t.lead_id"
    )
    rules = {r.pk: r for r in Rule.objects.select_related("category")}
    effects: dict[int, list[int]] = {}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), coalesce(sum(v.to_sql), 0), coalesce(sum(v.to_customer), 0) "
            f"FROM {engine.LEAD} l LEFT JOIN ({conversions}) v ON v.lead_id = l.id "
            "WHERE l.created_at >= %s AND l.created_at < %s", [*window, *window])
        total, total_sql, total_customer = cursor.fetchone()
        cursor.execute(
            "SELECT f.rule_id, count(*), coalesce(sum(v.to_sql), 0), "
            "coalesce(sum(v.to_customer), 0) FROM (SELECT DISTINCT c.rule_id, c.lead_id "
            f"FROM {engine.CONTRIB} c JOIN {engine.LEAD} l ON l.id = c.lead_id "
            "WHERE c.points <> 0 AND l.created_at >= %s AND l.created_at < %s) f "
            f"LEFT JOIN ({conversions}) v ON v.lead_id = f.lead_id GROUP BY f.rule_id",
            [*window, *window])
        for rule_id, fired, to_sql, to_customer in cursor.fetchall():
            effects[rule_id] = [fired, to_sql, to_customer]
        fit_rules = [r for r in rules.values() if r.kind == RuleKind.FIT]
        if fit_rules:
            columns, params = [], []
            for rule in fit_rules:
                spec = RuleSpec.from_rule(rule)
                condition, p = spec.compiled.sql(dialect)
                for value in ("1", "coalesce(v.to_sql, 0)", "coalesce(v.to_customer, 0)"):
                    columns.append(f"coalesce(sum(CASE WHEN {condition} THEN {value} "
                                   "ELSE 0 END), 0)")
                    params += p
            cursor.execute(
                f"SELECT {', '.join(columns)} FROM {engine.LEAD} l "
                f"LEFT JOIN ({conversions}) v ON v.lead_id = l.id "
                "WHERE l.created_at >= %s AND l.created_at < %s", [*params, *window, *window])
            row = cursor.fetchone()
            for i, rule in enumerate(fit_rules):
                effects[rule.pk] = [int(x) for x in row[3 * i: 3 * i + 3]]
    lines = []
    for rule in sorted(rules.values(), key=lambda r: (r.kind, r.position, r.pk)):
        fired, to_sql, to_customer = effects.get(rule.pk, [0, 0, 0])
        lines.append(RuleEffect(
            rule_id=rule.pk, name=rule.name, kind=rule.kind,
            category=rule.category.key if rule.category_id else "", active=rule.active,
            fired=fired, not_fired=total - fired, sql_fired=to_sql,
            sql_not_fired=total_sql - to_sql, customer_fired=to_customer,
            customer_not_fired=total_customer - to_customer,
        ))
    return Effectiveness(start, end, total, total_sql, total_customer, lines)


CSV_COLUMNS = ["rule_id", "rule", "kind", "category", "active", "leads_fired",
               "leads_not_fired", "sql_rate_fired", "sql_rate_not_fired", "sql_lift",
               "customer_rate_fired", "customer_rate_not_fired", "customer_lift"]


def rule_effectiveness_csv(report: Effectiveness) -> str:
    """The report as CSV (rates as fractions, empty where there is nothing to divide by).
    Cells starting with = + - @ are prefixed with ' so spreadsheets do not run them."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)

    def number(value: float | None) -> str:
        return "" if value is None else f"{value:.4f}"

    for e in report.rules:
        writer.writerow([
            e.rule_id, _cell(e.name), e.kind, e.category, "yes" if e.active else "no",
            e.fired, e.not_fired, number(e.sql_rate), number(e.sql_rate_without),
            number(e.sql_lift), number(e.customer_rate), number(e.customer_rate_without),
            number(e.customer_lift),
        ])
    return out.getvalue()


def _cell(text: str) -> str:
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


# --- Rescore jobs -------------------------------------------------------------------------


def rescore_job_latest() -> RescoreJob | None:
    return RescoreJob.objects.order_by("-created_at", "-id").first()


def rescore_job_active() -> RescoreJob | None:
    """The job the UI's progress bar follows: the oldest running, else the queued one
    (which waits for it)."""
    running_first = Case(When(status=RescoreStatus.RUNNING, then=Value(0)), default=Value(1))
    return (RescoreJob.objects.filter(status__in=[RescoreStatus.RUNNING, RescoreStatus.QUEUED])
            .order_by(running_first, "id").first())


def rescore_job_queued() -> RescoreJob | None:
    """The job not started yet, which a rule or settings change joins (rescore_request)."""
    return RescoreJob.objects.filter(status=RescoreStatus.QUEUED).order_by("id").first()


def rules_for_kind(kind: str | None = None):
    qs = Rule.objects.select_related("category").order_by("kind", "position", "id")
    return qs.filter(kind=kind) if kind else qs


def validation_messages(exc: ValidationError) -> dict[str, list[str]]:
    return exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
