"""Scores are recomputable: for random rules (kinds, conditions, points ±, caps, expiry,
count windows, fit rules) and random activity histories over a few leads at random
times, scoring activity by activity — in time order, and in a random arrival order with
older activities arriving late — then letting the decay run, gives exactly what a full
rescore gives at the same moment: contributions, scores, grades and category subtotals.

Runs on SQLite in the normal suite and on Postgres when DATABASE_URL names one (CI).
SCORING_PROPERTY_EXAMPLES raises the number of examples (default kept small: the suite
must stay fast)."""

import os
from datetime import timedelta

import pytest
import time_machine
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from capture.models import Activity, ActivityKind, Lead
from scoring import services
from scoring.handlers import activity_score
from scoring.models import LeadScore, ScoreContribution
from tests.scoring.conftest import T0

pytestmark = pytest.mark.django_db

EXAMPLES = int(os.environ.get("SCORING_PROPERTY_EXAMPLES", "30"))

CONDITIONS = {
    ActivityKind.PAGE_VIEWED: [
        [],
        [{"field": "url", "op": "contains", "value": "pricing"}],
        [{"field": "url", "op": "starts_with", "value": "https://A.example/"}],
        [{"field": "url", "op": "equals", "value": "https://a.example/pricing"}],
        [{"field": "title", "op": "in", "value": ["Pricing", "Demo"]}],
        [{"field": "url", "op": "contains", "value": "pricing"},
         {"field": "referrer", "op": "is_empty", "value": True}],
    ],
    ActivityKind.EMAIL_OPENED: [
        [],
        [{"field": "sequence", "op": "equals", "value": 1}],
    ],
    "trial_started": [
        [],
        [{"field": "properties.plan", "op": "equals", "value": "pro"}],
        [{"field": "properties.seats", "op": "gt", "value": 5}],
        [{"field": "properties.seats", "op": "lte", "value": 3}],
        [{"field": "properties.beta", "op": "equals", "value": True}],
        [{"field": "properties.plan", "op": "is_empty", "value": True}],
        [{"field": "properties.plan", "op": "in", "value": ["pro", 5]}],
    ],
}
FIT_CONDITIONS = [
    [{"field": "job_title", "op": "contains_any", "value": ["vp", "director"]}],
    [{"field": "company_size", "op": "gte", "value": 50}],
    [{"field": "email", "op": "domain_in_list", "value": "freemail"}],
    [{"field": "country", "op": "in", "value": ["US", "de"]}],
    [{"field": "attributes.tier", "op": "equals", "value": "gold"}],
    [{"field": "industry", "op": "is_empty", "value": True}],
]
URLS = ["https://a.example/pricing", "https://A.example/Pricing?x=1", "https://b.example/",
        "https://a.example/docs", ""]
TITLES = ["Pricing", "pricing", "Demo", "Home"]


@st.composite
def behaviour_rules(draw):
    kind = draw(st.sampled_from(list(CONDITIONS)))
    counted = draw(st.integers(0, 2)) == 0
    return {
        "kind": "behavior",
        "name": "r",
        "activity_kind": kind,
        "category": draw(st.sampled_from(["engagement", "intent"])),
        "conditions": draw(st.sampled_from(CONDITIONS[kind])),
        "points": draw(st.integers(-20, -1) | st.integers(1, 30) | st.integers(1, 30)),
        "max_times": draw(st.none() | st.integers(1, 3)),
        "expires_after_days": draw(st.none() | st.integers(1, 5)),
        "count": draw(st.integers(2, 4)) if counted else None,
        "window_days": draw(st.integers(1, 4)) if counted else None,
    }


fit_rules = st.builds(
    lambda conditions, points: {"kind": "fit", "name": "f", "conditions": conditions,
                                "points": points},
    st.sampled_from(FIT_CONDITIONS), st.integers(-15, -1) | st.integers(1, 25),
)

leads = st.fixed_dictionaries({
    "email": st.sampled_from(["a@gmail.com", "b@acme.example", "c@GMX.de"]),
    "job_title": st.sampled_from(["VP Sales", "Engineer", "Director of X", ""]),
    "company_size": st.none() | st.sampled_from([10, 50, 500]),
    "country": st.sampled_from(["US", "DE", "FR", ""]),
    "industry": st.sampled_from(["", "Software"]),
    "attributes": st.sampled_from([{}, {"tier": "gold"}, {"tier": "GOLD"}, {"tier": 1}]),
})


