"""Tracking: the websites that run /t.js, their visitors' page views, custom events from
a product, and linking a visitor to the lead they turn out to be.

A visitor is known by a random id that LeadHub issues and signs ("<uuid>:<signature>"):
the snippet keeps it in a first-party cookie (``lh_vid``) on the website's own domain and
sends it with every page view, and LeadHub's form embed sends it with a submission
(``_lh_vid``). Only ids LeadHub signed are believed, so nobody can attach their page views
to someone else's lead by guessing an id.

Page views of a visitor nobody knows yet are kept as VisitorEvents; when the visitor
submits a form, the submission's follow-up task (capture.handlers) links the visitor to
the lead and turns those events into ``page_viewed`` activities with their original
times. From then on the visitor's page views are recorded on the lead directly.
"""

import math
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.core import signing
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from capture.models import ActivityKind, Lead, TrackingSite, Visitor, VisitorEvent
from capture.public import origin_of

from .leads import DUPLICATE_EMAIL_MESSAGE, activity_record, lead_create, text_problem

VISITOR_SALT = "capture.visitor"
# A visitor's anonymous page views are kept until they submit a form; this many (the
# latest) become activities then. A crawler that never submits anything costs rows,
# not timeline noise on a lead.
MAX_LINKED_EVENTS = 500
# Writing last_seen_at on every page view would turn each read into a write.
LAST_SEEN_RESOLUTION = timedelta(minutes=10)
MAX_ORIGINS = 50


# --- Visitor ids ------------------------------------------------------------------------


def visitor_sign(visitor_id: uuid.UUID) -> str:
    return signing.Signer(salt=VISITOR_SALT).sign(str(visitor_id))


def visitor_unsign(value: Any) -> uuid.UUID | None:
    """The visitor id in a signed value LeadHub issued, or None for anything else."""
    if not isinstance(value, str) or not value or len(value) > 200:
        return None
    try:
        return uuid.UUID(signing.Signer(salt=VISITOR_SALT).unsign(value))
    except (signing.BadSignature, ValueError):
        return None


# --- Tracking sites -----------------------------------------------------------------------


def origins_clean(values: list[str]) -> list[str]:
    """Allowed origins as scheme://host[:port], lower-cased and without duplicates.
    Raises ValidationError (on "allowed_origins") naming the first one that is not an
    origin (a path, a query, no scheme…)."""
    cleaned: list[str] = []
    for raw in values:
        value = raw.strip().rstrip("/")
        if not value:
            continue
        origin = origin_of(value)
        if not origin or origin != value.lower():
            raise ValidationError({"allowed_origins": [
                f"“{value[:100]}” is not an origin: give the scheme and host only, "
                "e.g. https://www.example.com (a port is allowed, a path is not)."
            ]})
        if origin not in cleaned:
            cleaned.append(origin)
    if len(cleaned) > MAX_ORIGINS:
        raise ValidationError({"allowed_origins": [f"At most {MAX_ORIGINS} origins."]})
    return cleaned


def _site_clean(site: TrackingSite) -> None:
    site.name = site.name.strip()
    if problem := text_problem(site.name):
        raise ValidationError({"name": [problem]})
    site.allowed_origins = origins_clean(site.allowed_origins)
    site.full_clean(exclude=["key"])


def tracking_site_create(*, name: str, allowed_origins: list[str]) -> TrackingSite:
    site = TrackingSite(name=name, allowed_origins=allowed_origins)
    _site_clean(site)
    site.save()
    return site


def tracking_site_update(
    *, site: TrackingSite, name: str, allowed_origins: list[str]
) -> TrackingSite:
    site.name, site.allowed_origins = name, allowed_origins
    _site_clean(site)
    site.save(update_fields=["name", "allowed_origins"])
    return site


def tracking_site_delete(*, site: TrackingSite) -> None:
    """The site's pending anonymous page views stay (their site becomes empty): they
    still belong to their visitors."""
    site.delete()


def site_origin_allowed(site: TrackingSite, origin: str | None) -> bool:
    """Browsers send Origin with every cross-site POST; a request without one comes from
    a server, and is judged by the rate limits like any other."""
    if origin is None:
        return True
    origin = origin_of(origin)
    return bool(origin) and origin in {origin_of(o) for o in site.allowed_origins}


# --- Page views from /t.js ---------------------------------------------------------------


@dataclass(frozen=True)
class PageViewOutcome:
    visitor: str  # the signed id for the snippet to keep
    activity_id: int | None  # recorded on a known lead…
    event_id: int | None  # …or kept for an anonymous visitor


