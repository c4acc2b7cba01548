"""Reads for the funnel dashboard: a period's new leads and how far they got (cohort),
the moves into each stage in the period (flow), conversion between stages, velocity
(median days between stages), rejection and disqualification reasons, leads by source
and a weekly trend.

Everything comes from StageTransition (the source for funnel, velocity and conversion)
and Lead/Submission, counted in the database: a fixed handful of queries, however many
leads there are, on the reporting database (the read replica, when one is set up).

A lead "reached" a stage when it moved into that stage or one past it (a lead moved
straight from Lead to SQL passed the MQL gate too), so each stage of the funnel holds no
more leads than the one before.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.core.exceptions import EmptyResultSet
from django.db import connections, transaction
from django.db.models import (
    Case,
    Count,
    Exists,
    F,
    IntegerField,
    Max,
    Min,
    OuterRef,
    Q,
    QuerySet,
    TextField,
    Value,
    When,
)
from django.db.models.functions import Left, StrIndex, TruncWeek
from django.utils import timezone

from capture.models import Lead, Stage, Submission
from leadhub.db import reporting_db
from pipeline.selectors.leads import OWNER_NONE

# The funnel after "new lead", in order; a transition's rank is its place here (1–4).
FUNNEL_STAGES = (Stage.MQL, Stage.SQL, Stage.OPPORTUNITY, Stage.CUSTOMER)
REACHED_RANK = Case(
    *(When(to_stage=stage, then=Value(rank)) for rank, stage in enumerate(FUNNEL_STAGES, 1)),
    default=Value(0),
    output_field=IntegerField(),
)
PERIOD_DAYS = {"7d": 7, "30d": 30, "90d": 90}
PERIOD_LABELS = {"7d": "Last 7 days", "30d": "Last 30 days", "90d": "Last 90 days",
                 "quarter": "This quarter", "custom": "Custom"}
DEFAULT_PERIOD = "30d"
# (name, from stage, to stage): velocity measures first arrival at each end.
VELOCITY_STEPS = (
    ("lead_to_mql", "Lead → MQL"),
    ("mql_to_sql", "MQL → SQL"),
    ("sql_to_customer", "SQL → Customer"),
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


@dataclass(frozen=True)
class FunnelScope:
    """The leads the figures are about: those ``user`` may see, narrowed by source, form
    (leads with a submission to it) and owner (a user id, or "none" for unassigned)."""

    leads: QuerySet[Lead]
    narrowed: bool  # False: every lead, so transitions need no join to leads
    form_id: int | None = None
    db: str = "default"

    @property
    def connection(self):
        return connections[self.db]

    def transitions(self):
        from pipeline.models import StageTransition

        moves = StageTransition.objects.using(self.db).order_by()
        if self.narrowed:
            moves = moves.filter(lead__in=self.leads.values("pk"))
        return moves


def funnel_scope(*, user, source: str = "", form_id: int | None = None,
                 owner: str = "") -> FunnelScope:
    db = reporting_db()
    leads = Lead.objects.using(db).visible_to(user).order_by()
    narrowed = leads.query.is_empty()  # sees no lead: nor any lead's transitions
    if source:
        leads, narrowed = leads.filter(source=source), True
    if form_id is not None:
        submitted = Submission.objects.filter(lead=OuterRef("pk"), form_id=form_id)
        leads, narrowed = leads.filter(Exists(submitted)), True
    if owner == OWNER_NONE:
        leads, narrowed = leads.filter(owner__isnull=True), True
    elif owner:
        leads, narrowed = leads.filter(owner_id=int(owner)), True
    return FunnelScope(leads=leads, narrowed=narrowed, form_id=form_id, db=db)


def _compiled(queryset: QuerySet) -> tuple[str, tuple] | None:
    """A queryset's SQL and parameters for its own database, to nest in a query the ORM
    cannot express (a join of two grouped subqueries); None when it can match nothing."""
    try:
        return queryset.query.get_compiler(using=queryset.db).as_sql()
    except EmptyResultSet:
        return None


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


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


def funnel_cohort(scope: FunnelScope, period: Period) -> Cohort:
    """Of the leads created in the period: how many, how many have ever reached each
    stage, and the same per lead source. One query: each lead's furthest funnel stage
    (grouped from its transitions), joined to the period's leads and counted per source."""
    from pipeline.models import StageTransition

    lo, hi = period.bounds
    new = scope.leads.filter(created_at__gte=lo, created_at__lt=hi).values("id", "source")
    # A lead's moves all come after its creation (created_at is set once, on insert), so
    # only moves since the period began can be these leads': the (to_stage, created_at)
    # index then reads a recent period's moves instead of every move ever made.
    furthest = (
        StageTransition.objects.using(scope.db).order_by()
        .filter(to_stage__in=FUNNEL_STAGES, created_at__gte=lo, lead__in=new.values("id"))
        .values("lead_id").annotate(reached=Max(REACHED_RANK))
    )
    new_sql, furthest_sql = _compiled(new), _compiled(furthest)
    rows = []
    if new_sql and furthest_sql:
        counts = ", ".join(
            f"SUM(CASE WHEN f.reached >= {rank} THEN 1 ELSE 0 END)"
            for rank in range(1, len(FUNNEL_STAGES) + 1)
        )
        with scope.connection.cursor() as cursor:
            cursor.execute(
                f"SELECT n.source, COUNT(*), {counts} FROM ({new_sql[0]}) n "  # noqa: S608
                f"LEFT JOIN ({furthest_sql[0]}) f ON f.lead_id = n.id GROUP BY n.source",
                (*new_sql[1], *furthest_sql[1]),
            )
            rows = cursor.fetchall()
    sources = sorted(
        (SourceRow(source, leads, dict(zip(FUNNEL_STAGES, map(int, reached), strict=True)))
         for source, leads, *reached in rows),
        key=lambda row: (-row.leads, row.source),
    )
    return Cohort(
        leads=sum(row.leads for row in sources),
        reached={stage: sum(row.reached[stage] for row in sources) for stage in FUNNEL_STAGES},
        sources=sources,
    )


