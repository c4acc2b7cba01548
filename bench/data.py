"""Data makers for benchmarks: realistic leads and timelines, made in Postgres in seconds.

Rows are generated set-based by ``INSERT … SELECT … FROM generate_series`` (nothing
crosses from Python row by row), with the table's secondary indexes dropped during the
load and rebuilt after it (much faster than maintaining them row by row), then
``VACUUM ANALYZE`` so the planner and index-only scans see the new rows.

Every column of ``capture_lead`` and ``capture_activity`` is filled: the ones this module
knows get varied values; any other column (one a later migration adds) gets its model
field's default, so the makers keep working as the models grow. Emails follow
:func:`lead_email` (lead ``n`` of a load is ``lead<n>@bench.example.com``, every tenth
written in mixed case), so a scenario can post repeats of existing leads.

Usage from a scenario::

    from bench import data
    owners = data.make_users()             # a few sales reps (and their groups)
    data.clear_leads()                     # TRUNCATE leads and everything hanging off them
    made = data.make_leads(100_000, activities_per_lead=5, owner_ids=owners)
    print(made)                            # "100,000 leads and 499,9xx activities in 4.1 s"
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from datetime import datetime

from django.db import connection, models, transaction
from django.utils import timezone

from capture.models import Activity, Grade, Lead, Stage

EMAIL_DOMAIN = "bench.example.com"

FIRST_NAMES = ["Ann", "Bob", "Chen", "Dana", "Eli", "Fatima", "Gus", "Hana", "Ivan", "Jo",
               "Kofi", "Lena", "Mateo", "Nia", "Omar", "Priya", "Quinn", "Rosa", "Sven", "Tara"]
LAST_NAMES = ["Andersen", "Baker", "Costa", "Dubois", "Evans", "Fischer", "Garcia", "Huang",
              "Ito", "Jensen", "Kowalski", "Lopez", "Meyer", "Nguyen", "Okafor", "Patel",
              "Rossi", "Smith", "Tanaka", "Weber"]
COMPANIES = ["Acme", "Globex", "Initech", "Umbrella", "Hooli", "Stark", "Wayne", "Tyrell",
             "Cyberdyne", "Soylent", "Wonka", "Aperture", "Vandelay", "Pied Piper", "Massive"]
JOB_TITLES = ["", "VP Marketing", "Director of Sales", "CTO", "Engineer", "Marketing Manager",
              "Founder", "Analyst", "Head of Growth", "Consultant"]
COUNTRIES = ["", "US", "GB", "DE", "FR", "NL", "ES", "IN", "BR", "JP", "CA", "AU"]
INDUSTRIES = ["", "Software", "Retail", "Finance", "Healthcare", "Education", "Manufacturing",
              "Media"]
COMPANY_SIZES = [5, 20, 50, 200, 1000, 5000]
SOURCES = ["google", "linkedin", "newsletter", "facebook", "webinar", "referral", "manual",
           "api", "import"]
CAMPAIGN_SOURCES = ("google", "linkedin", "newsletter", "facebook")
MEDIUMS = {"google": "cpc", "linkedin": "social", "newsletter": "email", "facebook": "social"}
CAMPAIGNS = ["spring-launch", "ebook-2025", "webinar-q3", "retargeting", "brand"]
PAGES = ["/", "/pricing", "/features", "/blog/lead-scoring", "/docs", "/demo", "/about"]
# (stage, cumulative share of leads)
STAGE_MIX = [(Stage.LEAD, 0.60), (Stage.MQL, 0.75), (Stage.SQL, 0.85),
             (Stage.OPPORTUNITY, 0.91), (Stage.CUSTOMER, 0.95), (Stage.DISQUALIFIED, 1.0)]
# The same shares among the open stages only (the board's "100,000 open leads"), and
# among the closed ones (4 customers to 5 disqualified).
OPEN_STAGE_MIX = [(Stage.LEAD, 0.66), (Stage.MQL, 0.82), (Stage.SQL, 0.93),
                  (Stage.OPPORTUNITY, 1.0)]
CLOSED_STAGE_MIX = [(Stage.CUSTOMER, 0.45), (Stage.DISQUALIFIED, 1.0)]
OPEN_STAGES = tuple(stage for stage, _ in OPEN_STAGE_MIX)
# make_deals: share of a stage's leads with a pipeline.Deal row (made at a first touch or
# deal entry; the others have none, as in the product), and share with a deal value.
DEAL_ROWS = {Stage.LEAD: 0.02, Stage.MQL: 0.80, Stage.SQL: 1.0, Stage.OPPORTUNITY: 1.0,
             Stage.CUSTOMER: 1.0, Stage.DISQUALIFIED: 0.5}
DEAL_SHARE = {Stage.LEAD: 0.02, Stage.MQL: 0.25, Stage.SQL: 0.70, Stage.OPPORTUNITY: 0.95,
              Stage.CUSTOMER: 1.0, Stage.DISQUALIFIED: 0.10}
# Middle-of-timeline activity kinds, by cumulative share.
KIND_MIX = [("page_viewed", 0.45), ("email_opened", 0.65), ("email_sent", 0.75),
            ("form_submitted", 0.90), ("email_clicked", 1.0)]


def lead_email(n: int) -> str:
    """The email :func:`make_leads` gives lead number ``n`` (counting from 1)."""
    if n % 10 == 0:
        return f"Lead{n}@Bench.Example.com"
    return f"lead{n}@{EMAIL_DOMAIN}"


@dataclass
class Made:
    leads: int
    activities: int
    seconds: float
    first_number: int  # lead_email(first_number) … lead_email(first_number + leads - 1)

    def __str__(self) -> str:
        return (f"{self.leads:,} leads and {self.activities:,} activities "
                f"in {self.seconds:.1f} s")


def make_users(reps: int = 5) -> list[int]:
    """Sales reps ``bench-rep-1`` … (role Sales rep) to own leads; returns their ids."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from leadhub.roles import SALES_REP

    user_model = get_user_model()
    group = Group.objects.get(name=SALES_REP)
    ids = []
    for i in range(1, reps + 1):
        user, created = user_model.objects.get_or_create(
            username=f"bench-rep-{i}",
            defaults={"first_name": FIRST_NAMES[i % len(FIRST_NAMES)], "last_name": "Rep",
                      "email": f"bench-rep-{i}@leadhub.test"},
        )
        if created:
            user.set_unusable_password()
            user.save(update_fields=["password"])
            user.groups.add(group)
        ids.append(user.pk)
    return ids


