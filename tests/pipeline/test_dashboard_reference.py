"""The dashboard's figures, read from LeadMilestone and counted in SQL, against the same
figures worked out in Python from the StageTransition history (the definitions the
dashboard had when it read the transitions), on random histories written through
lead_change_stage: every period kind, every scope kind (no filter; a source; an owner,
unassigned and a form, which share one set of lead ids per statement), and a time
zone whose weeks do not start at midnight UTC."""

import random
import statistics
from datetime import UTC, date, datetime, time, timedelta

import pytest
import time_machine
from django.utils import timezone

from capture.models import Lead, Stage, Submission
from pipeline.models import StageTransition
from pipeline.selectors.funnel import (
    FUNNEL_STAGES,
    MOVED_INTO,
    NO_REASON,
    Period,
    funnel_dashboard,
    funnel_reads,
    funnel_scope,
)
from pipeline.services import lead_change_stage
from pipeline.services.stages import ALLOWED_TRANSITIONS
from tests.factories import FormFactory, LeadFactory, SalesRepFactory, SubmissionFactory

NOW = datetime(2025, 3, 20, 15, 0, tzinfo=UTC)
SOURCES = ("google", "linkedin", "")
REASONS = ("Student: thesis", "Student: class project", "Not ready", "Not ready: Q3",
           "Budget", " Budget ")


def _histories(seed: int, owners: list) -> dict:
    rng = random.Random(seed)
    forms = [FormFactory(name="Webinar"), FormFactory(name="E-book")]
    for n in range(40):
        created = NOW - timedelta(hours=rng.uniform(1, 24 * 150))
        lead = LeadFactory(created_at=created, source=rng.choice(SOURCES),
                           owner=rng.choice([None, *owners]), first_name=f"L{n}")
        if rng.random() < 0.6:
            with time_machine.travel(created + timedelta(minutes=1), tick=False):
                SubmissionFactory(form=rng.choice(forms), lead=lead)
        stage, at = Stage.LEAD, created
        for _ in range(rng.choice([0, 1, 1, 2, 3, 4, 6])):
            at += timedelta(hours=rng.choice([0.5, 3, 20, 70, 200, 500]))
            if rng.random() < 0.2:  # on a period's bound: local midnight, if still later
                midnight = _midnight(timezone.localtime(at).date())
                at = midnight if midnight > at - timedelta(hours=0.5) else at
            if at >= NOW or not ALLOWED_TRANSITIONS[stage]:
                break
            to = rng.choice(sorted(ALLOWED_TRANSITIONS[stage]))
            needs = to == Stage.DISQUALIFIED or (stage, to) == (Stage.MQL, Stage.LEAD)
            with time_machine.travel(at, tick=False):
                lead_change_stage(lead=lead, to_stage=to, by_system="test",
                                  reason=rng.choice(REASONS) if needs else "")
            stage = to
    with time_machine.travel(NOW - timedelta(days=2), tick=False):
        SubmissionFactory(form=forms[0], lead=None, is_spam=True)
    # On the bounds of the one-day period (Feb 10): an MQL at its first instant, an SQL
    # at the first instant after it (not in it), a customer a microsecond before that.
    edge = LeadFactory(created_at=_midnight(date(2025, 2, 9)), source="google")
    for stage, moment in ((Stage.MQL, _midnight(date(2025, 2, 10))),
                          (Stage.SQL, _midnight(date(2025, 2, 11))),
                          (Stage.CUSTOMER, _midnight(date(2025, 2, 11)) + timedelta(
                              microseconds=1))):
        with time_machine.travel(moment, tick=False):
            lead_change_stage(lead=edge, to_stage=stage, by_system="test")
    return {"form": forms[0]}


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=timezone.get_current_timezone())


# --- The reference: the old definitions, over the transitions, in Python -----------------


def _label(reason: str) -> str:
    return reason[:reason.index(": ")] if ": " in reason else reason


def _top(moves: list[StageTransition], limit: int = 5) -> list[tuple[str, int]]:
    counts: dict[str, int] = {}
    for move in moves:
        counts[_label(move.reason)] = counts.get(_label(move.reason), 0) + 1
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:limit]
    return [(label.strip() or NO_REASON, n) for label, n in ranked]


def _monday(moment: datetime) -> date:
    day = timezone.localtime(moment).date()
    return day - timedelta(days=day.weekday())


