"""Demo leads with histories that read like real ones: where each came from, what they
read and opened, who owns them and how far down the funnel they got.

The same seed gives the same leads, stages and owners on every machine, so screenshots
and walkthroughs stay stable (times are relative to when it runs). Plans are made in
plain Python first, then written in one transaction:

- leads through ``capture.services.lead_create`` and stage and owner changes through
  ``pipeline.services`` (so StageTransitions and their activities are real, and those
  activities get processed by the Celery worker like any other);
- the bulk of the timeline (page views, forms, emails) with ``bulk_create``, already
  marked processed, so the outbox sweep doesn't queue thousands of them at once;
- then the services' "now" timestamps are moved back to when each step happened, so
  the history spreads over the last 90 days;
- last, every lead is rescored from its activities with the scoring rules (the demo's
  defaults, leadhub.demo.scoring, unless there are rules already), so the demo's scores
  and grades are the rules' own. Stages stay as planned: the rescore moves nobody.
"""

import random
import time
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from django.db import connection, transaction
from django.db.models.functions import Lower
from django.utils import timezone

from capture.models import Activity, ActivityKind, Lead, Stage
from capture.services import lead_create
from leadhub.demo import vocabulary as v
from leadhub.demo.scoring import scoring_defaults_ensure
from leadhub.models import User
from pipeline.models import StageTransition
from pipeline.services import lead_assign_owner, lead_change_stage
from scoring.services import rescore_run_inline

DEFAULT_SEED = 20250601
DEFAULT_COUNT = 300
# Who works the demo pipeline (demo accounts; either may be missing, then leads stay
# unowned), and how often each gets a new MQL.
OWNERS = [("sam", 7), ("admin", 3)]

FUNNEL = [Stage.MQL, Stage.SQL, Stage.OPPORTUNITY, Stage.CUSTOMER]
# How many of the leads end in each stage (before fit and age shift it per lead).
STAGE_WEIGHTS = {
    Stage.LEAD: 44, Stage.MQL: 22, Stage.SQL: 13, Stage.OPPORTUNITY: 8, Stage.CUSTOMER: 6,
    Stage.DISQUALIFIED: 6,
}
# A lead younger than this (days) can't have got that far yet.
MIN_AGE_DAYS = {
    Stage.LEAD: 0, Stage.MQL: 0.05, Stage.SQL: 0.5, Stage.OPPORTUNITY: 3, Stage.CUSTOMER: 12,
    Stage.DISQUALIFIED: 0.3,
}
# Days from the previous step to reaching each stage: (shortest, longest).
STAGE_GAP_DAYS = {
    Stage.MQL: (0.02, 3), Stage.SQL: (0.2, 6), Stage.OPPORTUNITY: (1, 12),
    Stage.CUSTOMER: (4, 25), Stage.DISQUALIFIED: (0.1, 8), Stage.LEAD: (0.1, 3),
}
# Later page views for a lead that ended in each stage: (fewest, most).
PAGE_VIEWS = {
    Stage.LEAD: (0, 4), Stage.MQL: (2, 6), Stage.SQL: (3, 8), Stage.OPPORTUNITY: (4, 10),
    Stage.CUSTOMER: (5, 12), Stage.DISQUALIFIED: (0, 4),
}


@dataclass
class Move:
    """A planned stage change or owner assignment, done through pipeline.services."""

    at: datetime
    to_stage: str = ""  # a stage change when set, else an owner assignment
    owner: str = ""
    actor: str = ""  # username; empty for the system
    by_system: str = ""
    reason: str = ""


@dataclass
class Plan:
    email: str
    fields: dict[str, Any]
    source: str
    creator: str  # username of whoever typed the lead in, if someone did
    created_at: datetime
    first_touch: dict[str, str]
    last_touch: dict[str, str]
    stage: str
    activities: list[tuple[str, datetime, dict[str, Any]]] = field(default_factory=list)
    moves: list[Move] = field(default_factory=list)
    lead: Lead | None = None


@dataclass(frozen=True)
class Company:
    name: str
    domain: str
    industry: str
    industry_fit: int
    country: str
    in_region: bool
    size: int


