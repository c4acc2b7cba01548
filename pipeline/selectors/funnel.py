"""Reads for the funnel dashboard: a period's new leads and how far they got (cohort),
the moves into each stage in the period (flow), conversion between stages, velocity
(median days between stages), rejection and disqualification reasons, leads by source
and a weekly trend.

The cohort and velocity come from LeadMilestone (one row per lead that has changed
stage: its first move into each funnel stage, with its created_at and source, kept by
lead_change_stage), the flow and the reasons from StageTransition (every move), the rest
from Lead and Submission; counted in the database in a fixed number of statements
however many leads there are (see "Queries" below), on the reporting database (the read
replica, when one is set up). Unfiltered weekly counts are range counts per week on an
index (cheaper than grouping a year of rows by week); filtered ones group the scope's
rows.

A lead "reached" a stage when it moved into that stage or one past it (a lead moved
straight from Lead to SQL passed the MQL gate too), so each stage of the funnel holds no
more leads than the one before.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.core.exceptions import EmptyResultSet
from django.db import connections, transaction
from django.db.models import Case, Exists, F, OuterRef, Q, QuerySet, TextField, Value, When
from django.db.models.functions import Left, StrIndex, TruncWeek
from django.utils import timezone

from capture.models import Lead, Stage, Submission
from leadhub.db import reporting_db
from pipeline.selectors.leads import OWNER_NONE

# The funnel after "new lead", in order.
FUNNEL_STAGES = (Stage.MQL, Stage.SQL, Stage.OPPORTUNITY, Stage.CUSTOMER)
# The stages whose moves the flow counts (rejections, MQL → Lead, come with their reasons).
MOVED_INTO = (*FUNNEL_STAGES, Stage.DISQUALIFIED)
PERIOD_DAYS = {"7d": 7, "30d": 30, "90d": 90}
PERIOD_LABELS = {"7d": "Last 7 days", "30d": "Last 30 days", "90d": "Last 90 days",
                 "quarter": "This quarter", "custom": "Custom"}
DEFAULT_PERIOD = "30d"
# (name, label): velocity measures first arrival at each end.
VELOCITY_STEPS = (
    ("lead_to_mql", "Lead → MQL"),
    ("mql_to_sql", "MQL → SQL"),
    ("sql_to_customer", "SQL → Customer"),
)
# Each step's ends on a LeadMilestone row: (name, later, earlier).
VELOCITY_ENDS = (
    ("lead_to_mql", "mql_at", "lead_created_at"),
    ("mql_to_sql", "sql_at", "mql_at"),
    ("sql_to_customer", "customer_at", "sql_at"),
)
NO_REASON = "(no reason given)"


# --- Period and scope -------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """Whole days in the site's time zone, ``end`` included."""

    start: date
    end: date
    key: str = "custom"

    @classmethod
    def named(cls, key: str, *, today: date | None = None) -> Period:
        today = today or timezone.localdate()
        if key == "quarter":
            return cls(date(today.year, 3 * ((today.month - 1) // 3) + 1, 1), today, key)
        return cls(today - timedelta(days=PERIOD_DAYS[key] - 1), today, key)

    @property
    def bounds(self) -> tuple[datetime, datetime]:
        """[start 00:00, the day after end 00:00), aware, in the current time zone."""
        tz = timezone.get_current_timezone()
        return (datetime.combine(self.start, time.min, tzinfo=tz),
                datetime.combine(self.end + timedelta(days=1), time.min, tzinfo=tz))

    @property
    def label(self) -> str:
        return PERIOD_LABELS.get(self.key, "Custom")

    def weeks(self) -> list[date]:
        """The Mondays of the weeks the period touches (the first and last may be partial)."""
        monday = self.start - timedelta(days=self.start.weekday())
        weeks = []
        while monday <= self.end:
            weeks.append(monday)
            monday += timedelta(days=7)
        return weeks

    def week_spans(self) -> list[tuple[date, datetime, datetime]]:
        """(Monday, from, to) for each week the period touches, cut to the period's
        bounds: the rows TruncWeek would put in that week, as a range."""
        tz = timezone.get_current_timezone()
        lo, hi = self.bounds
        return [(monday, max(lo, datetime.combine(monday, time.min, tzinfo=tz)),
                 min(hi, datetime.combine(monday + timedelta(days=7), time.min, tzinfo=tz)))
                for monday in self.weeks()]


@dataclass(frozen=True)
class FunnelScope:
    """The leads the figures are about: those ``user`` may see, narrowed by source, form
    (leads with a submission to it) and owner (a user id, or "none" for unassigned)."""

    leads: QuerySet[Lead]
    narrowed: bool  # False: every lead, so no query needs to know which
    form_id: int | None = None
    db: str = "default"
    source: str = ""
    # Narrowed by more than the source (owner, form, or a user who may see no lead): the
    # queries then join the scope's lead ids, made once per statement (see _run). By the
    # source alone they filter on LeadMilestone's copy of it.
    by_lead: bool = False

    @property
    def connection(self):
        return connections[self.db]

    def milestones(self) -> QuerySet:
        """The scope's milestone rows; when by_lead, still to be joined (_join)."""
        from pipeline.models import LeadMilestone

        rows = LeadMilestone.objects.using(self.db).order_by()
        return rows.filter(source=self.source) if self.source else rows

    def transitions(self) -> QuerySet:
        """The scope's moves; when by_lead, still to be joined (_join)."""
        from pipeline.models import LeadMilestone, StageTransition

        moves = StageTransition.objects.using(self.db).order_by()
        if self.source and not self.by_lead:
            # Every lead that has moved has a milestone row (lead_change_stage writes
            # both), and that table is a fraction of the lead table's size.
            moves = moves.filter(lead__in=LeadMilestone.objects.using(self.db).order_by()
                                 .filter(source=self.source).values("lead_id"))
        return moves

    def submissions(self) -> QuerySet:
        """The scope's form posts; when by_lead, still to be joined (_join)."""
        posts = Submission.objects.using(self.db).order_by()
        if self.form_id is not None:
            posts = posts.filter(form_id=self.form_id)
        if self.source and not self.by_lead:
            posts = posts.filter(lead__in=self.leads.values("pk"))
        return posts


def funnel_scope(*, user, source: str = "", form_id: int | None = None,
                 owner: str = "") -> FunnelScope:
    db = reporting_db()
    leads = Lead.objects.using(db).visible_to(user).order_by()
    by_lead = leads.query.is_empty()  # sees no lead: nor any lead's transitions
    if source:
        leads = leads.filter(source=source)
    if form_id is not None:
        submitted = Submission.objects.filter(lead=OuterRef("pk"), form_id=form_id)
        leads, by_lead = leads.filter(Exists(submitted)), True
    if owner == OWNER_NONE:
        leads, by_lead = leads.filter(owner__isnull=True), True
    elif owner:
        leads, by_lead = leads.filter(owner_id=int(owner)), True
    return FunnelScope(leads=leads, narrowed=by_lead or bool(source), form_id=form_id,
                       db=db, source=source, by_lead=by_lead)


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


# --- Queries: parts of one statement ------------------------------------------------------
#
# Each figure is one or more parts: a SELECT of rows (part, key, sub, n, x), the same
# shape for all, so parts can run as one statement (UNION ALL) and each figure reads its
# own rows back. A scope narrowed by lead (owner, form) makes the statement
# start with its lead ids, materialized once (WITH funnel_leads …) and joined by every
# part that needs them: building that set (e.g. one rep's 80,000 leads, read from all
# over the lead table) costs more than any part, and was paid by every query. A plain
# join, not IN (…): the planner has no statistics for a CTE, and for IN it guessed
# 200 distinct ids and probed indexes 80,000 times per part.

SCOPE_CTE = "funnel_leads"


@dataclass
class _Part:
    sql: str
    params: list


def _compiled(queryset: QuerySet) -> tuple[str, list] | None:
    """A queryset's SQL and parameters for its own database, to nest in a query the ORM
    cannot express; None when it can match nothing."""
    try:
        sql, params = queryset.query.get_compiler(using=queryset.db).as_sql()
    except EmptyResultSet:
        return None
    return sql, list(params)


def _row(part: str, *, key: str = "NULL", sub: str = "NULL", n: str = "NULL",
         x: str = "NULL") -> str:
    """The select list of a part's rows. ``part`` is a constant of this module."""
    return (f"CAST('{part}' AS TEXT), CAST({key} AS TEXT), CAST({sub} AS TEXT), "
            f"CAST({n} AS BIGINT), CAST({x} AS DOUBLE PRECISION)")


def _join(scope: FunnelScope, alias: str = "x") -> str:
    """Joins rows ``alias`` (which have a lead_id) to the scope's leads, if need be."""
    if not scope.by_lead:
        return ""
    quote = scope.connection.ops.quote_name
    return f" JOIN {SCOPE_CTE} s_ ON s_.id = {alias}.{quote('lead_id')}"


def _part(scope: FunnelScope, rows: QuerySet, select: str, tail: str = "", *,
          join: bool = True, params: Iterable = ()) -> _Part | None:
    """SELECT ``select`` FROM (``rows``) x [joined to the scope's leads] ``tail``."""
    compiled = _compiled(rows)
    if compiled is None:
        return None
    joined = _join(scope) if join else ""
    return _Part(f"SELECT {select} FROM ({compiled[0]}) x{joined} {tail}",  # noqa: S608
                 [*compiled[1], *params])


def _run(scope: FunnelScope, parts: Iterable[_Part | None]) -> dict[str, list[tuple]]:
    """Run the parts as one statement; their rows (key, sub, n, x) by part."""
    parts = [part for part in parts if part is not None]
    rows: dict[str, list[tuple]] = defaultdict(list)
    if not parts:
        return rows
    sql = " UNION ALL ".join(f"SELECT * FROM ({part.sql}) p{i}"  # noqa: S608
                             for i, part in enumerate(parts))
    params = [param for part in parts for param in part.params]
    if scope.by_lead:
        members = _compiled(scope.leads.values("pk"))
        if members is None:  # the scope holds no lead: nor anything of one
            return rows
        materialized = "MATERIALIZED " if scope.connection.vendor == "postgresql" else ""
        sql = f"WITH {SCOPE_CTE} (id) AS {materialized}({members[0]}) {sql}"
        params = [*members[1], *params]
    with scope.connection.cursor() as cursor:
        cursor.execute(sql, params)
        for part, *row in cursor.fetchall():
            rows[part].append(tuple(row))
    return rows


def _weekly_parts(scope: FunnelScope, period: Period, name: str, rows: QuerySet, *,
                  split: str | None = None, values: tuple = (),
                  join: bool = True) -> list[_Part | None]:
    """Rows of ``rows`` created in each week of the period, per value of ``split`` (one
    of ``values``) if given: (value, Monday, n). ``rows``: the scope's, of a table with
    a created_at, not yet cut to the period.

    Narrowed: the period's rows grouped by TruncWeek. Not narrowed: one COUNT per week
    (and value), each a range of an index on ([split,] created_at), so a year of rows is
    counted in the index instead of grouped one by one (for 1,000,000 moves: 84 ms
    instead of 290 ms)."""
    lo, hi = period.bounds
    if scope.narrowed:
        rows = rows.filter(created_at__gte=lo, created_at__lt=hi)
        if split:
            rows = rows.filter(**{f"{split}__in": values})
        columns = ["week", *([split] if split else []), *(["lead_id"] if join else [])]
        rows = rows.annotate(week=TruncWeek("created_at")).values(*columns)
        key = f"x.{scope.connection.ops.quote_name(split)}" if split else "NULL"
        return [_part(scope, rows, _row(name, key=key, sub="x.week", n="COUNT(*)"),
                      "GROUP BY 2, 3", join=join)]
    ops, quote = scope.connection.ops, scope.connection.ops.quote_name
    spans = period.week_spans()
    weeks = ", ".join(["(%s, %s, %s)"] * len(spans))
    params = [value for monday, start, end in spans
              for value in (monday.isoformat(), ops.adapt_datetimefield_value(start),
                            ops.adapt_datetimefield_value(end))]
    at, table = quote("created_at"), quote(rows.model._meta.db_table)
    count = (f"SELECT COUNT(*) FROM {table} t "  # noqa: S608
             f"WHERE t.{at} >= w.column2 AND t.{at} < w.column3")
    if split:
        kinds = ", ".join(["(%s)"] * len(values))
        count += f" AND t.{quote(split)} = v.column1"
        sql = (f"SELECT {_row(name, key='v.column1', sub='w.column1', n=f'({count})')} "  # noqa: S608
               f"FROM (VALUES {weeks}) w CROSS JOIN (VALUES {kinds}) v")
        params += [str(value) for value in values]
    else:
        sql = f"SELECT {_row(name, sub='w.column1', n=f'({count})')} FROM (VALUES {weeks}) w"  # noqa: S608
    return [_Part(sql, params)]


def _weekly_counts(period: Period, rows: list[tuple], *, split: bool = False,
                   values: tuple = ()) -> dict[date, dict[str, int] | int]:
    """_weekly_parts' rows as {Monday: n} (or {Monday: {value: n}}), every week present."""
    counts = {monday: (dict.fromkeys(values, 0) if split else 0) for monday in period.weeks()}
    for value, week, n, _ in rows:
        # The week's first moment in local time ("2025-02-17 00:00:00"), or its Monday.
        monday = date.fromisoformat(str(week)[:10])
        if monday in counts:
            if split:
                counts[monday][value] = n
            else:
                counts[monday] = n
    return counts


# --- Cohort: the period's new leads, and how far they got -------------------------------


@dataclass
class SourceRow:
    source: str
    leads: int
    reached: dict[str, int]

    @property
    def label(self) -> str:
        return self.source or "(none)"

    @property
    def sql_rate(self) -> float | None:
        return _rate(self.reached[Stage.SQL], self.leads)


@dataclass
class Cohort:
    leads: int
    reached: dict[str, int]  # per funnel stage: leads that reached it (or beyond), ever
    sources: list[SourceRow]  # by leads, most first


# The furthest funnel stage a milestone row reached: 0 (none) to 4 (customer).
FURTHEST = ("CASE WHEN x.customer_at IS NOT NULL THEN 4 WHEN x.opportunity_at IS NOT NULL "
            "THEN 3 WHEN x.sql_at IS NOT NULL THEN 2 WHEN x.mql_at IS NOT NULL THEN 1 "
            "ELSE 0 END")


def _cohort_parts(scope: FunnelScope, period: Period) -> list[_Part | None]:
    """The period's new leads per source, and their milestone rows per source and
    furthest stage (LeadMilestone's copies of created_at and source spare a join to
    the lead table)."""
    lo, hi = period.bounds
    leads = scope.leads.filter(created_at__gte=lo, created_at__lt=hi).values("source")
    reached = (scope.milestones().filter(lead_created_at__gte=lo, lead_created_at__lt=hi)
               .values("lead_id", "source", "mql_at", "sql_at", "opportunity_at",
                       "customer_at"))
    return [
        _part(scope, leads, _row("leads", key="x.source", n="COUNT(*)"), "GROUP BY 2",
              join=False),
        _part(scope, reached, _row("reached", key="x.source", sub=FURTHEST, n="COUNT(*)"),
              "GROUP BY 2, 3"),
    ]


def _cohort(rows: dict[str, list[tuple]]) -> Cohort:
    furthest: dict[str, dict[int, int]] = defaultdict(dict)
    for source, rank, n, _ in rows["reached"]:
        furthest[source][int(rank)] = n

    def reached(source: str, stage: Stage) -> int:
        rank = FUNNEL_STAGES.index(stage) + 1
        return sum(n for at, n in furthest[source].items() if at >= rank)

    sources = sorted(
        (SourceRow(source, n, {stage: reached(source, stage) for stage in FUNNEL_STAGES})
         for source, _, n, _ in rows["leads"]),
        key=lambda row: (-row.leads, row.source),
    )
    return Cohort(
        leads=sum(row.leads for row in sources),
        reached={stage: sum(row.reached[stage] for row in sources) for stage in FUNNEL_STAGES},
        sources=sources,
    )


def funnel_cohort(scope: FunnelScope, period: Period) -> Cohort:
    """Of the leads created in the period: how many, how many have ever reached each
    stage, and the same per lead source. One statement."""
    return _cohort(_run(scope, _cohort_parts(scope, period)))


# --- Flow: moves into each stage in the period ------------------------------------------


MovesByWeek = dict[date, dict[str, int]]


def _moves_parts(scope: FunnelScope, period: Period) -> list[_Part | None]:
    return _weekly_parts(scope, period, "moves", scope.transitions(), split="to_stage",
                         values=tuple(stage.value for stage in MOVED_INTO))


def _moves(period: Period, rows: dict[str, list[tuple]]) -> MovesByWeek:
    return _weekly_counts(period, rows["moves"], split=True,
                          values=tuple(stage.value for stage in MOVED_INTO))


def funnel_moves_by_week(scope: FunnelScope, period: Period) -> MovesByWeek:
    """Moves in the period into each funnel stage and into Disqualified, per week (keyed
    by its Monday; every week of the period, zeros included). One statement; the
    period's totals and the weekly trend both come from it."""
    return _moves(period, _run(scope, _moves_parts(scope, period)))


def funnel_flow(scope: FunnelScope, period: Period, *, by_week: MovesByWeek | None = None,
                rejected: int | None = None) -> dict[str, int]:
    """The period's moves into each stage, and "rejected" (MQLs sent back to Lead),
    whenever their leads came. One statement for what is not given."""
    parts = []
    if by_week is None:
        parts += _moves_parts(scope, period)
    if rejected is None:
        parts.append(_reasons_part(scope, period, kind="rejected", limit=1))
    rows = _run(scope, parts)
    if by_week is None:
        by_week = _moves(period, rows)
    if rejected is None:
        rejected = _reasons(rows, "rejected").total
    return {**{stage.value: sum(week[stage.value] for week in by_week.values())
               for stage in MOVED_INTO},
            "rejected": rejected}


@dataclass
class FunnelRow:
    stage: str
    label: str
    reached: int  # of the period's new leads, ever
    moves: int | None  # moves into the stage in the period (None for "new leads")
    share: float | None  # reached / new leads
    conversion: float | None  # reached / reached the stage before


def funnel_rows(cohort: Cohort, flow: dict[str, int]) -> list[FunnelRow]:
    rows = [FunnelRow("new", "New leads", cohort.leads, None, _rate(cohort.leads, cohort.leads),
                      None)]
    before = cohort.leads
    for stage in FUNNEL_STAGES:
        reached = cohort.reached[stage]
        rows.append(FunnelRow(stage.value, stage.label, reached, flow[stage.value],
                              _rate(reached, cohort.leads), _rate(reached, before)))
        before = reached
    return rows


# --- Velocity: median days between stages -----------------------------------------------


@dataclass
class Velocity:
    step: str
    label: str
    median_days: float | None
    leads: int  # how many leads the median is over


def _days_between(vendor: str, later: str, earlier: str) -> str:
    if vendor == "postgresql":
        # date_part (double precision), not EXTRACT (numeric): the medians sort these.
        return f"date_part('epoch', {later} - {earlier}) / 86400.0"
    return f"(julianday({later}) - julianday({earlier}))"


def _velocity_parts(scope: FunnelScope, period: Period) -> list[_Part | None]:
    """A part per step: the median (x) and number (n) of the days between its ends, over
    the milestone rows whose later end is in the period and not before the earlier one
    (so a lead that skipped a stage is not counted for the steps that need it). Each
    reads its own index range; on Postgres they may run in parallel."""
    lo, hi = period.bounds
    vendor = scope.connection.vendor
    parts = []
    for name, later, earlier in VELOCITY_ENDS:
        ends = (scope.milestones()
                .filter(Q(**{f"{later}__gte": lo, f"{later}__lt": hi})
                        & Q(**{f"{later}__gte": F(earlier)}))
                .values("lead_id", later_at=F(later), earlier_at=F(earlier)))
        days = _days_between(vendor, "x.later_at", "x.earlier_at")
        if vendor == "postgresql":
            parts.append(_part(scope, ends, _row(
                "velocity", key=f"'{name}'", n="COUNT(*)",
                x=f"percentile_cont(0.5) WITHIN GROUP (ORDER BY {days})")))
            continue
        # SQLite has no percentile function: the middle value (odd count) or the mean
        # of the two middle ones (even count), by row_number().
        values = _part(scope, ends, f"{days} AS v")
        if values is not None:
            median = _row("velocity", key=f"'{name}'", n="MAX(r.n)", x="AVG(r.v)")
            values.sql = (
                f"SELECT {median} "  # noqa: S608
                "FROM (SELECT d.v, row_number() OVER (ORDER BY d.v) AS i, "
                f"COUNT(*) OVER () AS n FROM ({values.sql}) d) r "
                "WHERE r.i IN ((r.n + 1) / 2, (r.n + 2) / 2)")
        parts.append(values)
    return parts


def _velocity(rows: dict[str, list[tuple]]) -> list[Velocity]:
    found = {name: (median, n) for name, _, n, median in rows["velocity"] if n}
    return [Velocity(name, label, *found.get(name, (None, 0)))
            for name, label in VELOCITY_STEPS]


def funnel_velocity(scope: FunnelScope, period: Period) -> list[Velocity]:
    """Median days from a lead's creation to its first move into MQL, from that to its
    first move into SQL, and from that to its first move into Customer, over the leads
    whose later step fell in the period. One statement over LeadMilestone; the median is
    percentile_cont on Postgres and a row_number() window on SQLite."""
    return _velocity(_run(scope, _velocity_parts(scope, period)))


# --- Reasons ------------------------------------------------------------------------------


@dataclass
class ReasonRow:
    label: str
    count: int


def _reason_label():
    """The reason a rep picked from the list: the board stores "Choice: details", so
    "Student: a class project" and "Student: thesis" count as one "Student"."""
    colon = StrIndex("reason", Value(": "))
    return Case(When(Q(colon__gt=0), then=Left("reason", F("colon") - 1)),
                default=F("reason"), output_field=TextField()), colon


class Reasons(list):
    """ReasonRows, most first; ``total``: the period's moves of the kind, whatever their
    reason (the flow's count of them)."""

    total: int = 0


def _reasons_part(scope: FunnelScope, period: Period, *, kind: str,
                  limit: int) -> _Part | None:
    """The ``limit`` commonest reasons for ``kind``, most first: (label, n), and the
    moves of the kind whatever their reason as x (SUM() OVER (): before LIMIT)."""
    lo, hi = period.bounds
    moves = scope.transitions().filter(created_at__gte=lo, created_at__lt=hi)
    if kind == "rejected":
        moves = moves.filter(from_stage=Stage.MQL, to_stage=Stage.LEAD)
    else:
        moves = moves.filter(to_stage=Stage.DISQUALIFIED)
    label, colon = _reason_label()
    moves = moves.annotate(colon=colon).annotate(label=label).values("lead_id", "label")
    grouped = _part(scope, moves, "x.label AS label, COUNT(*) AS n", "GROUP BY x.label")
    if grouped is not None:
        grouped.sql = (f"SELECT {_row(kind, key='g.label', n='g.n', x='SUM(g.n) OVER ()')} "  # noqa: S608
                       f"FROM ({grouped.sql}) g ORDER BY g.n DESC, g.label LIMIT %s")
        grouped.params.append(limit)
    return grouped


def _reasons(rows: dict[str, list[tuple]], kind: str) -> Reasons:
    reasons = Reasons()
    for label, _, n, total in rows[kind]:
        reasons.append(ReasonRow(label.strip() or NO_REASON, n))
        reasons.total = int(total)
    return reasons


def funnel_reasons(scope: FunnelScope, period: Period, *, kind: str,
                   limit: int = 5) -> Reasons:
    """The commonest reasons for ``kind`` ("rejected": MQLs sent back to Lead;
    "disqualified") in the period, most first, and how many such moves there were. One
    statement."""
    return _reasons(_run(scope, [_reasons_part(scope, period, kind=kind, limit=limit)]),
                    kind)


# --- Weekly trend -------------------------------------------------------------------------


@dataclass
class WeekRow:
    week: date  # its Monday
    leads: int = 0
    mqls: int = 0
    sqls: int = 0


def _new_leads_parts(scope: FunnelScope, period: Period) -> list[_Part | None]:
    return _weekly_parts(scope, period, "new", scope.leads, join=False)


def _weekly(period: Period, rows: dict[str, list[tuple]], by_week: MovesByWeek) -> list[WeekRow]:
    new = _weekly_counts(period, rows["new"])
    return [WeekRow(monday, new[monday], by_week[monday][Stage.MQL],
                    by_week[monday][Stage.SQL]) for monday in period.weeks()]


def funnel_weekly(scope: FunnelScope, period: Period, *,
                  by_week: MovesByWeek | None = None) -> list[WeekRow]:
    """Per week of the period: new leads, and moves into MQL and into SQL (weeks with
    nothing in them have zeros). One statement."""
    parts = _new_leads_parts(scope, period)
    if by_week is None:
        parts += _moves_parts(scope, period)
    rows = _run(scope, parts)
    return _weekly(period, rows, by_week if by_week is not None else _moves(period, rows))


# --- Submissions, and everything at once ---------------------------------------------------


def _submissions_part(scope: FunnelScope, period: Period) -> _Part | None:
    lo, hi = period.bounds
    posts = scope.submissions().filter(is_spam=False, created_at__gte=lo,
                                       created_at__lt=hi).values("lead_id")
    return _part(scope, posts, _row("submissions", n="COUNT(*)"))


def _submissions(rows: dict[str, list[tuple]]) -> int:
    return sum(n for _, _, n, _ in rows["submissions"])


def funnel_submissions(scope: FunnelScope, period: Period) -> int:
    """Form posts in the period that were not spam (to the chosen form, if one is)."""
    return _submissions(_run(scope, [_submissions_part(scope, period)]))


@dataclass
class Dashboard:
    period: Period
    cohort: Cohort
    flow: dict[str, int]
    funnel: list[FunnelRow]
    velocity: list[Velocity]
    rejected: Reasons
    disqualified: Reasons
    weekly: list[WeekRow]
    submissions: int
    totals: dict[str, float | None] = field(default_factory=dict)


@contextmanager
def funnel_reads(scope: FunnelScope):
    """One transaction for a dashboard's reads, without JIT on Postgres: over 1,000,000
    leads the velocity query's cost estimate passes jit_above_cost, and compiling it took
    about 100 ms on every request, more than it saved. (Raising work_mem as well was
    slower: it made the planner drop parallel plans.) SET LOCAL ends with the
    transaction."""
    with transaction.atomic(using=scope.db):
        if scope.connection.vendor == "postgresql":
            with scope.connection.cursor() as cursor:
                cursor.execute("SET LOCAL jit = off")
        yield


def funnel_dashboard(scope: FunnelScope, period: Period, *, reasons: int = 5) -> Dashboard:
    """Every figure on the dashboard, in a fixed number of statements whatever the number
    of leads: one when the scope is narrowed by lead (its lead ids are then made once),
    else one per figure (so each may get its own parallel plan: a year's velocity parts
    run side by side). Call it inside funnel_reads()."""
    groups = [
        _cohort_parts(scope, period),
        _moves_parts(scope, period),
        [_reasons_part(scope, period, kind="rejected", limit=reasons),
         _reasons_part(scope, period, kind="disqualified", limit=reasons)],
        _velocity_parts(scope, period),
        _new_leads_parts(scope, period),
        [_submissions_part(scope, period)],
    ]
    if scope.by_lead:
        rows = _run(scope, [part for group in groups for part in group])
    else:
        rows = defaultdict(list)
        for group in groups:
            rows.update(_run(scope, group))
    cohort = _cohort(rows)
    by_week = _moves(period, rows)
    rejected = _reasons(rows, "rejected")
    flow = funnel_flow(scope, period, by_week=by_week, rejected=rejected.total)
    return Dashboard(
        period=period,
        cohort=cohort,
        flow=flow,
        funnel=funnel_rows(cohort, flow),
        velocity=_velocity(rows),
        rejected=rejected,
        disqualified=_reasons(rows, "disqualified"),
        weekly=_weekly(period, rows, by_week),
        submissions=_submissions(rows),
        totals={
            "lead_to_customer": _rate(cohort.reached[Stage.CUSTOMER], cohort.leads),
            "lead_to_sql": _rate(cohort.reached[Stage.SQL], cohort.leads),
        },
    )