@st.composite
def activity_data(draw, kind):
    if kind == ActivityKind.PAGE_VIEWED:
        data = {"url": draw(st.sampled_from(URLS)), "title": draw(st.sampled_from(TITLES))}
        if draw(st.booleans()):
            data["referrer"] = draw(st.sampled_from(["", "https://google.example/"]))
        return data
    if kind == ActivityKind.EMAIL_OPENED:
        return {"sequence": draw(st.sampled_from([1, 2, "1"])),
                "automated": draw(st.sampled_from([False, False, True]))}
    properties = draw(st.dictionaries(
        st.sampled_from(["plan", "seats", "beta"]),
        st.sampled_from(["pro", "Pro", "basic", "", None, 5, 2, 7, 4.5, "7", True, False]),
    ))
    return {"url": "", "properties": properties, "source": "api"}


@st.composite
def histories(draw):
    lead_count = draw(st.integers(1, 3))
    events = []
    for lead in range(lead_count):
        for _ in range(draw(st.integers(2, 14))):
            kind = draw(st.sampled_from(list(CONDITIONS)))
            # Whole hours over 12 days: ties (same instant) happen, and windows and
            # expiry boundaries are hit exactly.
            at = T0 + timedelta(hours=draw(st.integers(0, 12 * 24)))
            events.append((lead, kind, draw(activity_data(kind)), at))
        if draw(st.integers(0, 3)) == 0:  # the lead's fields change: its grade may too
            at = T0 + timedelta(hours=draw(st.integers(0, 12 * 24)))
            changes = draw(st.fixed_dictionaries({}, optional={
                "job_title": st.sampled_from(["Director", "Intern"]),
                "company_size": st.sampled_from([None, 60]),
            }))
            events.append((lead, ActivityKind.LEAD_UPDATED, changes, at))
    return lead_count, events


@given(
    rules=st.lists(behaviour_rules(), min_size=1, max_size=5),
    fits=st.lists(fit_rules, max_size=3),
    lead_fields=st.lists(leads, min_size=3, max_size=3),
    history=histories(),
    late=st.booleans(),
    order_seed=st.randoms(use_true_random=False),
    end_after_hours=st.integers(0, 20 * 24),
    mql_score=st.integers(10, 80),
)
@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
def test_scoring_incrementally_gives_what_a_full_rescore_gives(
    rules, fits, lead_fields, history, late, order_seed, end_after_hours, mql_score
):
    with transaction.atomic():
        services.settings_update(mql_score=mql_score, mql_min_grade="", rescore=False)
        _run(rules, fits, lead_fields, history, late, order_seed, end_after_hours)
        transaction.set_rollback(True)


def _run(rules, fits, lead_fields, history, late, order_seed, end_after_hours):
    from scoring.models import ScoreCategory

    lead_count, events = history
    with time_machine.travel(T0 - timedelta(days=1), tick=False):
        for values in [*rules, *fits]:
            category = values.get("category")
            services.rule_create(
                rescore=False,
                **{**values, "category": ScoreCategory.objects.get(key=category)
                   if category else None},
            )
        made = []
        for i in range(lead_count):
            fields = dict(lead_fields[i], email=f"{i}{lead_fields[i]['email']}")
            lead = Lead.objects.create(**fields)
            made.append(lead)
            created = Activity.objects.create(lead=lead, kind=ActivityKind.LEAD_CREATED,
                                              data={}, occurred_at=T0 - timedelta(days=1))
            activity_score(created)

    # Arrival order: by time, or shuffled so that older activities arrive after newer ones
    # (as page views linked to a lead when its visitor submits a form do).
    arrivals = sorted(events, key=lambda e: e[3])
    if late:
        order_seed.shuffle(arrivals)
    clock = T0
    for lead, kind, data, at in arrivals:
        clock = max(clock, at) + timedelta(minutes=1)
        with time_machine.travel(clock, tick=False):
            if kind == ActivityKind.LEAD_UPDATED:
                Lead.objects.filter(pk=made[lead].pk).update(**data)
                data = {"changes": {k: {"new": v} for k, v in data.items()}}
            activity = Activity.objects.create(lead=made[lead], kind=kind, data=data,
                                               occurred_at=at)
            activity_score(activity)

    with time_machine.travel(clock + timedelta(hours=end_after_hours), tick=False):
        event(f"decay rescored a lead: {services.scores_decay() > 0}")
        incremental = _state(made)
        job = services.rescore_run_inline()
        rescored = _state(made)

    assert rescored == incremental
    # What the example exercised (pytest --hypothesis-show-statistics).
    earned = [c for c in incremental["contributions"] if c[3]]
    event(f"contributions earning points: {min(len(earned), 5)}+")
    event(f"a capped or uncounted match earned nothing: "
          f"{any(not c[3] for c in incremental['contributions'])}")
    event(f"some points expired: {any(c[5] and c[5] <= timezone.now() for c in earned)}")
    promoted = Lead.objects.filter(pk__in=[m.pk for m in made], stage="mql").exists()
    event(f"promoted to MQL: {promoted}")
    assert (job.scores_changed, job.grades_changed) == (0, 0)