@dataclass
class DemoResult:
    leads: int
    skipped: int
    activities: int
    transitions: int
    seconds: float
    stages: Counter

    def __str__(self) -> str:
        if not self.leads:
            return f"no demo leads: all {self.skipped} of their emails are leads already"
        mix = ", ".join(f"{self.stages[s]} {s}" for s in Stage.values if self.stages[s])
        text = (f"{self.leads} demo leads ({mix}), {self.activities} activities and "
                f"{self.transitions} stage transitions in {self.seconds:.1f} s")
        if self.skipped:
            text += f"; {self.skipped} skipped (their email is already a lead)"
        return text


def demo_data_create(
    *, count: int = DEFAULT_COUNT, seed: int = DEFAULT_SEED, now: datetime | None = None
) -> DemoResult:
    """Create ``count`` demo leads. Leads whose email already exists are skipped, so
    running it twice with one seed adds nothing the second time."""
    started = time.monotonic()
    now = (now or timezone.now()).replace(microsecond=0)
    rng = random.Random(seed)  # noqa: S311 (repeatable demo data, not secrets)
    plans = _plans(rng, count, now)
    taken = set(
        Lead.objects.annotate(email_lower=Lower("email"))
        .filter(email_lower__in=[p.email for p in plans])
        .values_list("email_lower", flat=True)
    )
    plans = [p for p in plans if p.email not in taken]
    users = {u.username: u for u in User.objects.filter(
        username__in=[name for name, _ in OWNERS], is_active=True)}

    scoring_defaults_ensure()
    with transaction.atomic():
        for plan in plans:
            plan.lead = lead_create(
                actor=users.get(plan.creator), source=plan.source, **plan.fields
            )
        activities = [
            Activity(lead=plan.lead, kind=kind, data=data, occurred_at=at, processed_at=now)
            for plan in plans
            for kind, at, data in plan.activities
        ]
        Activity.objects.bulk_create(activities, batch_size=500)
        transition_times, owner_times = _moves_apply(plans, users)
        _backdate(plans, transition_times, owner_times)
        activity_count = Activity.objects.filter(lead__in=[p.lead for p in plans]).count()
    if plans:
        # Scores and grades come from the rules. The planned stages are the demo's
        # history (MQLs sales sent back included): the rescore promotes nobody.
        rescore_run_inline(reason="demo data", promote=False)

    return DemoResult(
        leads=len(plans),
        skipped=count - len(plans),
        activities=activity_count,
        transitions=len(transition_times),
        seconds=time.monotonic() - started,
        stages=Counter(p.stage for p in plans),
    )


def _moves_apply(plans: list[Plan], users: dict[str, User]):
    transition_times: dict[int, datetime] = {}
    owner_times: dict[int, datetime] = {}
    for plan in plans:
        for move in plan.moves:
            actor = users.get(move.actor)
            if move.to_stage:
                transition = lead_change_stage(
                    lead=plan.lead, to_stage=move.to_stage, actor=actor,
                    by_system=move.by_system if actor is None else "", reason=move.reason,
                )
                transition_times[transition.pk] = move.at
            elif move.owner in users:
                lead_assign_owner(lead=plan.lead, owner=users[move.owner], actor=actor,
                                  by_system=move.by_system if actor is None else "")
                owner_times[plan.lead.pk] = move.at
    return transition_times, owner_times