# --- Flow: moves into each stage in the period ------------------------------------------


MOVE_COUNTS = {
    **{stage.value: Count("id", filter=Q(to_stage=stage))
       for stage in (*FUNNEL_STAGES, Stage.DISQUALIFIED)},
    "rejected": Count("id", filter=Q(from_stage=Stage.MQL, to_stage=Stage.LEAD)),
}
MovesByWeek = dict[date, dict[str, int]]


def funnel_moves_by_week(scope: FunnelScope, period: Period) -> MovesByWeek:
    """Transitions in the period per week (keyed by its Monday): per stage moved into,
    and "rejected" (MQLs sales sent back to Lead). One grouped query; the period's
    totals and the weekly trend both come from it."""
    lo, hi = period.bounds
    rows = (scope.transitions().filter(created_at__gte=lo, created_at__lt=hi)
            .annotate(week=TruncWeek("created_at")).values("week").annotate(**MOVE_COUNTS))
    return {timezone.localtime(row.pop("week")).date(): row for row in rows}


def funnel_flow(scope: FunnelScope, period: Period, *,
                by_week: MovesByWeek | None = None) -> dict[str, int]:
    """The period's moves into each stage (and rejections), whenever their leads came."""
    if by_week is None:
        by_week = funnel_moves_by_week(scope, period)
    return {name: sum(week[name] for week in by_week.values()) for name in MOVE_COUNTS}


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
        return f"EXTRACT(EPOCH FROM ({later} - {earlier})) / 86400.0"
    return f"(julianday({later}) - julianday({earlier}))"


def funnel_velocity(scope: FunnelScope, period: Period) -> list[Velocity]:
    """Median days from a lead's creation to its first move into MQL, from that to its
    first move into SQL, and from that to its first move into Customer, over the leads
    whose later step fell in the period (a lead that skipped a stage is not counted for
    the steps that need it). One query; the median is percentile_cont on Postgres and a
    row_number() window on SQLite, which has no percentile function."""
    from pipeline.models import StageTransition

    lo, hi = period.bounds
    ends = (Stage.MQL, Stage.SQL, Stage.CUSTOMER)
    arrived = scope.transitions().filter(created_at__gte=lo, created_at__lt=hi,
                                         to_stage__in=ends).values("lead_id")
    # A first arrival in the period is the earliest of all the lead's arrivals, so moves
    # after the period can be left out.
    firsts = (
        StageTransition.objects.using(scope.db).order_by()
        .filter(lead_id__in=arrived, to_stage__in=ends, created_at__lt=hi)
        .values("lead_id").annotate(
            created=Min("lead__created_at"),
            mql_at=Min("created_at", filter=Q(to_stage=Stage.MQL)),
            sql_at=Min("created_at", filter=Q(to_stage=Stage.SQL)),
            customer_at=Min("created_at", filter=Q(to_stage=Stage.CUSTOMER)),
        )
    )
    firsts_sql = _compiled(firsts)
    result = {name: (None, 0) for name, _ in VELOCITY_STEPS}
    if firsts_sql:
        vendor = scope.connection.vendor
        window = [scope.connection.ops.adapt_datetimefield_value(moment) for moment in (lo, hi)]
        columns, params = [], []
        for name, (later, earlier) in zip(
            [name for name, _ in VELOCITY_STEPS],
            [("f.mql_at", "f.created"), ("f.sql_at", "f.mql_at"),
             ("f.customer_at", "f.sql_at")], strict=True,
        ):
            columns.append(
                f"CASE WHEN {later} >= %s AND {later} < %s AND {later} >= {earlier} "
                f"THEN {_days_between(vendor, later, earlier)} END AS {name}"
            )
            params += window
        days = f"SELECT {', '.join(columns)} FROM ({firsts_sql[0]}) f"  # noqa: S608
        params += firsts_sql[1]
        with scope.connection.cursor() as cursor:
            cursor.execute(_median_sql(vendor, days, [name for name, _ in VELOCITY_STEPS]),
                           params)
            for name, median, count in cursor.fetchall():
                result[name] = (float(median) if median is not None else None, int(count))
    return [Velocity(name, label, *result[name]) for name, label in VELOCITY_STEPS]


