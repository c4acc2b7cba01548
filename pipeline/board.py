"""What the board shows, shared by the HTML board (views/board.py) and /api/v1/board/:
columns, per-column keyset cursors, cards with their stale and speed-to-lead flags."""

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from html import escape

from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import mark_safe

from capture.cache import cache_delete, cache_get, cache_set
from capture.models import Lead, Stage
from pipeline.models import Deal, PipelineSettings, StageLimit
from pipeline.selectors import (
    CardLead,
    board_column_cards,
    board_column_totals,
    board_column_totals_cached,
    board_columns_first_cards,
)
from pipeline.services import ALLOWED_TRANSITIONS, REASON_REQUIRED, REASON_REQUIRED_TO

CARDS_PER_COLUMN = 50
OPEN_STAGES = (Stage.LEAD, Stage.MQL, Stage.SQL, Stage.OPPORTUNITY, Stage.CUSTOMER)
ALL_STAGES = (*OPEN_STAGES, Stage.DISQUALIFIED)
# Until an admin sets a StageLimit, a card goes stale after this many days in its stage.
DEFAULT_STALE_DAYS = {Stage.LEAD: 30, Stage.MQL: 2, Stage.SQL: 14, Stage.OPPORTUNITY: 30}


CENTS = Decimal("0.01")


def esc(value) -> str:
    """HTML-escape (quotes too), as Django's escape does, without its lazy-text wrapper."""
    return escape(str(value), quote=True)



class BadCursor(ValueError):
    pass


def cursor_encode(lead: "Lead | CardLead | Card | dict") -> str:
    """The cursor after ``lead``: a lead, a Card, or a card as JSON (CardMaker.row_json)."""
    if isinstance(lead, dict):
        return f"{lead['score']}_{lead['id']}"
    if isinstance(lead, Card):
        lead = lead.lead
    return f"{lead.score}_{lead.pk}"


def cursor_decode(raw: str | None) -> tuple[int, int] | None:
    """``"<score>_<id>"`` of the last card shown, or None for the first page."""
    if not raw:
        return None
    score, sep, pk = raw.partition("_")
    try:
        if not sep or not pk.isascii() or not pk.isdigit():
            raise ValueError
        score_i, pk_i = int(score), int(pk)
    except ValueError:
        raise BadCursor("Invalid cursor.") from None
    if not (-(2**31) <= score_i < 2**31 and pk_i < 2**63):
        raise BadCursor("Invalid cursor.")
    return score_i, pk_i


def stale_limits() -> dict[str, int]:
    limits = dict(DEFAULT_STALE_DAYS)
    limits.update(StageLimit.objects.values_list("stage", "stale_after_days"))
    return limits


BOARD_SETTINGS_KEY = "pipeline:board-settings"
BOARD_SETTINGS_SECONDS = 60


def board_settings() -> tuple[dict[str, int], int]:
    """(stale limits per stage, speed-to-lead SLA in minutes), what every card needs,
    through the cache: two queries per board request were a tenth of its time. Saving
    or deleting a StageLimit or the PipelineSettings drops the entry (pipeline.apps);
    the timeout bounds a cache that missed that (another process's local memory)."""
    cached = cache_get(BOARD_SETTINGS_KEY)  # None also when the cache is down
    if cached is None:
        cached = (stale_limits(), PipelineSettings.load().sla_minutes)
        cache_set(BOARD_SETTINGS_KEY, cached, BOARD_SETTINGS_SECONDS)
    return cached


def board_settings_changed(**kwargs) -> None:
    cache_delete(BOARD_SETTINGS_KEY)  # cache down: the entry expires within the timeout


def short_duration(delta: timedelta) -> str:
    seconds = max(int(delta.total_seconds()), 0)
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 86400:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


def format_money(value) -> str:
    value = Decimal(value or 0)
    return f"{value:,.0f}"