@transaction.atomic
def page_view_record(
    *, site: TrackingSite, visitor: str, url: str, title: str, referrer: str,
    now: datetime | None = None,
) -> PageViewOutcome:
    """Record a page view from the snippet. ``visitor`` is the signed id the snippet sent
    ("" or a forged value: a new visitor is issued)."""
    now = now or timezone.now()
    visitor_id = visitor_unsign(visitor)
    row = None
    if visitor_id is not None:
        # Locked, so this view and the linking of this visitor to a lead (visitor_link)
        # happen one after the other: a view read as anonymous is never stored as a
        # VisitorEvent after the linking has already converted them (it would be stranded).
        # No select_related("lead"): a row locked after a concurrent update is re-read
        # with its new lead_id but the joined lead's columns from before (still NULL).
        row = Visitor.objects.select_for_update().filter(pk=visitor_id).first()
    if row is None and visitor_id is not None:
        # An id we signed whose row is gone: keep it (get_or_create, in case a
        # concurrent view of the same browser gets there first).
        row, _ = Visitor.objects.get_or_create(pk=visitor_id)
    elif row is None:
        row = Visitor.objects.create(pk=uuid.uuid4())  # a new browser
    elif row.last_seen_at < now - LAST_SEEN_RESOLUTION:
        Visitor.objects.filter(pk=row.pk).update(last_seen_at=now)

    data = {"url": url, "title": title, "referrer": referrer}
    lead = Lead.objects.filter(pk=row.lead_id).first() if row.lead_id else None
    if lead is not None:
        activity = activity_record(
            lead=lead, kind=ActivityKind.PAGE_VIEWED, occurred_at=now,
            data={**data, "site": site.pk, "visitor": str(row.pk)},
        )
        return PageViewOutcome(visitor_sign(row.pk), activity.pk, None)
    event = VisitorEvent.objects.create(
        visitor=row, site=site, kind=ActivityKind.PAGE_VIEWED, data=data, occurred_at=now
    )
    return PageViewOutcome(visitor_sign(row.pk), None, event.pk)


@transaction.atomic
def visitor_link(*, visitor: str, lead: Lead) -> int:
    """Link the visitor behind the signed id ``visitor`` to ``lead`` (unless it is
    already another lead's) and turn its anonymous page views into the lead's
    ``page_viewed`` activities, at their original times; returns how many.

    Idempotent: the visitor row is locked, and the events are deleted in the same
    transaction that records them, so a second run (a retried task) finds none.
    """
    visitor_id = visitor_unsign(visitor)
    if visitor_id is None:
        return 0
    row = Visitor.objects.select_for_update().filter(pk=visitor_id).first()
    if row is None:
        # Signed by us but never seen (or deleted): future page views go to the lead.
        Visitor.objects.create(pk=visitor_id, lead=lead)
        return 0
    if row.lead_id is not None and row.lead_id != lead.pk:
        return 0  # a shared browser: the first lead keeps it
    if row.lead_id is None:
        Visitor.objects.filter(pk=row.pk).update(lead=lead)
    events = list(VisitorEvent.objects.filter(visitor=row).order_by("-occurred_at", "-id")
                  .values("id", "kind", "data", "site_id", "occurred_at"))
    for event in reversed(events[:MAX_LINKED_EVENTS]):
        activity_record(
            lead=lead, kind=event["kind"], occurred_at=event["occurred_at"],
            data={**event["data"], "site": event["site_id"], "visitor": str(row.pk)},
        )
    if events:
        VisitorEvent.objects.filter(pk__in=[e["id"] for e in events]).delete()
    return min(len(events), MAX_LINKED_EVENTS)


def visitors_prune(*, before: datetime, batch: int = 5000) -> int:
    """Forget anonymous browsing older than ``before``: page views still waiting for a
    form submission, and visitors never linked to a lead and not seen since. Deletes in
    batches (short transactions, no long lock on a busy table); returns the page views
    deleted."""
    deleted = 0
    while True:
        ids = list(VisitorEvent.objects.filter(occurred_at__lt=before)
                   .values_list("pk", flat=True)[:batch])
        if ids:
            deleted += VisitorEvent.objects.filter(pk__in=ids).delete()[0]
        if len(ids) < batch:
            break
    while True:
        ids = list(Visitor.objects.filter(lead__isnull=True, last_seen_at__lt=before)
                   .values_list("pk", flat=True)[:batch])
        if ids:
            # Their page views are as old (each view moves last_seen_at, to within
            # LAST_SEEN_RESOLUTION), so the cascade takes nothing recent.
            Visitor.objects.filter(pk__in=ids, lead__isnull=True).delete()
        if len(ids) < batch:
            break
    return deleted