def clear_leads() -> None:
    """Remove every lead, and everything that references one (timeline, transitions, …)."""
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {Lead._meta.db_table} RESTART IDENTITY CASCADE")


def lead_count() -> int:
    return Lead.objects.count()


def make_leads(
    count: int,
    *,
    activities_per_lead: int = 5,
    owner_ids: list[int] | None = None,
    first_number: int | None = None,
    now: datetime | None = None,
    seed: float = 0.42,
    rebuild_indexes: bool = True,
    verbose: bool = False,
    stage_mix=STAGE_MIX,
) -> Made:
    """Add ``count`` leads created over the past year, each with a timeline of about
    ``activities_per_lead`` activities (2 to 2k−2 each, k on average; its first is
    ``lead_created`` at ``created_at``, its last at ``last_activity_at``).

    Stages (``stage_mix``: (stage, cumulative share) pairs, e.g. :data:`OPEN_STAGE_MIX`),
    scores, grades, sources, owners (``owner_ids``, a few users; unowned leads
    too), attribution, consent and custom attributes vary. Leads are numbered from
    ``first_number`` (default: after the highest lead id) for their emails. All activities
    are marked processed, so the outbox sweep sees none of them. Deterministic for a seed
    and ``now``. Runs in one transaction (indexes dropped for the load come back if it
    fails), then VACUUM ANALYZE; call it outside ``transaction.atomic``.
    """
    started = time.perf_counter()
    now = now or timezone.now()
    # One transaction: if the load fails or is interrupted, the dropped indexes come back.
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SELECT coalesce(max(id), 0) FROM {Lead._meta.db_table}")
        max_id_before = cursor.fetchone()[0]
        if first_number is None:
            first_number = max_id_before + 1
        if rebuild_indexes:
            # Both tables at once, before anything else: a write still in flight (a
            # request wrk left running when a run stopped) holds the lead table and
            # then wants the activity table; taking them one by one, as the DROPs
            # below would, deadlocks with it. This waits for it instead.
            cursor.execute(f"LOCK TABLE {Lead._meta.db_table}, {Activity._meta.db_table} "
                           "IN ACCESS EXCLUSIVE MODE")
        dropped = _drop_indexes(cursor, [Lead, Activity]) if rebuild_indexes else []
        cursor.execute("SELECT setseed(%s)", [seed])
        _log(verbose, f"inserting {count:,} leads…", started)
        cursor.execute(*_lead_insert(count, first_number, owner_ids or [], now,
                                     stage_mix))
        leads = cursor.rowcount
        activities = 0
        if activities_per_lead > 0:
            _log(verbose, "inserting their activities…", started)
            cursor.execute(*_activity_insert(max_id_before, activities_per_lead, now))
            activities = cursor.rowcount
        if dropped:
            _log(verbose, f"rebuilding {len(dropped)} indexes and foreign keys…", started)
            _restore_indexes(cursor, dropped)
    _log(verbose, "VACUUM ANALYZE…", started)
    _vacuum_analyze(Lead, Activity)
    return Made(leads, activities, time.perf_counter() - started, first_number)


