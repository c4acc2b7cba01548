"""The board's first pages come from one query compiled once and run per stage: they
must be exactly what the per-column query gives, whatever the filters."""

from decimal import Decimal

import pytest
from django.test.client import RequestFactory

from capture.models import Stage
from pipeline.board import ALL_STAGES, CardMaker, column_page, first_pages
from pipeline.selectors import board_filter
from tests.factories import DealFactory, FormFactory, LeadFactory, SalesRepFactory

pytestmark = pytest.mark.django_db


def cards_json(pages):
    return {stage: ([card_fields(card) for card in cards], cursor)
            for stage, (cards, cursor) in pages.items()}


def card_fields(card) -> dict:
    """What a Card (the HTML board's) says, in the API's terms."""
    lead = card.lead
    return {"id": lead.pk, "name": card.name, "email": lead.email, "company": lead.company,
            "score": lead.score, "grade": lead.grade, "stage": lead.stage,
            "owner": lead.owner_id, "owner_name": card.owner_name,
            "stage_changed_at": lead.stage_changed_at.isoformat(),
            "last_activity_at": lead.last_activity_at.isoformat(),
            "deal_value": str(card.deal_value) if card.deal_value is not None else None,
            "stale": card.stale, "sla_breach": card.sla_breach}


@pytest.mark.parametrize("params", [
    {},
    {"owner": "me"},
    {"q": "acme", "grade": "A"},
    {"stage": "mql"},
    {"score_min": "10", "score_max": "60", "form": "FORM"},
    {"owner": "none", "created": "30d"},
])
def test_first_pages_match_the_per_column_query_for_any_filters(rep, params):
    form = FormFactory()
    other = SalesRepFactory(first_name="Olga", last_name="")
    for i in range(40):
        lead = LeadFactory(
            stage=ALL_STAGES[i % len(ALL_STAGES)], score=i * 3 % 70,
            grade="A" if i % 3 else "B", company="Acme" if i % 2 else "Globex",
            owner=(rep, other, None)[i % 3],
        )
        if i % 4 == 0:
            DealFactory(lead=lead, value=Decimal("1200.50"))
        if i % 5 == 0:
            lead.submissions.create(form=form, data={"email": lead.email})
    params = {k: (str(form.pk) if v == "FORM" else v) for k, v in params.items()}
    request = RequestFactory().get("/board/", params)
    request.user = rep
    leads = board_filter(user=rep, params=request.GET, request=request).qs
    maker = CardMaker()

    at_once = first_pages(leads, ALL_STAGES, maker=maker, limit=3)
    one_by_one = {stage: column_page(leads, stage, maker=maker, limit=3) for stage in ALL_STAGES}

    assert cards_json(at_once) == cards_json(one_by_one)
    # The API's cards (dicts built straight from the rows) say what the HTML cards do.
    as_json = first_pages(leads, ALL_STAGES, maker=maker, limit=3, as_json=True)
    assert as_json == cards_json(at_once)
    assert as_json == {stage: column_page(leads, stage, maker=maker, limit=3, as_json=True)
                       for stage in ALL_STAGES}
    assert any(cards for cards, _ in at_once.values()) or params  # not vacuous unfiltered
    if not params:
        assert at_once[Stage.LEAD][1] is not None  # more than a page: a cursor


def test_first_pages_of_filters_that_match_nothing_are_empty(rep):
    LeadFactory(stage=Stage.MQL)
    leads = board_filter(user=rep, params={"q": "no such lead anywhere"}).qs.none()
    pages = first_pages(leads, ALL_STAGES, maker=CardMaker())
    assert pages == {stage: ([], None) for stage in ALL_STAGES}


def test_stale_and_speed_to_lead_flags_agree_between_cards_and_their_json(rep):
    from datetime import timedelta

    from django.utils import timezone

    from pipeline.models import PipelineSettings, StageLimit

    StageLimit.objects.create(stage=Stage.SQL, stale_after_days=5)
    PipelineSettings.objects.create(pk=1, sla_minutes=5)
    old = timezone.now() - timedelta(days=6)
    stale = LeadFactory(stage=Stage.SQL, stage_changed_at=old, owner=rep)
    breach = LeadFactory(stage=Stage.MQL, stage_changed_at=old, owner=rep)
    fresh = LeadFactory(stage=Stage.SQL, owner=rep)
    leads = board_filter(user=rep, params={}).qs
    maker = CardMaker()

    pages = first_pages(leads, ALL_STAGES, maker=maker, as_json=True)

    flags = {card["id"]: (card["stale"], card["sla_breach"])
             for cards, _ in pages.values() for card in cards}
    assert flags[stale.pk] == (True, False)
    assert flags[breach.pk] == (True, True)  # 6 days: past the MQL default of 2 too
    assert flags[fresh.pk] == (False, False)
    assert pages == cards_json(first_pages(leads, ALL_STAGES, maker=maker))