@dataclass
class Card:
    """One lead as the board shows it: what the card prints, worked out once."""

    lead: "Lead | CardLead"
    in_stage: str
    stale: bool
    sla_breach: bool
    deal_value: Decimal | None
    allowed: list[tuple[str, str]]
    name: str = ""
    owner_name: str = ""
    last_activity: str = ""
    deal_display: str = ""
    allowed_values: str = ""
    detail_url: str = ""
    move_url: str = ""
    can_move: bool = False

    def __post_init__(self):
        lead = self.lead
        self.name = lead.full_name or lead.email
        self.owner_name = lead.owner.display_name if lead.owner_id else ""
        self.deal_display = format_money(self.deal_value) if self.deal_value is not None else ""
        self.allowed_values = " ".join(value for value, _ in self.allowed)

    @property
    def markup(self) -> str:
        return self.html(can_move=self.can_move)

    def html(self, *, can_move: bool, fresh: bool = False) -> str:
        """The card's markup, every value escaped. Built here rather than by a template
        (or format_html): the board renders 250 cards per page, and those cost 0.4 and
        0.1 ms a card against a few microseconds for this."""
        lead = self.lead
        name = esc(self.name)
        classes = "card lead-card board-card" + "".join(
            cls for flag, cls in ((self.stale, " is-stale"), (self.sla_breach, " is-sla-breach"),
                                  (fresh, " is-fresh")) if flag
        )
        if lead.grade:
            grade = esc(lead.grade)
            grade = (f'<span class="badge grade-badge grade-{grade}" title="Grade {grade}">'
                     f"{grade}</span>")
        else:
            grade = '<span class="text-body-secondary" title="No grade">–</span>'
        if self.owner_name:
            owner = (f'<span class="text-nowrap"><i class="bi bi-person" aria-hidden="true"></i> '
                     f"{esc(self.owner_name)}</span>")
        else:
            owner = '<span class="text-body-secondary">Unassigned</span>'
        badges = ""
        if self.deal_display:
            badges += (f'<span class="badge text-bg-light border" title="Deal value" '
                       f'data-testid="deal-value">{esc(self.deal_display)}</span>')
        if self.stale:
            badges += '<span class="badge text-bg-warning" data-testid="stale">Going stale</span>'
        if self.sla_breach:
            badges += ('<span class="badge text-bg-danger" data-testid="sla-breach" title="No '
                       'one has touched this MQL within the speed-to-lead SLA">SLA breached'
                       "</span>")
        if can_move and self.allowed_values:
            badges += ('<button type="button" class="btn btn-sm btn-link ms-auto p-0 '
                       'board-move-btn" data-move-open aria-haspopup="dialog" title="Move to '
                       'another stage (or press M)"><i class="bi bi-arrow-left-right" '
                       f'aria-hidden="true"></i> Move<span class="visually-hidden"> {name}'
                       "</span></button>")
        label = f"{name}, {esc(lead.company)}" if lead.company else name
        return mark_safe(  # every interpolated value is escaped above
            f'<article class="{classes}" tabindex="0" data-testid="board-card" '
            f'data-lead="{lead.pk}" data-stage="{esc(lead.stage)}" data-name="{name}" '
            f'data-allowed="{esc(self.allowed_values)}" data-move-url="{esc(self.move_url)}" '
            f'aria-label="{label}"><div class="card-body p-2">'
            '<div class="d-flex align-items-start gap-2"><div class="flex-grow-1 text-truncate">'
            f'<a class="fw-semibold text-truncate d-block" href="{esc(self.detail_url)}" '
            f'tabindex="-1">{name}</a><div class="small text-body-secondary text-truncate">'
            f'{esc(lead.company) or "—"}</div></div>{grade}</div>'
            '<div class="d-flex justify-content-between small mt-1"><span title="Score">'
            f'<i class="bi bi-speedometer2" aria-hidden="true"></i> {int(lead.score)}</span>'
            f'<span class="text-truncate ms-2">{owner}</span></div>'
            '<div class="d-flex flex-wrap justify-content-between gap-1 small '
            'text-body-secondary mt-1"><span title="Time in stage" data-testid="time-in-stage">'
            f'<i class="bi bi-hourglass-split" aria-hidden="true"></i> {self.in_stage}</span>'
            '<span title="Last activity"><i class="bi bi-activity" aria-hidden="true"></i> '
            f"{self.last_activity}</span></div>"
            f'<div class="d-flex flex-wrap align-items-center gap-1 mt-1">{badges}</div>'
            "</div></article>"
        )