def make_deals(*, now: datetime | None = None, seed: float = 0.43) -> int:
    """Give leads that have none a ``pipeline.Deal`` row, set-based: by stage, the share
    of :data:`DEAL_ROWS` gets a row (the product makes one at a lead's first touch or
    deal entry), and the share of :data:`DEAL_SHARE` a value (1,000–100,000) and an
    expected close date (ahead for open leads, the day it closed for closed ones). Rows
    of leads past ``lead`` carry ``first_touch_at`` (so their MQLs are not all SLA
    breaches). Returns the rows made; then VACUUM ANALYZE. Call it after make_leads,
    outside ``transaction.atomic``."""
    from pipeline.models import Deal

    now = now or timezone.now()

    def by_stage(shares: dict) -> str:
        return "CASE l.stage " + " ".join(
            f"WHEN '{stage}' THEN {share}" for stage, share in shares.items()) + " ELSE 0 END"

    has_value = "d.r_value < d.value_share"
    known = {
        "lead_id": "d.id",
        "value": (f"CASE WHEN {has_value} THEN "
                  "round((1000 + d.r_amount * d.r_amount * 99000)::numeric, -2) END"),
        "expected_close": (f"CASE WHEN NOT {has_value} THEN NULL "
                           "WHEN d.stage IN ('customer', 'disqualified') "
                           "THEN d.stage_changed_at::date "
                           "ELSE (%(now)s + d.r_close * interval '180 days')::date END"),
        "first_touch_at": ("CASE WHEN d.stage = 'lead' THEN NULL ELSE "
                           "least(%(now)s, d.stage_changed_at + d.r_touch * interval '2 hours') "
                           "END"),
    }
    select_from = (
        "FROM (SELECT l.id, l.stage, l.stage_changed_at, random() AS r_row, "
        "random() AS r_value, random() AS r_amount, random() AS r_close, random() AS r_touch, "
        f"{by_stage(DEAL_ROWS)} AS row_share, {by_stage(DEAL_SHARE)} AS value_share "
        f"FROM {Lead._meta.db_table} AS l WHERE NOT EXISTS "
        f"(SELECT 1 FROM {Deal._meta.db_table} AS x WHERE x.lead_id = l.id)) AS d "
        "WHERE d.r_row < d.row_share ORDER BY d.id"
    )
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT setseed(%s)", [seed])
        cursor.execute(*_insert(Deal, known, select_from, {"now": now}))
        made = cursor.rowcount
    _vacuum_analyze(Deal)
    return made


# make_stage_histories: the moves behind each lead's stage, by the stage it is in now:
# (cumulative share of that stage's leads, the stages it moved into, in order). Every
# move is one lead_change_stage allows; a rejection (MQL → Lead) or a disqualification
# carries a reason, as the product requires.
HISTORY_MIX = {
    Stage.LEAD: [(0.86, ()),  # never moved
                 (0.96, (Stage.MQL, Stage.LEAD)),  # an MQL sales sent back
                 (0.98, (Stage.MQL, Stage.LEAD, Stage.MQL, Stage.LEAD)),
                 (1.0, (Stage.DISQUALIFIED, Stage.LEAD))],  # recycled
    Stage.MQL: [(0.85, (Stage.MQL,)),
                (0.95, (Stage.MQL, Stage.LEAD, Stage.MQL)),
                (1.0, (Stage.SQL, Stage.LEAD, Stage.MQL))],
    Stage.SQL: [(0.80, (Stage.MQL, Stage.SQL)),
                (0.95, (Stage.SQL,)),  # straight from Lead: skipped MQL
                (1.0, (Stage.MQL, Stage.LEAD, Stage.MQL, Stage.SQL))],
    Stage.OPPORTUNITY: [(0.85, (Stage.MQL, Stage.SQL, Stage.OPPORTUNITY)),
                        (0.95, (Stage.SQL, Stage.OPPORTUNITY)),
                        (1.0, (Stage.MQL, Stage.SQL, Stage.OPPORTUNITY, Stage.SQL,
                               Stage.OPPORTUNITY))],
    Stage.CUSTOMER: [(0.60, (Stage.MQL, Stage.SQL, Stage.OPPORTUNITY, Stage.CUSTOMER)),
                     (0.85, (Stage.MQL, Stage.SQL, Stage.CUSTOMER)),
                     (1.0, (Stage.SQL, Stage.OPPORTUNITY, Stage.CUSTOMER))],
    Stage.DISQUALIFIED: [(0.40, (Stage.DISQUALIFIED,)),
                         (0.75, (Stage.MQL, Stage.DISQUALIFIED)),
                         (0.95, (Stage.MQL, Stage.SQL, Stage.DISQUALIFIED)),
                         (1.0, (Stage.MQL, Stage.SQL, Stage.OPPORTUNITY, Stage.DISQUALIFIED))],
}
REJECT_REASONS = ["Not ready: call in Q3", "Not ready: evaluating next year",
                  "Wrong contact: forwarded to IT", "Too small", "Bad timing", "Duplicate"]