def _backdate(plans: list[Plan], transition_times, owner_times) -> None:
    """The services stamp everything "now"; move each row to when it happened."""
    by_id = {p.lead.pk: p for p in plans}
    _update_rows(StageTransition, ["created_at"],
                 [(at, pk) for pk, at in transition_times.items()])

    made_by_services = Activity.objects.filter(
        lead_id__in=by_id, processed_at__isnull=True
    ).values_list("pk", "lead_id", "kind", "data")
    last_at = {p.lead.pk: p.created_at for p in plans}
    rows = []
    for pk, lead_id, kind, data in made_by_services:
        if kind == ActivityKind.STAGE_CHANGED:
            at = transition_times[data["transition"]]
        elif kind == ActivityKind.OWNER_CHANGED:
            at = owner_times[lead_id]
        else:  # lead_created
            at = by_id[lead_id].created_at
        rows.append((at, pk))
        last_at[lead_id] = max(last_at[lead_id], at)
    _update_rows(Activity, ["occurred_at"], rows)

    touch_fields = [f"{t}_{f}" for t in ("first", "last") for f in Lead.ATTRIBUTION_FIELDS]
    rows = []
    for plan in plans:
        consent = plan.fields["marketing_consent"]
        stage_moves = [m.at for m in plan.moves if m.to_stage]
        last_activity_at = max([at for _, at, _ in plan.activities] + [last_at[plan.lead.pk]])
        rows.append((
            plan.created_at,
            last_activity_at,
            last_activity_at,  # updated_at
            stage_moves[-1] if stage_moves else plan.created_at,
            plan.created_at if consent else None,
            v.CONSENT_TEXT if consent else "",
            *(plan.first_touch[f] for f in Lead.ATTRIBUTION_FIELDS),
            *(plan.last_touch[f] for f in Lead.ATTRIBUTION_FIELDS),
            plan.lead.pk,
        ))
    _update_rows(Lead, ["created_at", "last_activity_at", "updated_at", "stage_changed_at",
                        "consent_at", "consent_text", *touch_fields], rows)


def _update_rows(model, fields: list[str], rows: list[tuple]) -> None:
    """UPDATE many rows by primary key, each to its own values: ``rows`` are
    ``(*values, pk)``. One prepared statement run with executemany, because
    ``bulk_update``'s CASE expressions took seconds for a few hundred rows."""
    if not rows:
        return
    meta, quote = model._meta, connection.ops.quote_name
    columns = [meta.get_field(name) for name in fields]
    assignments = ", ".join(f"{quote(f.column)} = %s" for f in columns)
    where = f"{quote(meta.pk.column)} = %s"
    # Identifiers come from model metadata, values are parameters.
    sql = f"UPDATE {quote(meta.db_table)} SET {assignments} WHERE {where}"  # noqa: S608
    params = [
        [f.get_db_prep_save(value, connection) for f, value in zip(columns, row[:-1], strict=True)]
        + [row[-1]]
        for row in rows
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)


# --- Planning (pure: random numbers in, plans out) -----------------------------------------


