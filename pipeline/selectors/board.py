"""Reads for the board: its filters, a column's cards by keyset, the columns' totals."""

import logging
import threading
from collections import OrderedDict
from collections.abc import Hashable
from datetime import timedelta
from typing import NamedTuple

import django_filters
from django.core.cache import cache
from django.core.exceptions import EmptyResultSet
from django.db import connections
from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Sum
from django.utils import timezone

from capture.cache import CACHE_ERRORS, cache_get, cache_set
from capture.models import Lead
from pipeline.selectors.leads import LeadFilter

logger = logging.getLogger(__name__)

PERIODS = {"7d": 7, "30d": 30, "90d": 90, "365d": 365}


class BoardFilter(LeadFilter):
    """The leads list's filters plus the board's: score range, campaign, form and a
    created-in period. The board page, its column pages and /api/v1/board/ share it."""

    score_min = django_filters.NumberFilter(field_name="score", lookup_expr="gte",
                                            min_value=-(2**31), max_value=2**31 - 1)
    score_max = django_filters.NumberFilter(field_name="score", lookup_expr="lte",
                                            min_value=-(2**31), max_value=2**31 - 1)
    campaign = django_filters.CharFilter(method="filter_campaign", max_length=200,
                                         label="Campaign (utm_campaign, first or last touch)")
    form = django_filters.NumberFilter(method="filter_form", label="Form (id)",
                                       min_value=1, max_value=2**63 - 1)
    created = django_filters.ChoiceFilter(
        method="filter_created", label="Created in the last",
        choices=[(key, f"{days} days") for key, days in PERIODS.items()],
    )

    class Meta(LeadFilter.Meta):
        fields = [*LeadFilter.Meta.fields, "score_min", "score_max", "campaign", "form",
                  "created"]

    def filter_campaign(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(Q(first_utm_campaign=value) | Q(last_utm_campaign=value))

    def filter_form(self, queryset, name, value):
        if value is None:
            return queryset
        from capture.models import Submission

        submitted = Submission.objects.filter(lead=OuterRef("pk"), form_id=int(value))
        return queryset.filter(Exists(submitted))

    def filter_created(self, queryset, name, value):
        if not value:
            return queryset
        return queryset.filter(created_at__gte=timezone.now() - timedelta(days=PERIODS[value]))


BOARD_FILTER_PARAMS = tuple(name for name in BoardFilter.base_filters if name != "stage")
# Filters whose SQL holds the time of the request: their statements are never reused
# (board_sql_key). A new filter whose SQL depends on the clock, or on the request beyond
# who asks, must be named here (or in the key).
_CLOCK_FILTERS = frozenset({"created"})


def board_filter(*, user, params=None, request=None) -> BoardFilter:
    base = Lead.objects.visible_to(user)
    return BoardFilter(params, queryset=base, request=request)


# What a card shows: leaving out the attribution, attributes and consent columns halves
# what 250 cards cost to fetch and build.
BOARD_CARD_FIELDS = (
    "id", "email", "first_name", "last_name", "company", "score", "grade", "stage",
    "stage_changed_at", "last_activity_at", "owner_id", "owner__username",
    "owner__first_name", "owner__last_name", "deal__value", "deal__first_touch_at",
)


STAGE_COLUMN = BOARD_CARD_FIELDS.index("stage")
SCORE_COLUMN = BOARD_CARD_FIELDS.index("score")


class CardOwner:
    __slots__ = ("display_name",)

    def __init__(self, display_name: str):
        self.display_name = display_name


class CardDeal:
    __slots__ = ("first_touch_at", "value")

    def __init__(self, value, first_touch_at):
        self.value, self.first_touch_at = value, first_touch_at


class CardLead:
    """What a board card reads of a lead, from one row of BOARD_CARD_FIELDS: the same
    attribute names as Lead (owner.display_name, deal.value, …) without a model
    instance, its owner's and its deal's. Three model objects per card were a quarter
    of a board request's time."""

    __slots__ = ("company", "deal", "email", "first_name", "grade", "last_activity_at",
                 "last_name", "owner", "owner_id", "pk", "score", "stage", "stage_changed_at")

    def __init__(self, row: tuple):
        (self.pk, self.email, self.first_name, self.last_name, self.company, self.score,
         self.grade, self.stage, self.stage_changed_at, self.last_activity_at, self.owner_id,
         username, owner_first, owner_last, value, first_touch_at) = row
        owner_name = f"{owner_first} {owner_last}".strip() or username
        self.owner = CardOwner(owner_name) if self.owner_id is not None else None
        # A lead without a deal row and one whose deal has no value nor touch look alike
        # on a card: neither shows a value, both are untouched.
        self.deal = CardDeal(value, first_touch_at)

    @property
    def id(self) -> int:
        return self.pk

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


def board_column_cards(queryset: QuerySet[Lead], stage: str, *, after=None, limit: int,
                       make=CardLead) -> list:
    """One page of a column: ``limit`` + 1 rows (the extra one says there are more),
    ordered by (score, id) descending from the keyset ``after`` = (score, id). The
    (stage, score, id) index serves it without reading the rest of the column. Each row
    (a tuple of BOARD_CARD_FIELDS) is made into ``make(row)``: a CardLead by default."""
    qs = queryset.filter(stage=stage)
    if after is not None:
        score, pk = after
        qs = qs.filter(Q(score__lt=score) | Q(score=score, id__lt=pk), score__lte=score)
    rows = qs.order_by("-score", "-id").values_list(*BOARD_CARD_FIELDS)[: limit + 1]
    return [make(row) for row in rows]


# Stands in for the stage while the first-pages query is compiled once (below).
_STAGE_SLOT = "\x1fboard-stage\x1f"


class _Compiled(NamedTuple):
    sql: str
    params: tuple
    slot: int  # where the stage goes in params
    compiler: object  # its converters read the rows
    db: str


_MATCHES_NOTHING = object()
_COMPILED: "OrderedDict[Hashable, _Compiled | object]" = OrderedDict()
_COMPILED_MAX = 256
_COMPILED_LOCK = threading.Lock()


def _compiled_get(key):
    if key is None:
        return None
    with _COMPILED_LOCK:
        found = _COMPILED.get(key)
        if found is not None:
            _COMPILED.move_to_end(key)
        return found


def _compiled_put(key, compiled) -> None:
    if key is None:
        return
    with _COMPILED_LOCK:
        _COMPILED[key] = compiled
        while len(_COMPILED) > _COMPILED_MAX:
            _COMPILED.popitem(last=False)


def board_sql_key(*, user, params) -> Hashable | None:
    """What decides the SQL of a board request's filtered leads, for reusing it
    (board_columns_first_cards' ``reuse``): who asks (visibility, "owner=me") and the
    filter parameters as given. None when a filter reads the clock ("created in the
    last N days"): its SQL holds a time and is compiled each time."""
    filters = tuple(sorted((k, tuple(v)) for k, v in params.lists()
                           if k in BOARD_FILTER_PARAMS or k == "stage"))
    if any(k in _CLOCK_FILTERS for k, _ in filters):
        return None
    return (user.pk, user.has_perm("capture.view_lead"), filters)


def board_columns_first_cards(queryset: QuerySet[Lead], stages, *, limit: int,
                              make=CardLead, reuse: Hashable | None = None
                              ) -> dict[str, list]:
    """board_column_cards for the first page of each of ``stages``: the same query with
    another stage, compiled to SQL once (compiling the six column queries was a fifth of
    a board request's time) and sent as one UNION ALL of the per-stage pages, each
    still served by the (stage, score, id) index; one round trip instead of six. Rows
    go through the compiler's converters as values_list's would (SQLite returns
    datetimes as text) and are put back in (score, id) order per stage.

    With ``reuse`` (board_sql_key: what the queryset's SQL depends on), the compiled
    statement is kept in this process (the last _COMPILED_MAX of them) and the next
    request with the same key skips compiling it (a third of a cached board request's
    fixed cost)."""
    key = (reuse, limit, queryset.db) if reuse is not None else None
    compiled = _compiled_get(key)
    if compiled is None:
        qs = (queryset.filter(stage=_STAGE_SLOT).order_by("-score", "-id")
              .values_list(*BOARD_CARD_FIELDS)[: limit + 1])
        compiler = qs.query.get_compiler(qs.db)
        try:
            sql, params = compiler.as_sql()
        except EmptyResultSet:  # the filters match nothing at all
            compiled = _MATCHES_NOTHING
        else:
            slots = [i for i, value in enumerate(params) if value == _STAGE_SLOT]
            if len(slots) != 1:  # cannot tell where the stage went: compile each, as usual
                return {stage: board_column_cards(queryset, stage, limit=limit, make=make)
                        for stage in stages}
            compiled = _Compiled(sql, tuple(params), slots[0], compiler, qs.db)
        _compiled_put(key, compiled)
    if compiled is _MATCHES_NOTHING:
        return {stage: [] for stage in stages}
    sql, params, slot, compiler, db = compiled
    values = []
    for stage in stages:
        values += (*params[:slot], stage, *params[slot + 1 :])
    # Each page in a derived table: SQLite allows ORDER BY and LIMIT in a compound
    # statement's parts only there, Postgres in either form.
    union = " UNION ALL ".join([f"SELECT * FROM ({sql}) AS page{i}"  # noqa: S608 (ours)
                                for i in range(len(stages))])
    with connections[db].cursor() as cursor:
        if connections[db].vendor == "postgresql":
            _fast_timestamps(cursor.cursor)
        cursor.execute(union, values)
        rows = compiler.results_iter(results=[cursor.fetchall()], tuple_expected=True)
    by_stage = {stage: [] for stage in stages}
    for row in rows:
        by_stage[row[STAGE_COLUMN]].append(row)
    pages = {}
    for stage, stage_rows in by_stage.items():
        stage_rows.sort(key=lambda row: (row[SCORE_COLUMN], row[0]), reverse=True)
        pages[stage] = [make(row) for row in stage_rows]
    return pages


def _fast_timestamps(cursor) -> None:
    """Read this cursor's timestamptz columns with psycopg's own loader (its C version),
    not Django's Python subclass of it: three timestamps a card made that subclass a
    third of the board's query time. Both give aware datetimes in the connection's time
    zone, which Django sets to UTC."""
    from psycopg.types.datetime import TimestamptzLoader

    cursor.adapters.register_loader("timestamptz", TimestamptzLoader)


def board_column_totals(queryset: QuerySet[Lead]) -> dict[str, dict]:
    """Per stage: how many leads and the sum of their deal values. Two grouped queries:
    the count alone is an index-only scan of (stage, score, id); joining every lead to
    its deal for the sum made it 40 % slower on 100,000 leads, and only the leads that
    have a deal value need that join."""
    counts = queryset.order_by().values("stage").annotate(n=Count("id"))
    # From the leads' side, joined to deals that have a value: the filters apply to the
    # leads once (a "deal's lead IN (the filtered leads)" subquery read all of them a
    # second time, 60–95 ms on 100,000).
    sums = (
        queryset.filter(deal__value__isnull=False).order_by()
        .values("stage").annotate(total=Sum("deal__value"))
    )
    totals = {row["stage"]: row["total"] for row in sums}
    return {row["stage"]: {"count": row["n"], "total": totals.get(row["stage"]) or 0}
            for row in counts}


BOARD_VERSION_KEY = "pipeline:board-version"
BOARD_TOTALS_SECONDS = 5


def board_changed() -> None:
    """Stage or deal values changed: cached column totals are out of date. Runs after
    the change committed; with the cache down it only says so (the totals it could not
    drop expire within BOARD_TOTALS_SECONDS)."""
    try:
        try:
            cache.incr(BOARD_VERSION_KEY)
        except ValueError:  # not set yet (or evicted)
            cache.set(BOARD_VERSION_KEY, 1, timeout=None)
    except CACHE_ERRORS as exc:
        logger.warning("Board totals not marked out of date: %s", exc)


def board_column_totals_cached(queryset: QuerySet[Lead], key: str) -> dict[str, dict]:
    """board_column_totals, kept for a few seconds per filter set (``key``).

    The totals scan every matching lead (20–30 ms on 100,000), the rest of a board
    request reads a few hundred rows by index. Every stage move and deal change bumps a
    version, so a rep sees their own move counted at once; leads arriving from forms
    show up in the counts within BOARD_TOTALS_SECONDS."""
    try:
        version = cache.get_or_set(BOARD_VERSION_KEY, 1, timeout=None)
    except CACHE_ERRORS as exc:  # the cache is down: count every time
        logger.warning("Board totals cache unavailable: %s", exc)
        return board_column_totals(queryset)
    full_key = f"pipeline:board-totals:{version}:{key}"
    totals = cache_get(full_key)
    if totals is None:
        totals = board_column_totals(queryset)
        cache_set(full_key, totals, BOARD_TOTALS_SECONDS)
    return totals