DISQUALIFY_REASONS = ["Student: thesis", "Student: class project", "Competitor",
                      "No budget: startup", "No budget", "Spam", "Wrong country"]
BENCH_FORMS = ["bench webinar", "bench e-book", "bench demo request", "bench newsletter"]


@dataclass
class Histories:
    transitions: int
    milestones: int
    seconds: float
    milestone_seconds: float  # of which: the milestone backfill (migration 0006's SQL)

    def __str__(self) -> str:
        return (f"{self.transitions:,} stage transitions and {self.milestones:,} milestone "
                f"rows in {self.seconds:.1f} s (the milestone backfill "
                f"{self.milestone_seconds:.1f} s)")


def history_paths() -> list[tuple[str, float, float, int, int, str, str]]:
    """HISTORY_MIX as rows (final stage, share from, share to, step, steps, from, to),
    checked against the moves the product allows."""
    from pipeline.services.stages import (
        ALLOWED_TRANSITIONS,
        REASON_REQUIRED,
        REASON_REQUIRED_TO,
    )

    rows = []
    for final, mix in HISTORY_MIX.items():
        low = 0.0
        for high, path in mix:
            stages = (Stage.LEAD, *path)
            if stages[-1] != final:
                raise RuntimeError(f"HISTORY_MIX: {path} does not end in {final}")
            for step, (before, after) in enumerate(itertools.pairwise(stages), 1):
                if after not in ALLOWED_TRANSITIONS[before]:
                    raise RuntimeError(f"HISTORY_MIX: {before} → {after} is not allowed")
                needs = (before, after) in REASON_REQUIRED or after in REASON_REQUIRED_TO
                given = (before, after) == (Stage.MQL, Stage.LEAD) or after == Stage.DISQUALIFIED
                if needs and not given:  # make_stage_histories gives reasons to these only
                    raise RuntimeError(f"HISTORY_MIX: {before} → {after} needs a reason")
                rows.append((str(final), low, high, step, len(path), str(before), str(after)))
            low = high
    return rows


