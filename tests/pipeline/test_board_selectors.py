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
    return {stage: ([card.as_json() for card in cards], cursor)
            for stage, (cards, cursor) in pages.items()}


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
    assert any(cards for cards, _ in at_once.values()) or params  # not vacuous unfiltered
    if not params:
        assert at_once[Stage.LEAD][1] is not None  # more than a page: a cursor


def test_first_pages_of_filters_that_match_nothing_are_empty(rep):
    LeadFactory(stage=Stage.MQL)
    leads = board_filter(user=rep, params={"q": "no such lead anywhere"}).qs.none()
    pages = first_pages(leads, ALL_STAGES, maker=CardMaker())
    assert pages == {stage: ([], None) for stage in ALL_STAGES}
