"""Scoring (issue 4): the full rescore, set-based in Postgres, against a per-lead ORM loop,
and the cost of scoring one activity incrementally.

Part of a plain ``make bench``, last (it loads 1,000,000 leads, which takes a couple of
minutes, and replaces the 100,000 the other scenarios use); alone with ``make bench
BENCH_ARGS="--only scoring"``. SCORING_BENCH_LEADS (default 1,000,000) and
SCORING_BENCH_SAMPLE (default 10,000) change the sizes.

1. Data: ``bench.data.make_leads`` — N leads with 2–8 activities each (5 on average:
   page views of 7 pages, email sends/opens/clicks, form posts of 8 forms), reloaded on
   every run so each run starts from the same unscored state.
2. 25 rules (18 behaviour, with caps, expiry and two count windows; 7 fit), made through
   scoring.services.
3. The first rescore (every lead's score, grade, contributions and LeadScore written for
   the first time), then the one the target is about: after a rule change (the pricing
   page's points 10 → 12) as a rule change queues it (only the changed rule matched
   against the activities again); the same kind of change with every rule matched again
   (``manage.py rescore``); a narrower change; one with nothing to change (every rule).
4. The per-lead ORM loop (each lead's activities read, the rules applied in Python, its
   contributions replaced, its score and grade saved, one transaction per lead) over a
   sample of leads, extrapolated to N.
5. The impact preview of that rule change (nothing written).
6. Incremental: new activities on random leads, each scored in-process by
   scoring.handlers.activity_score (the follow-up task a score change queues is not
   sent: there is no broker in-process).
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import time
from datetime import timedelta

from bench.registry import Context, Figure, Scenario, register

NAME = "scoring"
LEADS = int(os.environ.get("SCORING_BENCH_LEADS", "1000000"))
SAMPLE = int(os.environ.get("SCORING_BENCH_SAMPLE", "10000"))
INCREMENTAL = int(os.environ.get("SCORING_BENCH_INCREMENTAL", "2000"))
# Workers sharing each rescore (threads here, Celery tasks in production): the machine
# has two cores, and each worker is one Postgres backend.
WORKERS = int(os.environ.get("SCORING_BENCH_WORKERS", "2"))
TARGET_SECONDS_PER_MILLION = 60.0
TARGET_RATIO = 50.0
TARGET_INCREMENTAL_MS = 5.0

SITE = "https://www.example.com"


def url(op, value):
    return [{"field": "url", "op": op, "value": value}]


# (name, category, activity kind, conditions, points, options) — 18 behaviour rules.
BEHAVIOUR = [
    ("Pricing page", "intent", "page_viewed", url("contains", "/pricing"), 10,
     {"max_times": 3}),
    ("Demo page", "intent", "page_viewed", url("contains", "/demo"), 15, {"max_times": 2}),
    ("Docs", "product_usage", "page_viewed", url("starts_with", f"{SITE}/docs"), 3,
     {"max_times": 5, "expires_after_days": 30}),
    ("Blog", "engagement", "page_viewed", url("contains", "/blog/"), 2,
     {"max_times": 10, "expires_after_days": 60}),
    ("Features", "engagement", "page_viewed", url("equals", f"{SITE}/features"), 4,
     {"max_times": 5}),
    ("Any page view", "engagement", "page_viewed", [], 1,
     {"max_times": 25, "expires_after_days": 30}),
    ("About page", "engagement", "page_viewed", url("contains", "/about"), -2, {}),
    ("Demo request form", "intent", "form_submitted",
     [{"field": "form", "op": "equals", "value": 1}], 40, {}),
    ("Contact sales form", "intent", "form_submitted",
     [{"field": "form", "op": "equals", "value": 2}], 30, {}),
    ("Ebook forms", "engagement", "form_submitted",
     [{"field": "form", "op": "in", "value": [3, 4, 5]}], 5, {}),
    ("Webinar form", "engagement", "form_submitted",
     [{"field": "form", "op": "equals", "value": 6}], 15, {}),
    ("Any form", "engagement", "form_submitted", [], 5, {"max_times": 3}),
    ("Email opened", "engagement", "email_opened", [], 1,
     {"max_times": 10, "expires_after_days": 90}),
    ("3 opens in a week", "engagement", "email_opened", [], 10,
     {"count": 3, "window_days": 7}),
    ("Email clicked", "engagement", "email_clicked", [], 3, {"max_times": 5}),
    ("Clicked in the welcome sequence", "engagement", "email_clicked",
     [{"field": "sequence", "op": "equals", "value": 1}], 5, {}),
    ("2 clicks in 3 days", "intent", "email_clicked", [], 8, {"count": 2, "window_days": 3}),
    ("Came from Google", "engagement", "lead_created",
     [{"field": "data.source", "op": "equals", "value": "google"}], 5, {}),
]
FIT = [
    ("VP, Director or head of", [{"field": "job_title", "op": "contains_any",
                                  "value": ["VP", "Director", "Head of"]}], 15),
    ("CTO or founder", [{"field": "job_title", "op": "contains_any",
                         "value": ["CTO", "Founder"]}], 10),
    ("Target industry", [{"field": "industry", "op": "in", "value": ["Software", "Finance"]}],
     10),
    ("Region", [{"field": "country", "op": "in", "value": ["US", "GB", "DE", "NL", "CA"]}], 5),
    ("50+ employees", [{"field": "company_size", "op": "gte", "value": 50}], 10),
    ("Free mail", [{"field": "email", "op": "domain_in_list", "value": "freemail"}], -5),
    ("No company", [{"field": "company", "op": "is_empty", "value": True}], -10),
]


def setup(ctx: Context) -> None:
    from bench import data
    from scoring.models import RescoreJob, Rule

    # Always from the same unscored state: a previous run left scores, contributions and
    # score_changed activities behind.
    Rule.objects.all().delete()
    RescoreJob.objects.all().delete()
    owners = data.make_users()
    data.clear_leads()
    print(f"  making {LEADS:,} leads…", flush=True)
    made = data.make_leads(LEADS, activities_per_lead=5, owner_ids=owners, verbose=True)
    print(f"  made {made}", flush=True)
    ctx.made_leads = None  # other scenarios must reload their own
    ctx.figures.append(Figure(NAME, f"make {LEADS:,} leads", round(made.seconds, 1), "s",
                              note=str(made)))
    _rules_make()


def _rules_make() -> None:
    from scoring.models import ScoreCategory
    from scoring.services import rule_create, settings_update

    categories = {c.key: c for c in ScoreCategory.objects.all()}
    for i, (name, category, kind, conditions, points, options) in enumerate(BEHAVIOUR):
        rule_create(name=name, kind="behavior", category=categories[category],
                    activity_kind=kind, conditions=conditions, points=points, position=i,
                    rescore=False, **options)
    for i, (name, conditions, points) in enumerate(FIT):
        rule_create(name=name, kind="fit", conditions=conditions, points=points,
                    position=100 + i, rescore=False)
    # A threshold few leads reach: promotions are per lead (a pipeline transition each).
    settings_update(mql_score=90, mql_min_grade="A", rescore=False)


def _progress(job) -> None:
    sys.stdout.write(f"\r    {job.percent:5.1f}%  {job.done:,}/{job.total:,} leads")
    sys.stdout.flush()


def _rescore(label: str, *, full: bool = True) -> tuple[float, object, dict]:
    from scoring.engine.sql import Timings
    from scoring.services import rescore_run_inline

    timings = Timings()
    started = time.perf_counter()
    job = rescore_run_inline(reason=f"bench: {label}", progress=_progress, timings=timings,
                             workers=WORKERS, full=full)
    seconds = time.perf_counter() - started
    print(f"\n    {label}: {seconds:.1f} s ({job.scores_changed:,} scores, "
          f"{job.grades_changed:,} grades changed, {job.promoted:,} promoted; {job.scope})",
          flush=True)
    for phase, spent in sorted(timings.items(), key=lambda t: -t[1]):
        print(f"      {spent:7.1f} s  {phase}", flush=True)
    return seconds, job, timings


def _phases(label: str, timings: dict) -> list[Figure]:
    # Summed over the workers' batches: with two workers, more than the wall time.
    return [Figure(NAME, f"  {label}: {phase}", round(spent, 1), "s (summed over workers)")
            for phase, spent in sorted(timings.items(), key=lambda t: -t[1]) if spent >= 0.1]


def run(ctx: Context) -> list[Figure]:
    from django.db import connection

    from scoring.models import Rule, ScoreContribution
    from scoring.selectors import rule_impact
    from scoring.services import rule_update

    figures = []
    scale = 1_000_000 / LEADS
    print("  first rescore (nothing scored yet)…", flush=True)
    cold, job, timings = _rescore("first rescore")
    contributions = ScoreContribution.objects.count()
    figures.append(Figure(
        NAME, f"first rescore of {LEADS:,} leads", round(cold, 1), "s",
        note=f"{job.scores_changed:,} scores, {job.grades_changed:,} grades changed; "
             f"{contributions:,} contributions written"))
    figures += _phases("first", timings)

    pricing = Rule.objects.get(name="Pricing page")
    started = time.perf_counter()
    impact = rule_impact({"points": 12}, rule=pricing)
    preview = time.perf_counter() - started
    figures.append(Figure(NAME, "impact preview of that change (nothing written)",
                          round(preview, 1), "s",
                          note=f"{impact.leads_changed:,} leads would change, "
                               f"{impact.would_become_mql:,} would become MQLs"))

    # The rescore a rule change queues (rule_update → rescore_request(full=False)): the
    # changed rule is matched against the activities again, every lead's score, grade
    # and MQL check recomputed from the contributions.
    rule_update(rule=pricing, points=12, rescore=False)
    print("  rescore after a rule change (pricing page 10 → 12)…", flush=True)
    changed, job, timings = _rescore("after a rule change", full=False)
    per_million = changed * scale
    figures.append(Figure(
        NAME, f"rescore after a rule change, {LEADS:,} leads / 25 rules, {WORKERS} workers",
        round(changed, 1),
        "s", ok=per_million <= TARGET_SECONDS_PER_MILLION,
        note=f"{job.scores_changed:,} scores changed, {job.scope}; target ≤ "
             f"{TARGET_SECONDS_PER_MILLION:.0f} s per 1,000,000 leads ({per_million:.1f} s at "
             "that scale)"))
    figures += _phases("after the change", timings)
    lead_updates = timings.get("UPDATE capture_lead (changed scores and grades)", 0.0)
    if job.scores_changed:
        figures.append(Figure(
            NAME, "  cost of one changed lead's UPDATE capture_lead",
            f"{lead_updates / max(job.scores_changed + job.grades_changed, 1) * 1000:.2f}",
            "ms", note="14 indexes on capture_lead, 4 of them GIN trigram: every score "
                       "change is a non-HOT update"))
    # The two are a few seconds apart: points that expire in between can differ.
    figures.append(Figure(NAME, "  leads the preview said would change / the rescore changed",
                          f"{impact.leads_changed:,} / {job.scores_changed:,}"))
    # The same kind of change with every rule matched again (manage.py rescore, "Rescore
    # now"): every activity against all 18 behaviour rules.
    rule_update(rule=pricing, points=14, rescore=False)
    print("  rescore after a rule change, every rule matched again (pricing 12 → 14)…",
          flush=True)
    full, job, timings = _rescore("after a rule change, every rule matched again")
    figures.append(Figure(
        NAME, f"rescore after a rule change, every rule matched again, {LEADS:,} leads",
        round(full, 1), "s", ok=full * scale <= TARGET_SECONDS_PER_MILLION,
        note=f"{job.scores_changed:,} scores changed; {full * scale:.1f} s per 1,000,000 "
             "leads (manage.py rescore)"))
    figures += _phases("every rule matched again", timings)
    webinar = Rule.objects.get(name="Webinar form")
    rule_update(rule=webinar, points=20, rescore=False)
    print("  rescore after a narrower rule change (webinar form 15 → 20)…", flush=True)
    narrow, job, timings = _rescore("after a narrower rule change", full=False)
    figures.append(Figure(
        NAME, f"rescore after a narrower rule change, {LEADS:,} leads, {WORKERS} workers",
        round(narrow, 1), "s", ok=narrow * scale <= TARGET_SECONDS_PER_MILLION,
        note=f"{job.scores_changed:,} scores changed; {narrow * scale:.1f} s per 1,000,000 "
             "leads"))
    figures += _phases("after the narrower change", timings)
    print("  rescore with nothing to change…", flush=True)
    idle, _, timings = _rescore("nothing to change")
    figures.append(Figure(NAME, "rescore with nothing to change", round(idle, 1), "s",
                          note=f"{idle * scale:.1f} s per 1,000,000 leads"))
    figures += _phases("nothing to change", timings)

    print(f"  per-lead ORM loop over {SAMPLE:,} leads…", flush=True)
    loop = _orm_loop(SAMPLE)
    extrapolated = loop * LEADS / SAMPLE
    # Against the rescore that matches every rule again: the ORM loop does too.
    ratio = extrapolated / full
    figures.append(Figure(NAME, f"per-lead ORM loop, {SAMPLE:,} leads", round(loop, 1), "s",
                          note=f"{loop / SAMPLE * 1000:.2f} ms per lead; "
                               f"{extrapolated:,.0f} s extrapolated to {LEADS:,}"))
    figures.append(Figure(NAME, "set-based vs ORM loop (rule-change rescore, every rule)",
                          f"{ratio:.0f}×", ok=ratio >= TARGET_RATIO,
                          note=f"target ≥ {TARGET_RATIO:.0f}×; changed rule alone: "
                               f"{extrapolated / changed:.0f}×; first rescore: "
                               f"{extrapolated / cold:.0f}×"))

    print(f"  incremental: {INCREMENTAL:,} activities, one at a time…", flush=True)
    figures += _incremental(INCREMENTAL)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_size_pretty(pg_database_size(current_database()))")
        figures.append(Figure(NAME, "database size after the run", cursor.fetchone()[0]))
    return figures


def _orm_loop(sample: int) -> float:
    """What rescoring looks like without set-based SQL: lead by lead, with the ORM."""
    from django.db import transaction
    from django.utils import timezone

    from capture.models import Activity, ActivityKind, Lead
    from scoring.engine.rules import assign, snapshot_load
    from scoring.models import LeadScore, ScoreContribution

    snapshot = snapshot_load()
    now = timezone.now()
    ids = list(Lead.objects.order_by("pk").values_list("pk", flat=True)[:sample])
    started = time.perf_counter()
    for lead in Lead.objects.filter(pk__in=ids).order_by("pk").iterator(chunk_size=500):
        with transaction.atomic():
            activities = list(Activity.objects.filter(lead_id=lead.pk)
                              .order_by("occurred_at", "id").only("id", "kind", "data",
                                                                  "occurred_at"))
            rows, categories = [], {}
            for spec in snapshot.behavior:
                matches = [a for a in activities if spec.matches_activity(a.kind, a.data)]
                earned = assign(spec, [(a.occurred_at, a.pk) for a in matches])
                for activity, e in zip(matches, earned, strict=True):
                    rows.append(ScoreContribution(
                        lead_id=lead.pk, rule_id=spec.id, activity_id=activity.pk,
                        points=e.points, occurred_at=activity.occurred_at,
                        expires_at=e.expires_at))
                    if e.points and (e.expires_at is None or e.expires_at > now):
                        categories[spec.category] = categories.get(spec.category, 0) + e.points
            ScoreContribution.objects.filter(lead_id=lead.pk).delete()
            ScoreContribution.objects.bulk_create(rows)
            score = sum(categories.values())
            fit = snapshot.fit_score(lead)
            grade = snapshot.grade(fit)
            if (score, grade) != (lead.score, lead.grade):
                Lead.objects.filter(pk=lead.pk).update(score=score, grade=grade)
                if score != lead.score:
                    Activity.objects.create(lead_id=lead.pk, kind=ActivityKind.SCORE_CHANGED,
                                            data={"old": lead.score, "new": score},
                                            processed_at=now)
            LeadScore.objects.update_or_create(
                lead_id=lead.pk, defaults={"fit_score": fit, "categories": {
                    k: v for k, v in categories.items() if v}})
    return time.perf_counter() - started


def _incremental(count: int) -> list[Figure]:
    """``count`` leads chosen at random each get two new activities, scored one at a time:
    the first pass finds the lead's rows cold (a lead that has been quiet), the second
    warm (a lead that is active, the common case)."""
    from django.utils import timezone

    import capture.tasks
    from capture.models import Activity, Lead
    from scoring.handlers import activity_score

    rng = random.Random(4)
    max_id = Lead.objects.order_by("-pk").values_list("pk", flat=True).first()
    min_id = Lead.objects.order_by("pk").values_list("pk", flat=True).first()
    kinds = [("page_viewed", 0.45), ("email_opened", 0.65), ("form_submitted", 0.8),
             ("email_sent", 1.0)]
    pages = ["/pricing", "/blog/lead-scoring", "/docs", "/", "/features", "/demo"]
    now = timezone.now()
    lead_ids = [rng.randint(min_id, max_id) for _ in range(count)]

    def made(offset: int) -> list:
        activities = []
        for lead_id in lead_ids:
            r = rng.random()
            kind = next(k for k, share in kinds if r < share)
            data = {"page_viewed": {"url": SITE + rng.choice(pages)},
                    "form_submitted": {"form": rng.randint(1, 8)}}.get(kind, {"sequence": 1})
            activities.append(Activity(lead_id=lead_id, kind=kind, data=data,
                                       occurred_at=now + timedelta(seconds=offset)))
        return Activity.objects.bulk_create(activities)

    first, second = made(0), made(1)
    sent = []
    real_delay = capture.tasks.activity_process.delay
    capture.tasks.activity_process.delay = sent.append  # no broker in-process
    timings: dict[str, list[float]] = {"cold": [], "warm": [], "none": []}
    try:
        activity_score(first[0])  # the rules cache
        for label, activities in (("cold", first[1:]), ("warm", second[1:])):
            for activity in activities:
                started = time.perf_counter()
                activity_score(activity)
                elapsed = (time.perf_counter() - started) * 1000
                timings[label if activity.kind != "email_sent" else "none"].append(elapsed)
    finally:
        capture.tasks.activity_process.delay = real_delay

    def p95(values: list[float]) -> float:
        return statistics.quantiles(values, n=20)[-1] if len(values) >= 20 else max(values)

    cold, warm = timings["cold"], timings["warm"]
    return [
        Figure(NAME, "incremental, per scored activity, lead active (mean / p95)",
               f"{statistics.fmean(warm):.2f} / {p95(warm):.2f}", "ms",
               ok=statistics.fmean(warm) <= TARGET_INCREMENTAL_MS,
               note=f"{len(warm):,} activities, a second one on each lead; target ≤ "
                    f"{TARGET_INCREMENTAL_MS:.0f} ms"),
        Figure(NAME, "incremental, per scored activity, lead quiet (mean / p95)",
               f"{statistics.fmean(cold):.2f} / {p95(cold):.2f}", "ms",
               note=f"{len(cold):,} activities on random leads of {LEADS:,} (rows read from "
                    "disk)"),
        Figure(NAME, "incremental, per activity no rule is about (mean)",
               f"{statistics.fmean(timings['none']):.2f}", "ms",
               note=f"{len(timings['none']):,} email_sent: one query (are the rules "
                    f"current?); {len(sent):,} score changes recorded in all"),
    ]


register(Scenario(
    name=NAME,
    title=(f"scoring: full rescore of {LEADS:,} leads / ~{5 * LEADS:,} activities / 25 rules "
           "vs a per-lead ORM loop; incremental cost per activity"),
    setup=setup,
    run=run,
))