def make_stage_histories(*, now: datetime | None = None, seed: float = 0.44,
                         verbose: bool = False) -> Histories:
    """Give every lead without transitions the StageTransition history behind its stage
    (:data:`HISTORY_MIX`: ~0.9 moves per lead for :data:`STAGE_MIX`; MQLs sent back to
    Lead, stages skipped, deals reopened, disqualified leads recycled), spread between
    its ``created_at`` and its ``stage_changed_at`` (the last move), with reasons, who
    moved it (scoring, its owner or the API) and the MQL hand-off's owner; then its
    ``pipeline.LeadMilestone`` row with the SQL migration 0006 backfilled them with.
    Set-based (two INSERT … SELECT), indexes dropped and rebuilt as in make_leads, then
    VACUUM ANALYZE. Call it after make_leads, outside ``transaction.atomic``."""
    from pipeline.models import LeadMilestone, StageTransition

    started = time.perf_counter()
    now = now or timezone.now()
    paths = ", ".join(
        f"('{final}', {low}, {high}, {step}, {steps}, '{before}', '{after}')"
        for final, low, high, step, steps, before, after in history_paths()
    )
    rejected = "m.from_stage = 'mql' AND m.to_stage = 'lead'"
    scored = "m.from_stage = 'lead' AND m.to_stage = 'mql' AND m.r_who < 0.7"
    known = {
        "lead_id": "m.lead_id",
        "from_stage": "m.from_stage",
        "to_stage": "m.to_stage",
        "by_user_id": f"CASE WHEN {scored} THEN NULL ELSE m.lead_owner END",
        "by_system": (f"CASE WHEN {scored} THEN 'scoring' "
                      "WHEN m.lead_owner IS NULL THEN 'api' ELSE '' END"),
        "reason": (f"CASE WHEN {rejected} THEN {_pick(REJECT_REASONS, 'random()')} "
                   f"WHEN m.to_stage = 'disqualified' THEN "
                   f"{_pick(DISQUALIFY_REASONS, 'random()')} ELSE '' END"),
        "created_at": "m.at",
        "owner_id": "CASE WHEN m.to_stage = 'mql' THEN m.lead_owner END",
        "first_touch_at": ("CASE WHEN m.to_stage = 'mql' AND m.lead_owner IS NOT NULL THEN "
                           "least(%(now)s, m.at + random() * interval '3 hours') END"),
    }
    lead_table, transition_table = Lead._meta.db_table, StageTransition._meta.db_table
    # Step i of n at created_at + (stage_changed_at − created_at) · (i/n)^pace: the last
    # move is the lead's stage change; a pace per lead makes some fast and some slow.
    select_from = (
        "FROM (SELECT t.*, t.created + (t.changed - t.created) "
        "* power(t.step::float8 / t.steps, t.pace) AS at FROM ("
        "SELECT l.id AS lead_id, l.owner_id AS lead_owner, l.created_at AS created, "
        "l.stage_changed_at AS changed, l.pace, l.r_who, p.step, p.steps, "
        "p.from_stage, p.to_stage "
        "FROM (SELECT x.id, x.stage, x.owner_id, x.created_at, x.stage_changed_at, "
        "random() AS r_path, 0.4 + 1.6 * random() AS pace, random() AS r_who "
        f"FROM {lead_table} AS x WHERE NOT EXISTS "
        f"(SELECT 1 FROM {transition_table} AS y WHERE y.lead_id = x.id)) AS l "
        f"JOIN (VALUES {paths}) AS p(final, low, high, step, steps, from_stage, to_stage) "
        "ON p.final = l.stage AND l.r_path >= p.low AND l.r_path < p.high) AS t) AS m "
        "ORDER BY m.at"  # ids in time order, as the product makes them
    )
    with transaction.atomic(), connection.cursor() as cursor:
        dropped = _drop_indexes(cursor, [StageTransition, LeadMilestone])
        cursor.execute("SELECT setseed(%s)", [seed])
        _log(verbose, "inserting stage transitions…", started)
        cursor.execute(*_insert(StageTransition, known, select_from, {"now": now}))
        transitions = cursor.rowcount
        _log(verbose, "inserting milestone rows (migration 0006's backfill)…", started)
        backfill_started = time.perf_counter()
        cursor.execute(f"DELETE FROM {LeadMilestone._meta.db_table}")
        cursor.execute(*milestone_backfill_sql())
        milestones = cursor.rowcount
        backfill_seconds = time.perf_counter() - backfill_started
        _log(verbose, f"rebuilding {len(dropped)} indexes and foreign keys…", started)
        _restore_indexes(cursor, dropped)
    _log(verbose, "VACUUM ANALYZE…", started)
    _vacuum_analyze(StageTransition, LeadMilestone)
    return Histories(transitions, milestones, time.perf_counter() - started, backfill_seconds)


def milestone_backfill_sql() -> tuple[str, list]:
    """Migration 0006's backfill statement (every lead's milestone row from its
    transitions), so the benchmark's rows are the ones a migrated database has."""
    import importlib

    from pipeline.models import LeadMilestone, StageTransition

    migration = importlib.import_module("pipeline.migrations.0006_lead_milestones")
    return migration.backfill_sql(LeadMilestone._meta.db_table, StageTransition._meta.db_table,
                                  Lead._meta.db_table, connection.ops.quote_name)