def test_a_changed_stage_limit_or_sla_reaches_the_next_board_at_once(rep):
    """The limits and the SLA are cached for every card; saving either drops them."""
    from datetime import timedelta

    from django.utils import timezone

    from pipeline.models import PipelineSettings, StageLimit

    lead = LeadFactory(stage=Stage.MQL, owner=rep,
                       stage_changed_at=timezone.now() - timedelta(days=1, minutes=1))
    leads = board_filter(user=rep, params={}).qs

    def flags():
        card = first_pages(leads, [Stage.MQL], maker=CardMaker(), as_json=True)[Stage.MQL][0][0]
        assert card["id"] == lead.pk
        return card["stale"], card["sla_breach"]

    settings = PipelineSettings.load()
    settings.sla_minutes = 60 * 48
    settings.save()
    assert flags() == (False, False)  # 2 days: neither stale nor breached; now cached
    limit = StageLimit.objects.create(stage=Stage.MQL, stale_after_days=1)
    assert flags() == (True, False)
    settings.sla_minutes = 60
    settings.save()
    assert flags() == (True, True)
    limit.delete()
    assert flags() == (False, True)  # the default MQL limit (2 days) is back: not stale


def test_each_filter_set_has_filters_of_its_own_bound_to_it(rep):
    """capture.segments copies a FilterSet's filters shallowly (not django-filter's deep
    copy): each filter set's filters, and the methods they call, must still be its own."""
    request = RequestFactory().get("/board/")
    request.user = rep
    first = board_filter(user=rep, params={"owner": "me", "q": "acme"}, request=request)
    second = board_filter(user=rep, params={"owner": "none"}, request=request)
    for name in ("owner", "q", "grade", "form", "created"):
        a, b = first.filters[name], second.filters[name]
        assert a is not b and a is not type(first).base_filters[name]
        assert (a.parent, b.parent) == (first, second)
        assert a.filter.f is a and b.filter.f is b  # FilterMethod bound to its own copy
    mine = LeadFactory(owner=rep, company="Acme")
    LeadFactory(owner=None, company="Acme")
    assert list(first.qs) == [mine]
    assert [lead.owner_id for lead in second.qs] == [None]
    assert first.form is not second.form
    assert type(first.form) is type(second.form)  # one form class per FilterSet class


@pytest.mark.parametrize("params", [{}, {"owner": "me", "grade": ["A", "B"]}, {"q": "acme"},
                                    {"form": "FORM", "score_min": "5"}])
def test_a_reused_first_pages_statement_gives_what_a_fresh_one_does(rep, params):
    from django.http import QueryDict

    from pipeline.selectors import board_sql_key

    form = FormFactory()
    for i in range(12):
        lead = LeadFactory(stage=ALL_STAGES[i % 3], score=i, grade="AB"[i % 2],
                           company="Acme" if i % 2 else "Globex", owner=rep if i % 3 else None)
        lead.submissions.create(form=form, data={"email": lead.email})
    query = QueryDict(mutable=True)
    for k, v in params.items():
        for value in (v if isinstance(v, list) else [v]):
            query.appendlist(k, str(form.pk) if value == "FORM" else value)
    request = RequestFactory().get("/board/", query)
    request.user = rep
    key = board_sql_key(user=rep, params=request.GET)
    assert key is not None

    def pages(reuse):
        leads = board_filter(user=rep, params=request.GET, request=request).qs
        return first_pages(leads, ALL_STAGES, maker=CardMaker(), limit=2, as_json=True,
                           reuse=reuse)

    fresh = pages(None)
    assert pages(key) == fresh  # compiled and kept
    LeadFactory(stage=ALL_STAGES[0], score=100, grade="A", company="Acme", owner=rep)
    again = pages(key)  # the kept statement, new data
    assert again == pages(None)
    assert again != fresh or params.get("form")  # the new lead shows unless filtered out


def test_the_reuse_key_separates_users_and_leaves_out_clock_filters(rep):
    from django.http import QueryDict

    from pipeline.selectors import board_sql_key

    other = SalesRepFactory()
    mine = board_sql_key(user=rep, params=QueryDict("owner=me"))
    assert mine != board_sql_key(user=other, params=QueryDict("owner=me"))
    assert mine == board_sql_key(user=rep, params=QueryDict("owner=me&column=lead&cursor=1_2"))
    assert mine != board_sql_key(user=rep, params=QueryDict("owner=none"))
    assert board_sql_key(user=rep, params=QueryDict("created=30d")) is None


def test_cards_are_made_with_the_cache_down(rep, settings):
    """The stage limits and SLA then come from the database."""
    from pipeline.models import StageLimit

    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                   "LOCATION": "redis://127.0.0.1:1/0"}}
    StageLimit.objects.create(stage=Stage.SQL, stale_after_days=3)  # its drop fails: logged
    maker = CardMaker()
    assert maker.limits[Stage.SQL].days == 3