def _median_sql(vendor: str, days: str, names: list[str]) -> str:
    """(name, median, count) per column of the ``days`` query, NULLs left out. ``names``
    are VELOCITY_STEPS' (constants, not input)."""
    if vendor == "postgresql":
        medians = " UNION ALL ".join(
            f"SELECT '{name}', percentile_cont(0.5) WITHIN GROUP (ORDER BY d.{name}), "  # noqa: S608
            f"count(d.{name}) FROM d" for name in names
        )
        return f"WITH d AS ({days}) {medians}"
    values = " UNION ALL ".join(
        f"SELECT '{name}' AS step, {name} AS v FROM d WHERE {name} IS NOT NULL"  # noqa: S608
        for name in names
    )
    # The middle value (odd count) or the mean of the two middle ones (even count).
    return (
        f"WITH d AS ({days}), v AS ({values}), "  # noqa: S608
        "r AS (SELECT step, v, row_number() OVER (PARTITION BY step ORDER BY v) AS i, "
        "count(*) OVER (PARTITION BY step) AS n FROM v) "
        "SELECT step, avg(v), max(n) FROM r WHERE i IN ((n + 1) / 2, (n + 2) / 2) "
        "GROUP BY step"
    )


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


def funnel_reasons(scope: FunnelScope, period: Period, *, kind: str,
                   limit: int = 5) -> list[ReasonRow]:
    """The commonest reasons for ``kind`` ("rejected": MQLs sent back to Lead;
    "disqualified") in the period, most first. One grouped query."""
    lo, hi = period.bounds
    moves = scope.transitions().filter(created_at__gte=lo, created_at__lt=hi)
    if kind == "rejected":
        moves = moves.filter(from_stage=Stage.MQL, to_stage=Stage.LEAD)
    else:
        moves = moves.filter(to_stage=Stage.DISQUALIFIED)
    label, colon = _reason_label()
    rows = (moves.annotate(colon=colon).annotate(label=label).values("label")
            .annotate(n=Count("id")).order_by("-n", "label")[:limit])
    return [ReasonRow(row["label"].strip() or NO_REASON, row["n"]) for row in rows]


# --- Weekly trend -------------------------------------------------------------------------


@dataclass
class WeekRow:
    week: date  # its Monday
    leads: int = 0
    mqls: int = 0
    sqls: int = 0


def funnel_weekly(scope: FunnelScope, period: Period, *,
                  by_week: MovesByWeek | None = None) -> list[WeekRow]:
    """Per week of the period: new leads, and moves into MQL and into SQL. Two grouped
    queries (one if the moves are given); weeks with nothing in them have zeros."""
    lo, hi = period.bounds
    if by_week is None:
        by_week = funnel_moves_by_week(scope, period)
    weeks = {monday: WeekRow(monday) for monday in period.weeks()}
    new = (scope.leads.filter(created_at__gte=lo, created_at__lt=hi)
           .annotate(week=TruncWeek("created_at")).values("week").annotate(n=Count("id")))
    for item in new:
        if (week := weeks.get(timezone.localtime(item["week"]).date())) is not None:
            week.leads = item["n"]
    for monday, moves in by_week.items():
        if (week := weeks.get(monday)) is not None:
            week.mqls, week.sqls = moves[Stage.MQL], moves[Stage.SQL]
    return list(weeks.values())


# --- Submissions, and everything at once ---------------------------------------------------


def funnel_submissions(scope: FunnelScope, period: Period) -> int:
    """Form posts in the period that were not spam (to the chosen form, if one is)."""
    lo, hi = period.bounds
    posts = Submission.objects.using(scope.db).filter(is_spam=False, created_at__gte=lo,
                                                      created_at__lt=hi)
    if scope.form_id is not None:
        posts = posts.filter(form_id=scope.form_id)
    if scope.narrowed:
        posts = posts.filter(lead__in=scope.leads.values("pk"))
    return posts.count()


@dataclass
class Dashboard:
    period: Period
    cohort: Cohort
    flow: dict[str, int]
    funnel: list[FunnelRow]
    velocity: list[Velocity]
    rejected: list[ReasonRow]
    disqualified: list[ReasonRow]
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
    """Every figure on the dashboard: seven queries, whatever the number of leads. Call
    it inside funnel_reads()."""
    cohort = funnel_cohort(scope, period)
    by_week = funnel_moves_by_week(scope, period)
    flow = funnel_flow(scope, period, by_week=by_week)
    return Dashboard(
        period=period,
        cohort=cohort,
        flow=flow,
        funnel=funnel_rows(cohort, flow),
        velocity=funnel_velocity(scope, period),
        rejected=funnel_reasons(scope, period, kind="rejected", limit=reasons),
        disqualified=funnel_reasons(scope, period, kind="disqualified", limit=reasons),
        weekly=funnel_weekly(scope, period, by_week=by_week),
        submissions=funnel_submissions(scope, period),
        totals={
            "lead_to_customer": _rate(cohort.reached[Stage.CUSTOMER], cohort.leads),
            "lead_to_sql": _rate(cohort.reached[Stage.SQL], cohort.leads),
        },
    )