def make_submissions(*, share: float = 0.7, spam_share: float = 0.02,
                     seed: float = 0.45) -> int:
    """Form posts for the dashboard's submission count and form filter: ``share`` of the
    leads without one get a submission to one of :data:`BENCH_FORMS` (made live if
    missing) at their ``created_at``, and ``spam_share`` as many spam posts (no lead).
    One INSERT … SELECT, then VACUUM ANALYZE; returns the rows made."""
    from capture.models import Form, FormStatus, Submission

    forms = [Form.objects.get_or_create(name=name, defaults={"status": FormStatus.LIVE})[0].pk
             for name in BENCH_FORMS]
    known = {
        "form_id": f"(ARRAY{forms})[1 + floor(s.r_form * {len(forms)})::int]",
        "lead_id": "s.lead_id",
        "channel": "'hosted'",
        "data": "jsonb_build_object('email', s.email)",
        "ignored_fields": "'[]'::jsonb",
        "attribution": "'{}'::jsonb",
        "is_spam": "s.lead_id IS NULL",
        "spam_reason": "CASE WHEN s.lead_id IS NULL THEN 'honeypot' ELSE '' END",
        "idempotency_key": "NULL",
        "created_at": "s.created_at",
    }
    lead_table, submission_table = Lead._meta.db_table, Submission._meta.db_table
    select_from = (
        "FROM (SELECT l.id AS lead_id, l.email, l.created_at, random() AS r_form "
        f"FROM {lead_table} AS l WHERE NOT EXISTS (SELECT 1 FROM {submission_table} AS x "
        "WHERE x.lead_id = l.id) AND random() < %(share)s "
        "UNION ALL SELECT NULL, 'spam' || g || '@bench.example.com', "
        "%(now)s - random() * interval '365 days', random() "
        "FROM generate_series(1, (SELECT round(count(*) * %(spam)s)::int "
        f"FROM {lead_table})) AS g) AS s ORDER BY s.created_at"
    )
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT setseed(%s)", [seed])
        cursor.execute(*_insert(Submission, known, select_from,
                                {"now": timezone.now(), "share": share, "spam": spam_share}))
        made = cursor.rowcount
    _vacuum_analyze(Submission)
    return made


def _vacuum_analyze(*models) -> None:
    """Fresh statistics and visibility map for these tables (outside a transaction)."""
    with connection.cursor() as cursor:
        for model in models:
            cursor.execute(f"VACUUM ANALYZE {model._meta.db_table}")


def _log(verbose: bool, message: str, started: float) -> None:
    if verbose:
        print(f"  {time.perf_counter() - started:5.1f} s  {message}", flush=True)


# --- SQL ------------------------------------------------------------------------------


def _array(values) -> str:
    """A SQL array literal of quoted strings (constants from this module only)."""
    return "ARRAY[" + ", ".join("'" + str(v).replace("'", "''") + "'" for v in values) + "]"


def _pick(values, r: str) -> str:
    """One element of ``values`` chosen by ``r``, a SQL expression in [0, 1)."""
    return f"({_array(values)})[1 + floor({r} * {len(values)})::int]"


def _cumulative(mix, r: str) -> str:
    whens = " ".join(f"WHEN {r} < {share} THEN '{value}'" for value, share in mix[:-1])
    return f"(CASE {whens} ELSE '{mix[-1][0]}' END)"


def _insert(model: type[models.Model], known: dict[str, str], select_from: str,
            params: dict) -> tuple[str, dict]:
    """INSERT INTO model's table, with ``known`` column expressions and every other
    concrete column (but the primary key, unless ``known`` gives it) set to its model
    field's default."""
    columns, exprs = [], []
    for field in model._meta.concrete_fields:
        if field.primary_key and field.column not in known:
            continue
        columns.append(field.column)
        if field.column in known:
            exprs.append(known[field.column])
        elif getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            exprs.append("%(now)s")
        else:
            name = f"default_{field.column}"
            value = field.get_default()  # "" for blank text fields, None if nullable
            params[name] = field.get_db_prep_save(value, connection)
            exprs.append(f"%({name})s")
    missing = set(known) - set(columns)
    if missing:
        raise RuntimeError(
            f"{model.__name__} has no columns {sorted(missing)}: update bench/data.py"
        )
    sql = (f"INSERT INTO {model._meta.db_table} ({', '.join(columns)}) "
           f"SELECT {', '.join(exprs)} {select_from}")
    return sql, params