def _plans(rng: random.Random, count: int, now: datetime) -> list[Plan]:
    companies = _companies(rng, max(12, count // 2))
    # A few companies have several contacts, as in any real lead list.
    company_weights = [1 / (i + 1) ** 0.35 for i in range(len(companies))]
    used: set[str] = set()
    return [_plan(rng, now, rng.choices(companies, company_weights)[0], used)
            for _ in range(count)]


def _companies(rng: random.Random, count: int) -> list[Company]:
    industries, countries = list(v.INDUSTRIES), list(v.COUNTRIES)
    country_weights = [w for w, _ in v.COUNTRIES.values()]
    sizes, size_weights = zip(*v.COMPANY_SIZES, strict=True)
    companies, names = [], set()
    while len(companies) < count:
        industry = rng.choices(industries, v.INDUSTRY_WEIGHTS)[0]
        suffixes, industry_fit = v.INDUSTRIES[industry]
        stem = rng.choice(v.COMPANY_STEMS) + rng.choice(v.COMPANY_ENDINGS)
        suffix = rng.choice(suffixes)
        name = f"{stem} {suffix}"
        if name in names:
            continue
        names.add(name)
        country = rng.choices(countries, country_weights)[0]
        low, high = rng.choices(sizes, size_weights)[0]
        companies.append(Company(
            name=name,
            domain=f"{stem.lower()}-{suffix.lower()}.example",
            industry=industry,
            industry_fit=industry_fit,
            country=country,
            in_region=v.COUNTRIES[country][1],
            size=rng.randint(low, high),
        ))
    return companies


def _ascii(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(c for c in plain.lower() if c.isalnum())


def _plan(rng: random.Random, now: datetime, company: Company, used: set[str]) -> Plan:
    first, last = rng.choice(v.FIRST_NAMES), rng.choice(v.LAST_NAMES)
    pattern = rng.choices(["{f}.{l}", "{f}{l}", "{i}{l}", "{f}"], [6, 1, 3, 1])[0]
    local = pattern.format(f=_ascii(first), l=_ascii(last), i=_ascii(first)[0])
    email, n = f"{local}@{company.domain}", 2
    while email in used:  # one lead per email, also within the demo
        email, n = f"{local}{n}@{company.domain}", n + 1
    used.add(email)

    titles = list(v.JOB_TITLES)
    title = rng.choices(titles, [w for _, w in v.JOB_TITLES.values()])[0]
    channel = rng.choices(v.CHANNELS, [c[0] for c in v.CHANNELS])[0]
    _, source, medium, campaigns, terms, referrer, landing = channel
    age_days = max(0.05, 90 * rng.random() ** 1.25)
    created_at = now - timedelta(seconds=int(age_days * 86400))

    fit = (v.JOB_TITLES[title][0] + company.industry_fit + int(company.in_region)
           + (2 if 50 <= company.size < 1000 else 1 if 10 <= company.size < 5000 else 0))
    stage = _final_stage(rng, fit, age_days)

    web = bool(landing)
    form_key = v.CHANNEL_FORMS.get(landing, "")
    consent_odds = 0.1 if source == "manual" else 0.6 if source == "import" else (
        0.75 if v.FORMS.get(form_key, ("", "", 2))[2] < 2 else 0.45)
    consent = rng.random() < consent_odds

    first_touch = _touch(rng, source, medium, campaigns, terms, referrer, landing)
    last_touch = first_touch
    if web and rng.random() < 0.45:
        retouch = rng.choice([c for c in v.CHANNELS if c[2] in ("email", "cpc")])
        last_touch = _touch(rng, *retouch[1:])

    plan = Plan(
        email=email,
        fields={
            "email": email,
            "first_name": first,
            "last_name": last,
            "company": company.name,
            "job_title": title,
            "phone": _phone(rng, company.country) if rng.random() < 0.5 else "",
            "website": f"https://www.{company.domain}",
            "country": company.country,
            "industry": company.industry,
            "company_size": company.size,
            "attributes": _attributes(rng, source),
            "marketing_consent": consent,
        },
        source=source,
        creator=rng.choices(OWNERS, [w for _, w in OWNERS])[0][0] if not web else "",
        created_at=created_at,
        first_touch=first_touch,
        last_touch=last_touch,
        stage=stage,
    )
    _plan_moves(rng, plan, now, age_days)
    _plan_activities(rng, plan, now, landing, form_key, first_touch)
    # Whole seconds read better on the timeline.
    plan.activities = [(k, at.replace(microsecond=0), d) for k, at, d in plan.activities]
    for move in plan.moves:
        move.at = move.at.replace(microsecond=0)
    return plan


def _final_stage(rng: random.Random, fit: int, age_days: float) -> str:
    boost = 0.2 + 1.8 * (fit / 8) ** 1.5  # good-fit leads get further
    weights = {
        stage: w * (boost if stage in FUNNEL else 1.6 - fit / 8 if stage == Stage.DISQUALIFIED
                    else 1)
        for stage, w in STAGE_WEIGHTS.items()
        if age_days >= MIN_AGE_DAYS[stage]
    }
    return rng.choices(list(weights), list(weights.values()))[0]


def _touch(rng, source, medium, campaigns, terms, referrer, landing) -> dict[str, str]:
    empty = dict.fromkeys(Lead.ATTRIBUTION_FIELDS, "")
    if not landing:
        return empty
    utm = {}
    if medium:
        utm = {"utm_source": source, "utm_medium": medium,
               "utm_campaign": rng.choice(campaigns)}
        if terms:
            utm["utm_term"] = rng.choice(terms)
        if medium in ("cpc", "paid-social") and (content := rng.choice(v.UTM_CONTENT)):
            utm["utm_content"] = content
    if source == "organic":
        referrer = rng.choice(["https://www.google.com/", "https://www.bing.com/",
                               "https://duckduckgo.com/"])
    url = v.SITE + landing + (f"?{urlencode(utm)}" if utm else "")
    return {**empty, **utm, "referrer": referrer, "landing_url": url}


def _phone(rng: random.Random, country: str) -> str:
    # Numbers reserved for fiction (555-01xx; Ofcom's 020 7946 0xxx), never a real line.
    if country in ("United States", "Canada"):
        area = rng.choice(["212", "415", "512", "617", "416"])
        return f"+1 {area} 555 01{rng.randint(0, 99):02d}"
    if country == "United Kingdom":
        return f"+44 20 7946 0{rng.randint(0, 999):03d}"
    return ""


def _attributes(rng: random.Random, source: str) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    if rng.random() < 0.5:
        attributes["crm"] = rng.choice(["Salesforce", "HubSpot", "Pipedrive", "Dynamics 365",
                                        "Spreadsheets"])
    if rng.random() < 0.3:
        attributes["interested_in"] = rng.sample(
            ["Forecasting", "Dashboards", "Pipeline health", "Attribution"], rng.randint(1, 2))
    if source == "import":
        attributes["import_list"] = rng.choice(v.IMPORT_LISTS)
    return attributes


def _plan_moves(rng: random.Random, plan: Plan, now: datetime, age_days: float) -> None:
    stage = plan.stage
    path: list[str] = []
    reasons = {}
    if stage in FUNNEL:
        path = FUNNEL[: FUNNEL.index(stage) + 1]
    elif stage == Stage.DISQUALIFIED:
        disqualified_from = rng.choices([Stage.LEAD, Stage.MQL, Stage.SQL], [4, 4, 2])[0]
        if age_days < MIN_AGE_DAYS[Stage.SQL] + MIN_AGE_DAYS[Stage.DISQUALIFIED]:
            disqualified_from = Stage.LEAD
        path = [*FUNNEL[: [Stage.LEAD, *FUNNEL].index(disqualified_from)], Stage.DISQUALIFIED]
        reasons[Stage.DISQUALIFIED] = rng.choice(v.DISQUALIFY_REASONS)
    elif age_days > 2 and rng.random() < 0.08:
        # Sales sent this MQL back to marketing: mql → lead must give a reason.
        path = [Stage.MQL, Stage.LEAD]
        reasons[Stage.LEAD] = rng.choice(v.REJECT_REASONS)
    if not path:
        if plan.creator:
            plan.moves.append(Move(at=plan.created_at + timedelta(minutes=1),
                                   owner=plan.creator, actor=plan.creator))
        return

    gaps = [rng.uniform(*STAGE_GAP_DAYS[s]) for s in path]
    room = (age_days - 0.01) * 0.95
    if sum(gaps) > room:  # young lead: the same story, told faster
        gaps = [g * room / sum(gaps) for g in gaps]
    owner = plan.creator or rng.choices(OWNERS, [w for _, w in OWNERS])[0][0]
    at = plan.created_at
    if plan.creator:
        plan.moves.append(Move(at=at + timedelta(minutes=1), owner=owner, actor=owner))
    for stage_to, gap in zip(path, gaps, strict=True):
        at = at + timedelta(days=gap)
        if stage_to == Stage.MQL:
            plan.moves.append(Move(at=at, to_stage=stage_to, by_system="scoring"))
            if not plan.creator:  # new MQLs are routed to a rep a few minutes later
                assign_at = at + timedelta(minutes=rng.randint(2, 40))
                plan.moves.append(Move(at=min(assign_at, now - timedelta(seconds=30)),
                                       owner=owner, by_system="assignment"))
        else:
            actor = owner if plan.moves and any(m.owner for m in plan.moves) else "sam"
            reason = reasons.get(stage_to) or (
                rng.choice(v.QUALIFY_REASONS) if stage_to == Stage.SQL else "")
            plan.moves.append(Move(at=at, to_stage=stage_to, actor=actor, reason=reason))
    plan.moves.sort(key=lambda m: m.at)


def _plan_activities(rng, plan: Plan, now: datetime, landing: str, form_key: str,
                     touch: dict[str, str]) -> None:
    created, latest = plan.created_at, now - timedelta(minutes=1)
    session = f"s_{rng.getrandbits(48):012x}"
    add = plan.activities.append
    if landing:
        add((ActivityKind.PAGE_VIEWED, created - timedelta(minutes=rng.randint(2, 25)),
             _page_view(rng, landing, session, touch["landing_url"], touch["referrer"])))
        if form_key:
            add((ActivityKind.FORM_SUBMITTED, created - timedelta(seconds=rng.randint(1, 5)),
                 _form(plan, form_key, session, page=landing)))

    # What made the lead an MQL (scoring moved it): a high-intent form just before, the
    # signal the demo's rules weigh most (leadhub.demo.scoring).
    mql_at = next((m.at for m in plan.moves if m.to_stage == Stage.MQL), None)
    if mql_at:
        key = rng.choice(["demo", "contact-sales", "trial"])
        at = max(created + timedelta(seconds=30), mql_at - timedelta(minutes=rng.randint(1, 50)))
        later = f"s_{rng.getrandbits(48):012x}"
        add((ActivityKind.PAGE_VIEWED, at - timedelta(minutes=2),
             _page_view(rng, v.FORMS[key][1], later)))
        add((ActivityKind.FORM_SUBMITTED, at, _form(plan, key, later)))

    end = max(created, min(latest, created + (now - created) * rng.uniform(0.5, 1.0)))
    intent_pages = list(v.HIGH_INTENT_PAGES)
    for _ in range(rng.randint(*PAGE_VIEWS[plan.stage])):
        at = created + (end - created) * rng.random()
        high_intent = plan.stage in FUNNEL and rng.random() < 0.4
        path = rng.choice(intent_pages if high_intent else list(v.PAGES))
        add((ActivityKind.PAGE_VIEWED, at,
             _page_view(rng, path, f"s_{rng.getrandbits(48):012x}")))

    if plan.fields["marketing_consent"]:
        _plan_emails(rng, plan, latest, form_key)
    plan.activities.sort(key=lambda a: a[1])


def _plan_emails(rng, plan: Plan, latest: datetime, form_key: str) -> None:
    name, steps = {"webinar": v.SEQUENCES[1], "newsletter": v.SEQUENCES[2]}.get(
        form_key, v.SEQUENCES[0])
    campaign = name.lower().replace(" ", "-")
    sent = plan.created_at
    for step, subject, link in steps:
        sent += timedelta(days=rng.uniform(1, 6) if step > 1 else rng.uniform(0.01, 0.1))
        if sent > latest:
            return
        message = {"sequence": name, "step": step, "subject": subject,
                   "message_id": f"<{rng.getrandbits(64):016x}@mail.brightwave.example>"}
        plan.activities.append((ActivityKind.EMAIL_SENT, sent, message))
        opened = sent + timedelta(minutes=rng.randint(3, 2 * 24 * 60))
        if rng.random() > 0.6 or opened > latest:
            continue
        plan.activities.append((ActivityKind.EMAIL_OPENED, opened,
                                {**message, "client": rng.choice(v.MAIL_CLIENTS)}))
        clicked = opened + timedelta(seconds=rng.randint(8, 300))
        if rng.random() > 0.4 or clicked > latest:
            continue
        query = urlencode({"utm_source": "leadhub", "utm_medium": "email",
                           "utm_campaign": campaign})
        url = f"{v.SITE}{link}?{query}"
        plan.activities.append((ActivityKind.EMAIL_CLICKED, clicked, {**message, "url": url}))
        plan.activities.append((ActivityKind.PAGE_VIEWED, clicked + timedelta(seconds=3),
                                _page_view(rng, link, f"s_{rng.getrandbits(48):012x}", url)))


def _page_view(rng, path: str, session: str, url: str = "", referrer: str = "") -> dict:
    view = {
        "url": url or v.SITE + path,
        "path": path,
        "title": v.PAGES.get(path, v.SITE_NAME),
        "session_id": session,
        "seconds_on_page": rng.randint(5, 240),
    }
    if referrer:  # as the tracking snippet sends it: no referrer, no key
        view["referrer"] = referrer
    return view


def _form(plan: Plan, key: str, session: str, page: str = "") -> dict:
    name, form_page, _ = v.FORMS[key]
    page = page or form_page
    fields = plan.fields
    submitted = {"email": fields["email"], "first_name": fields["first_name"],
                 "last_name": fields["last_name"], "company": fields["company"]}
    if key in ("demo", "contact-sales", "trial"):
        submitted["job_title"] = fields["job_title"]
        submitted["company_size"] = str(fields["company_size"])
    return {"form": name, "form_name": name, "form_key": key, "page_url": v.SITE + page,
            "session_id": session,
            "fields": submitted, "marketing_consent": fields["marketing_consent"]}