def _state(leads):
    ids = [lead.pk for lead in leads]
    contributions = sorted(ScoreContribution.objects.filter(lead_id__in=ids).values_list(
        "lead_id", "activity_id", "rule_id", "points", "occurred_at", "expires_at"))
    scores = sorted(Lead.objects.filter(pk__in=ids).values_list("pk", "score", "grade"))
    # No LeadScore row (a lead scoring never had to touch) is the same as an empty one.
    states = dict.fromkeys(ids, ({}, 0, None, False))
    states.update({
        s.lead_id: (s.categories, s.fit_score, s.next_expiry, s.qualified)
        for s in LeadScore.objects.filter(lead_id__in=ids)
    })
    return {"contributions": contributions, "scores": scores, "states": states}


# --- After a rule change, matching only the changed rules gives what matching all gives ---

changes = st.one_of(
    st.fixed_dictionaries({"points": st.integers(-20, -1) | st.integers(1, 30)}),
    st.fixed_dictionaries({"max_times": st.none() | st.integers(1, 3)}),
    st.fixed_dictionaries({"expires_after_days": st.none() | st.integers(1, 5)}),
    st.fixed_dictionaries({"active": st.just(False)}),
    st.fixed_dictionaries({"category": st.just("intent")}),
    st.just("delete"),
    behaviour_rules().map(lambda values: {"create": values}),
)


@given(
    rules=st.lists(behaviour_rules(), min_size=1, max_size=4),
    history=histories(),
    change=changes,
    which=st.integers(0, 3),
)
@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
def test_rematching_only_the_changed_rule_gives_what_rematching_every_rule_gives(
    rules, history, change, which
):
    from scoring.models import Rule, ScoreCategory

    def category(values):
        return ScoreCategory.objects.get(key=values["category"])

    with transaction.atomic(), time_machine.travel(T0 + timedelta(days=13), tick=False):
        made_rules = [services.rule_create(rescore=False, **{**values, "category": category(
            values)}) for values in rules]
        lead_count, events = history
        made = [Lead.objects.create(email=f"{i}@x.example") for i in range(lead_count)]
        for lead, kind, data, at in events:
            if kind != ActivityKind.LEAD_UPDATED:
                Activity.objects.create(lead=made[lead], kind=kind, data=data, occurred_at=at)
        services.rescore_run_inline()

        rule = made_rules[which % len(made_rules)]
        if change == "delete":
            services.rule_delete(rule=rule, rescore=False)
        elif "create" in change:
            services.rule_create(rescore=False, **{**change["create"], "category": category(
                change["create"])})
        elif "category" in change:
            services.rule_update(rule=rule, rescore=False, category=category(change))
        else:
            services.rule_update(rule=rule, rescore=False, **change)
        changed = services.rescore_run_inline(full=False)
        assert len(changed.rematch) <= 1  # none when the change was no change
        rematched = _state(made)
        full = services.rescore_run_inline()

        assert _state(made) == rematched
        assert (full.scores_changed, full.grades_changed) == (0, 0)
        assert not Rule.all_objects.filter(needs_rematch=True).exists()
        transaction.set_rollback(True)