def _lead_insert(count: int, first_number: int, owner_ids: list[int], now: datetime,
                 stage_mix=STAGE_MIX):
    stage = _cumulative(stage_mix, "r_stage")
    source = _pick(SOURCES, "r_source")
    is_campaign = f"b.source IN ({', '.join(repr(s) for s in CAMPAIGN_SOURCES)})"

    def campaign(expr: str) -> str:  # attribution only for leads that came from a campaign
        return f"CASE WHEN {is_campaign} THEN {expr} ELSE '' END"

    medium = "CASE b.source " + " ".join(
        f"WHEN '{s}' THEN '{m}'" for s, m in MEDIUMS.items()) + " ELSE '' END"
    company = f"{_pick(COMPANIES, 'r_company')} || ' ' || mod(g, 997)"
    known = {
        "email": ("CASE WHEN mod(g, 10) = 0 THEN 'Lead' || g || '@Bench.Example.com' "
                  f"ELSE 'lead' || g || '@{EMAIL_DOMAIN}' END"),
        "first_name": _pick(FIRST_NAMES, "r_first"),
        "last_name": _pick(LAST_NAMES, "r_last"),
        "company": "CASE WHEN r_blank < 0.1 THEN '' ELSE b.company END",
        "job_title": _pick(JOB_TITLES, "r_title"),
        "phone": ("CASE WHEN r_misc < 0.4 THEN '' "
                  "ELSE '+1 555 ' || lpad(mod(g, 10000000)::text, 7, '0') END"),
        "website": ("CASE WHEN r_blank < 0.1 THEN '' "
                    "ELSE 'https://www.company' || mod(g, 997) || '.example' END"),
        "country": _pick(COUNTRIES, "r_country"),
        "industry": _pick(INDUSTRIES, "r_industry"),
        "company_size": (f"CASE WHEN r_size < 0.2 THEN NULL "
                         f"ELSE ({'ARRAY' + str(COMPANY_SIZES)})[1 + floor(r_size * 6)::int] END"),
        "stage": "b.stage",
        "stage_changed_at": "b.created_at + (%(now)s - b.created_at) * r_stage_time",
        "owner_id": ("CASE WHEN cardinality(%(owners)s::bigint[]) = 0 THEN NULL "
                     "WHEN b.stage = 'lead' AND r_owner < 0.7 THEN NULL "
                     "ELSE (%(owners)s::bigint[])"
                     "[1 + floor(r_owner * cardinality(%(owners)s::bigint[]))::int] END"),
        "score": ("CASE WHEN b.stage = 'lead' THEN "
                  "CASE WHEN r_score < 0.3 THEN 0 ELSE floor(r_score * r_score * 70)::int END "
                  "WHEN b.stage = 'disqualified' THEN floor(r_score * 40)::int - 5 "
                  "ELSE 75 + floor(r_score * 90)::int END"),
        "grade": f"CASE WHEN r_ungraded < 0.15 THEN '' ELSE {_pick(Grade.values, 'r_grade')} END",
        "source": "b.source",
        "first_utm_source": campaign("b.source"),
        "first_utm_medium": campaign(medium),
        "first_utm_campaign": campaign(_pick(CAMPAIGNS, "r_campaign")),
        "first_referrer": campaign("'https://' || b.source || '.com/'"),
        "first_landing_url": f"'https://www.example.com' || {_pick(PAGES, 'r_page')}",
        "last_utm_source": campaign("b.source"),
        "last_utm_medium": campaign(medium),
        "last_utm_campaign": campaign(_pick(CAMPAIGNS, "r_misc")),
        "last_landing_url": f"'https://www.example.com' || {_pick(PAGES, 'r_misc')}",
        "attributes": ("CASE WHEN r_attr < 0.3 THEN jsonb_build_object('topic', "
                       f"{_pick(['pricing', 'security', 'integrations'], 'r_attr / 0.3')}, "
                       "'seats', mod(g, 50) + 1) ELSE '{}'::jsonb END"),
        "marketing_consent": "r_consent < 0.6",
        "consent_at": "CASE WHEN r_consent < 0.6 THEN b.created_at END",
        "consent_text": ("CASE WHEN r_consent < 0.6 THEN "
                         "'Yes, send me product news. I can unsubscribe at any time.' ELSE '' END"),
        "unsubscribed_at": ("CASE WHEN r_consent > 0.97 THEN "
                            "b.created_at + (b.last_activity_at - b.created_at) / 2 END"),
        "created_at": "b.created_at",
        "updated_at": "b.last_activity_at",
        "last_activity_at": "b.last_activity_at",
    }
    randoms = ["r_first", "r_last", "r_company", "r_title", "r_country", "r_industry",
               "r_size", "r_stage", "r_stage_time", "r_owner", "r_score", "r_grade",
               "r_source", "r_campaign", "r_page", "r_attr", "r_consent", "r_misc", "r_blank",
               "r_ungraded"]
    select_from = (
        "FROM (SELECT s.*, "
        f"{stage} AS stage, {source} AS source, {company} AS company, "
        "s.created_at + (%(now)s - s.created_at) * s.r_last_act AS last_activity_at "
        "FROM (SELECT g, %(now)s - random() * interval '365 days' AS created_at, "
        "random() AS r_last_act, "
        + ", ".join(f"random() AS {r}" for r in randoms)
        + " FROM generate_series(%(first)s::bigint, %(last)s::bigint) AS g) AS s) AS b "
        "ORDER BY b.created_at"  # ids in creation order, as the product makes them
    )
    params = {"now": now, "owners": list(owner_ids), "first": first_number,
              "last": first_number + count - 1}
    return _insert(Lead, known, select_from, params)