# --- Events from a product (authenticated) ---------------------------------------------------

# A custom event's name becomes an activity kind: a slug, so rules and URLs can name it.
EVENT_TYPE_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}\Z")
# LeadHub's own kinds mean something to scoring, nurture and the timeline; a product may
# send page views, but not, say, "unsubscribed" or "stage_changed".
RESERVED_TYPES = frozenset(ActivityKind.values) - {ActivityKind.PAGE_VIEWED}
MAX_PROPERTIES = 50
MAX_PROPERTY_NAME = 100
MAX_PROPERTY_TEXT = 1000
FUTURE_TOLERANCE = timedelta(minutes=5)


def event_type_problem(value: str) -> str | None:
    if not EVENT_TYPE_RE.match(value):
        return ("Give an event name of letters, digits, “_” and “-”, starting with a letter, "
                "at most 64 characters (e.g. trial_started).")
    if value in RESERVED_TYPES:
        return f"“{value}” is one of LeadHub's own activity kinds; choose another name."
    return None


def properties_problem(value: Any) -> str | None:
    """What is wrong with an event's properties, or None: they must be an object of at
    most MAX_PROPERTIES names, each with text, a number, true/false or null."""
    if not isinstance(value, dict):
        return "Send properties as an object of name: value."
    if len(value) > MAX_PROPERTIES:
        return f"At most {MAX_PROPERTIES} properties."
    for name, item in value.items():
        if not name.strip() or len(name) > MAX_PROPERTY_NAME or text_problem(name):
            return f"Invalid property name: {name[:MAX_PROPERTY_NAME]!r}."
        if isinstance(item, str):
            if len(item) > MAX_PROPERTY_TEXT:
                return f"Property {name!r} is longer than {MAX_PROPERTY_TEXT} characters."
            if problem := text_problem(item):
                return f"Property {name!r}: {problem}"
        elif isinstance(item, float) and not math.isfinite(item):
            return f"Property {name!r}: numbers must be finite."
        elif isinstance(item, int) and not isinstance(item, bool) and abs(item) >= 2**63:
            return f"Property {name!r}: the number is too large."
        elif not (item is None or isinstance(item, bool | int | float)):
            return f"Property {name!r} must be text, a number, true/false or null."
    return None


def occurred_at_problem(value: datetime, *, now: datetime | None = None) -> str | None:
    if value > (now or timezone.now()) + FUTURE_TOLERANCE:
        return "This time is in the future (more than a few minutes from now)."
    return None


class LeadNotFound(Exception):
    """No visible lead has this id or email (HTTP 400 on the field named)."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field, self.message = field, message


def lead_for_event(
    *, user, lead_id: int | None = None, email: str = "", create: bool = False
) -> tuple[Lead, bool]:
    """The lead an event is about, as ``user`` may see it: by id, or by email (created,
    through lead_create with source "api", only when ``create``). Returns (lead,
    created). Raises LeadNotFound."""
    visible = Lead.objects.visible_to(user)
    if lead_id is not None:
        lead = visible.filter(pk=lead_id).first()
        if lead is None:
            raise LeadNotFound("lead", "No lead with this id.")
        return lead, False
    lead = visible.with_email(email).first()
    if lead is not None:
        return lead, False
    if not create:
        raise LeadNotFound(
            "email", 'No lead with this email. Send "create_lead": true to create one.'
        )
    try:
        return lead_create(actor=user, source="api", email=email), True
    except ValidationError as exc:
        # Created by a concurrent request a moment ago: the event is about that lead.
        duplicate = DUPLICATE_EMAIL_MESSAGE in exc.message_dict.get("email", [])
        lead = visible.with_email(email).first() if duplicate else None
        if lead is None:
            raise
        return lead, False


def event_record(
    *,
    lead: Lead,
    kind: str,
    actor=None,
    url: str = "",
    properties: dict[str, Any] | None = None,
    occurred_at: datetime | None = None,
    title: str = "",
    referrer: str = "",
):
    """A custom event (or a page view) a product reports through the API, as an
    activity on ``lead`` whose kind is the event's name (docs/activities.md)."""
    data: dict[str, Any] = {"url": url, "properties": properties or {}, "source": "api"}
    if kind == ActivityKind.PAGE_VIEWED:
        data.update(title=title, referrer=referrer, site=None, visitor=None)
    return activity_record(lead=lead, kind=kind, data=data, actor=actor, occurred_at=occurred_at)