def reference(period: Period, leads: list[Lead], narrowed: bool, form_id=None) -> dict:
    lo, hi = period.bounds
    ids = {lead.pk for lead in leads}
    moves = [m for m in StageTransition.objects.order_by("created_at", "id") if m.lead_id in ids]
    in_period = [m for m in moves if lo <= m.created_at < hi]
    by_lead: dict[int, list[StageTransition]] = {}
    for m in moves:
        by_lead.setdefault(m.lead_id, []).append(m)

    new = [lead for lead in leads if lo <= lead.created_at < hi]

    def reached(lead, stage) -> bool:
        later = {s.value for s in FUNNEL_STAGES[FUNNEL_STAGES.index(stage):]}
        return any(m.to_stage in later for m in by_lead.get(lead.pk, []))

    sources = {}
    for lead in new:
        row = sources.setdefault(lead.source, [0, dict.fromkeys(FUNNEL_STAGES, 0)])
        row[0] += 1
        for stage in FUNNEL_STAGES:
            row[1][stage] += reached(lead, stage)

    def first(lead_id: int, stage: str):  # the first arrival before the period's end
        times = [m.created_at for m in by_lead.get(lead_id, [])
                 if m.to_stage == stage and m.created_at < hi]
        return min(times) if times else None

    velocity = {}
    for name, later, earlier in (("lead_to_mql", Stage.MQL, None),
                                 ("mql_to_sql", Stage.SQL, Stage.MQL),
                                 ("sql_to_customer", Stage.CUSTOMER, Stage.SQL)):
        days = []
        for lead in leads:
            end = first(lead.pk, later)
            start = lead.created_at if earlier is None else first(lead.pk, earlier)
            if end is not None and start is not None and lo <= end < hi and end >= start:
                days.append((end - start).total_seconds() / 86400)
        velocity[name] = (statistics.median(days) if days else None, len(days))

    rejected = [m for m in in_period if (m.from_stage, m.to_stage) == (Stage.MQL, Stage.LEAD)]
    disqualified = [m for m in in_period if m.to_stage == Stage.DISQUALIFIED]
    weeks = {monday: [0, 0, 0] for monday in period.weeks()}
    for lead in new:
        weeks[_monday(lead.created_at)][0] += 1
    for m in in_period:
        if m.to_stage in (Stage.MQL, Stage.SQL):
            weeks[_monday(m.created_at)][1 if m.to_stage == Stage.MQL else 2] += 1
    posts = Submission.objects.filter(is_spam=False, created_at__gte=lo, created_at__lt=hi)
    if form_id is not None:
        posts = posts.filter(form_id=form_id)
    if narrowed:
        posts = posts.filter(lead_id__in=ids)
    return {
        "leads": len(new),
        "reached": {s: sum(row[1][s] for row in sources.values()) for s in FUNNEL_STAGES},
        "sources": sorted(((source, n, r) for source, (n, r) in sources.items()),
                          key=lambda row: (-row[1], row[0])),
        "flow": {**{s.value: sum(m.to_stage == s for m in in_period) for s in MOVED_INTO},
                 "rejected": len(rejected)},
        "velocity": velocity,
        "rejected": (_top(rejected), len(rejected)),
        "disqualified": (_top(disqualified), len(disqualified)),
        "weekly": [(monday, *counts) for monday, counts in weeks.items()],
        "submissions": posts.count(),
    }


def figures(d) -> dict:
    return {
        "leads": d.cohort.leads,
        "reached": d.cohort.reached,
        "sources": [(s.source, s.leads, s.reached) for s in d.cohort.sources],
        "flow": d.flow,
        "velocity": {v.step: (v.median_days, v.leads) for v in d.velocity},
        "rejected": ([(r.label, r.count) for r in d.rejected], d.rejected.total),
        "disqualified": ([(r.label, r.count) for r in d.disqualified], d.disqualified.total),
        "weekly": [(w.week, w.leads, w.mqls, w.sqls) for w in d.weekly],
        "submissions": d.submissions,
    }


PERIODS = [
    lambda: Period.named("7d"),
    lambda: Period.named("30d"),
    lambda: Period.named("90d"),
    lambda: Period.named("quarter"),
    lambda: Period(date(2024, 10, 1), date(2025, 3, 20)),  # the whole history
    lambda: Period(date(2025, 2, 10), date(2025, 2, 10)),  # one day
]


@pytest.mark.parametrize("zone", ["UTC", "America/New_York"])
@pytest.mark.parametrize("seed", [1, 2])
def test_the_figures_match_the_transition_history(db, marketer, settings, zone, seed):
    settings.TIME_ZONE = zone
    owners = [SalesRepFactory(), SalesRepFactory()]
    made = _histories(seed, owners)
    every = list(Lead.objects.all())
    scopes = [
        ({}, every, False),
        ({"source": "google"}, [lead for lead in every if lead.source == "google"], True),
        ({"source": ""}, every, False),  # an empty source is no filter
        ({"owner": str(owners[0].pk)}, [ld for ld in every if ld.owner_id == owners[0].pk],
         True),
        ({"owner": "none"}, [lead for lead in every if lead.owner_id is None], True),
        ({"form_id": made["form"].pk, "source": "linkedin"},
         [ld for ld in every if ld.source == "linkedin"
          and ld.submissions.filter(form=made["form"]).exists()], True),
    ]
    with time_machine.travel(NOW, tick=False):
        for params, leads, narrowed in scopes:
            scope = funnel_scope(user=marketer, **params)
            for make_period in PERIODS:
                period = make_period()
                with funnel_reads(scope):
                    got = figures(funnel_dashboard(scope, period))
                want = reference(period, leads, narrowed, params.get("form_id"))
                for step, (median, count) in want["velocity"].items():
                    assert got["velocity"][step][1] == count, (params, period, step)
                    # abs: SQLite's julianday() differences are good to about 1e-8 days.
                    expected = median if median is None else pytest.approx(
                        median, rel=1e-9, abs=1e-6)
                    assert got["velocity"][step][0] == expected, (params, period, step)
                got.pop("velocity"), want.pop("velocity")
                assert got == want, (params, period)