def _activity_insert(max_id_before: int, per_lead: int, now: datetime):
    # Each lead gets n activities, 2 ≤ n ≤ 2k−2 (k on average), from a hash of its id.
    spread = max(2 * per_lead - 3, 1)
    n = f"(2 + mod(l.id * 2654435761, {spread}))" if per_lead >= 2 else "1"
    kind = _cumulative(KIND_MIX, "r.r_kind")
    data = (
        "CASE a.kind "
        "WHEN 'lead_created' THEN jsonb_build_object('source', a.source) "
        f"WHEN 'page_viewed' THEN jsonb_build_object('url', 'https://www.example.com' || "
        f"{_pick(PAGES, 'a.r_data')}) "
        "WHEN 'form_submitted' THEN jsonb_build_object('form', 1 + floor(a.r_data * 8)::int) "
        "ELSE jsonb_build_object('sequence', 1 + floor(a.r_data * 4)::int, "
        "'step', 1 + floor(a.r_data * 3)::int) END"
    )
    known = {
        "lead_id": "a.lead_id",
        "kind": "a.kind",
        "data": data,
        "actor_id": "NULL",
        "occurred_at": "a.occurred_at",
        "created_at": "a.occurred_at",
        "processed_at": "a.occurred_at",
    }
    select_from = (
        "FROM (SELECT l.id AS lead_id, l.source, r.r_data, "
        f"CASE WHEN s = 0 THEN 'lead_created' ELSE {kind} END AS kind, "
        "CASE WHEN s = 0 THEN l.created_at WHEN s = n - 1 THEN l.last_activity_at "
        "ELSE l.created_at + (l.last_activity_at - l.created_at) * s / (n - 1) END AS occurred_at "
        f"FROM {Lead._meta.db_table} AS l "
        f"CROSS JOIN LATERAL (SELECT {n} AS n) AS c "
        "CROSS JOIN LATERAL generate_series(0, c.n - 1) AS s "
        "CROSS JOIN LATERAL (SELECT random() AS r_kind, random() AS r_data, s AS _s) AS r "
        "WHERE l.id > %(after)s) AS a "
        "ORDER BY a.occurred_at"
    )
    return _insert(Activity, known, select_from, {"after": max_id_before, "now": now})


# --- Indexes and foreign keys ---------------------------------------------------------


def _drop_indexes(cursor, models_: list[type[models.Model]]) -> list[str]:
    """Drop the tables' foreign keys and the indexes that back no constraint (the unique
    lower(email) one is such an index, and is rebuilt like the rest: a duplicate would
    fail the rebuild loudly). Re-adding a foreign key checks every row in one join,
    instead of one locking lookup per inserted row. Returns the statements that
    :func:`_restore_indexes` runs to put them back."""
    tables = [m._meta.db_table for m in models_]
    cursor.execute(
        "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) "
        "FROM pg_constraint WHERE contype = 'f' AND conrelid::regclass::text = ANY(%s)",
        [tables],
    )
    foreign_keys = cursor.fetchall()
    cursor.execute(
        "SELECT i.indexname, i.indexdef FROM pg_indexes i "
        "WHERE i.schemaname = current_schema() AND i.tablename = ANY(%s) "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)",
        [tables],
    )
    indexes = cursor.fetchall()
    for table, name, _ in foreign_keys:
        cursor.execute(f'ALTER TABLE "{table}" DROP CONSTRAINT "{name}"')
    for name, _ in indexes:
        cursor.execute(f'DROP INDEX "{name}"')
    return [definition for _, definition in indexes] + [
        f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" {definition}'
        for table, name, definition in foreign_keys
    ]


def _restore_indexes(cursor, statements: list[str]) -> None:
    cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
    for statement in statements:
        cursor.execute(statement)
