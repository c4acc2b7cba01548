"""Reads of leads for the leads list, the API and the board: one filter
definition, so a filter means the same thing wherever a user applies it."""

from django.contrib.auth import get_user_model
from django.db.models import Count, QuerySet

from capture.cache import cache_get, cache_set
from capture.models import Activity, Lead
from capture.segments import (  # noqa: F401 - pipeline's names for them
    NO_GRADE,
    OWNER_ME,
    OWNER_NONE,
    LeadFilterSet,
    UTCDateTimeField,
    UTCDateTimeFilter,
    lead_search,
)

# Sort keys users may choose, each with the tie-break that makes it a total order
# (keyset pagination and stable page numbers both need one).
LEAD_ORDERINGS: dict[str, tuple[str, ...]] = {
    "-created_at": ("-created_at", "-id"),
    "created_at": ("created_at", "id"),
    "-score": ("-score", "-id"),
    "score": ("score", "id"),
    "-last_activity_at": ("-last_activity_at", "-id"),
    "last_activity_at": ("last_activity_at", "id"),
}
DEFAULT_LEAD_ORDERING = "-created_at"


class LeadFilter(LeadFilterSet):
    """capture's lead filter (capture.segments.LeadFilterSet: what a saved segment and a
    nurture trigger read too), with "owner=me" the requesting user."""

    def owner_me(self):
        return self.me if self.me is not None else getattr(self.request, "user", None)


def lead_list(*, user, params=None, request=None) -> LeadFilter:
    """The leads a user may see, filtered by ``params`` (a QueryDict or dict).
    Check ``.is_valid()`` / ``.errors``; ``.qs`` is the filtered queryset."""
    base = Lead.objects.visible_to(user).select_related("owner")
    return LeadFilter(params, queryset=base, request=request)


LEAD_SOURCES_CACHE_KEY = "pipeline:lead-sources"


def lead_sources() -> list[str]:
    """Distinct lead sources for the filter menu. A DISTINCT over 100,000 leads costs
    tens of milliseconds, and new sources are rare, so the menu may lag by a few minutes."""

    def load() -> list[str]:
        return list(
            Lead.objects.exclude(source="").order_by("source").values_list("source", flat=True)
            .distinct()[:200]
        )

    sources = cache_get(LEAD_SOURCES_CACHE_KEY)  # None also when the cache is down
    if sources is None:
        sources = load()
        cache_set(LEAD_SOURCES_CACHE_KEY, sources, 300)
    return sources


def lead_owners() -> QuerySet:
    """Active users who can own leads, for owner menus."""
    return get_user_model().objects.filter(is_active=True).order_by("first_name", "username")


# The lead page's timeline filter: what a person looks for, not one raw kind each
# (docs/activities.md lists the kinds). Kinds in no group are a product's custom events.
TIMELINE_GROUPS: dict[str, tuple[str, frozenset[str]]] = {
    "submissions": ("Submissions", frozenset(
        {"form_submitted", "confirmed", "lead_magnet_downloaded"})),
    "emails": ("Emails", frozenset(
        {"email_sent", "email_opened", "email_clicked", "email_failed", "unsubscribed",
         "sequence_enrolled", "sequence_exited"})),
    "page_views": ("Page views", frozenset({"page_viewed"})),
    "scores": ("Score and grade changes", frozenset({"score_changed", "grade_changed"})),
    "stages": ("Stage and owner changes", frozenset({"stage_changed", "owner_changed"})),
    "notes": ("Notes, calls and meetings", frozenset({"note_added", "note_edited"})),
    "tasks": ("Tasks", frozenset({"task_added", "task_done"})),
    "record": ("Record changes", frozenset({"lead_created", "lead_updated", "deal_updated"})),
}
EVENTS_GROUP = "events"
EVENTS_LABEL = "Product events"
_GROUPED_KINDS = frozenset().union(*(kinds for _, kinds in TIMELINE_GROUPS.values()))


def timeline_group_of(kind: str) -> str:
    for key, (_, kinds) in TIMELINE_GROUPS.items():
        if kind in kinds:
            return key
    return EVENTS_GROUP


def timeline_group_counts(lead: Lead) -> list[dict]:
    """The timeline filter's options: each group the lead has activity in, with its
    count, in TIMELINE_GROUPS order (product events last). One query."""
    per_kind = lead.activities.order_by().values("kind").annotate(n=Count("id"))
    counts: dict[str, int] = {}
    for row in per_kind:
        group = timeline_group_of(row["kind"])
        counts[group] = counts.get(group, 0) + row["n"]
    labels = {key: label for key, (label, _) in TIMELINE_GROUPS.items()}
    labels[EVENTS_GROUP] = EVENTS_LABEL
    return [{"group": key, "label": label, "count": counts[key]}
            for key, label in labels.items() if key in counts]


def lead_timeline(
    lead: Lead, *, kinds: list[str] | None = None, group: str = ""
) -> QuerySet[Activity]:
    """A lead's activities, newest first: all, those of ``kinds``, or of one group of
    TIMELINE_GROUPS (or EVENTS_GROUP, the kinds in none); an unknown group is all."""
    qs = lead.activities.select_related("actor").order_by("-occurred_at", "-id")
    if kinds:
        qs = qs.filter(kind__in=kinds)
    if group in TIMELINE_GROUPS:
        qs = qs.filter(kind__in=TIMELINE_GROUPS[group][1])
    elif group == EVENTS_GROUP:
        qs = qs.exclude(kind__in=_GROUPED_KINDS)
    return qs