class CardMaker:
    """Turns leads into cards; reads the stage limits and the SLA once per request."""

    def __init__(self, now: datetime | None = None, *, can_move: bool = False):
        self.now = now or timezone.now()
        self.can_move = can_move
        # "/leads/": cards build their two links from it; reversing 500 URLs per board
        # page cost more than its queries.
        self.lead_url = reverse("pipeline:lead_list")
        limits, sla_minutes = board_settings()
        self.limits = {stage: timedelta(days=days) for stage, days in limits.items()}
        self.sla = timedelta(minutes=sla_minutes)
        self.allowed = {
            stage: [(s, Stage(s).label) for s in ALL_STAGES if s in ALLOWED_TRANSITIONS[stage]]
            for stage in ALL_STAGES
        }

    def _flags(self, lead: "Lead | CardLead") -> tuple[timedelta, bool, bool, Decimal | None]:
        """(time in stage, going stale, speed-to-lead breached, deal value)."""
        in_stage = self.now - lead.stage_changed_at
        limit = self.limits.get(lead.stage)
        try:
            deal = lead.deal  # a CardLead's (board_column_cards), or a Lead's row
        except Deal.DoesNotExist:
            deal = None
        untouched = deal is None or deal.first_touch_at is None
        return (in_stage, limit is not None and in_stage > limit,
                lead.stage == Stage.MQL and untouched and in_stage > self.sla,
                deal.value if deal else None)

    def row_json(self, row: tuple) -> dict:
        """A card as the API gives it (what Card shows, in the API's terms), straight
        from a row of BOARD_CARD_FIELDS: no CardLead, owner or deal objects in between
        (the API builds 300 cards per request). tests/pipeline/test_board_selectors.py
        checks it says what the HTML board's cards do."""
        (pk, email, first_name, last_name, company, score, grade, stage, stage_changed_at,
         last_activity_at, owner_id, username, owner_first, owner_last, value,
         first_touch_at) = row
        in_stage = self.now - stage_changed_at
        limit = self.limits.get(stage)
        return {
            "id": pk,
            "name": f"{first_name} {last_name}".strip() or email,
            "email": email,
            "company": company,
            "score": score,
            "grade": grade,
            "stage": stage,
            "owner": owner_id,
            "owner_name": (f"{owner_first} {owner_last}".strip() or username)
            if owner_id is not None else "",
            "stage_changed_at": stage_changed_at.isoformat(),
            "last_activity_at": last_activity_at.isoformat(),
            "deal_value": str(value) if value is not None else None,
            "stale": limit is not None and in_stage > limit,
            "sla_breach": stage == Stage.MQL and first_touch_at is None and in_stage > self.sla,
        }

    def card(self, lead: "Lead | CardLead") -> Card:
        in_stage, stale, sla_breach, value = self._flags(lead)
        card = Card(
            lead=lead,
            in_stage=short_duration(in_stage),
            stale=stale,
            sla_breach=sla_breach,
            deal_value=value,
            allowed=self.allowed[lead.stage],
            can_move=self.can_move,
        )
        since = self.now - lead.last_activity_at
        card.last_activity = "just now" if since < timedelta(minutes=1) else (
            f"{short_duration(since)} ago")
        card.detail_url = f"{self.lead_url}{lead.pk}/"
        card.move_url = f"{self.lead_url}{lead.pk}/move/"
        return card


def column_page(queryset, stage: str, *, after=None, maker: CardMaker,
                limit: int = CARDS_PER_COLUMN, as_json: bool = False
                ) -> tuple[list, str | None]:
    """One page of a column's cards and the cursor of the next page (None at the end).
    The cards are Cards, or with ``as_json`` their dicts (CardMaker.card_json)."""
    cards = board_column_cards(queryset, stage, after=after, limit=limit,
                               make=maker.row_json if as_json else _card_of(maker))
    more = len(cards) > limit
    cards = cards[:limit]
    return cards, (cursor_encode(cards[-1]) if more else None)


def _card_of(maker: CardMaker):
    return lambda row: maker.card(CardLead(row))


def first_pages(queryset, stages, *, maker: CardMaker, limit: int = CARDS_PER_COLUMN,
                as_json: bool = False, reuse=None) -> dict[str, tuple[list, str | None]]:
    """column_page's first page for each of ``stages``, from one compiled query (kept
    for the next request when ``reuse`` is pipeline.selectors.board_sql_key's)."""
    make = maker.row_json if as_json else _card_of(maker)
    pages = {}
    for stage, cards in board_columns_first_cards(queryset, stages, limit=limit,
                                                  make=make, reuse=reuse).items():
        more = len(cards) > limit
        cards = cards[:limit]
        pages[stage] = (cards, cursor_encode(cards[-1]) if more else None)
    return pages


def totals_json(queryset, *, cache_key: str | None = None) -> dict[str, dict]:
    """Per stage: count and deal total. With ``cache_key`` (the filters, and the user
    where the filters depend on who asks), read through the short-lived totals cache."""
    if cache_key is None:
        totals = board_column_totals(queryset)
    else:
        totals = board_column_totals_cached(queryset, hashlib.sha256(
            cache_key.encode()).hexdigest())
    return {
        stage: {
            "count": totals.get(stage, {}).get("count", 0),
            "deal_total": str(Decimal(totals.get(stage, {}).get("total", 0)).quantize(CENTS)),
            "deal_total_display": format_money(totals.get(stage, {}).get("total", 0)),
        }
        for stage in ALL_STAGES
    }


def move_rules() -> dict:
    """For the board's script: which moves need a reason (the service decides anyway)."""
    return {
        "reasonRequired": [list(pair) for pair in sorted(REASON_REQUIRED)],
        "reasonRequiredTo": sorted(REASON_REQUIRED_TO),
    }
