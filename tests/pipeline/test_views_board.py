"""/board/: columns with counts and deal sums, 50 cards per column and more on scroll
(per-column keyset cursors), filters kept in the URL, and a query count that does not
grow with the number of leads."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from capture.models import Stage
from pipeline.models import PipelineSettings, StageLimit
from tests.factories import (
    DealFactory,
    FormFactory,
    LeadFactory,
    SalesRepFactory,
    SubmissionFactory,
)

URL = reverse("pipeline:board")


def column(response, stage: str) -> dict:
    if stage == Stage.DISQUALIFIED:
        return response.context["disqualified"]
    return next(c for c in response.context["columns"] if c["stage"] == stage)


def card_ids(response, stage: str) -> list[int]:
    return [card.lead.pk for card in column(response, stage)["cards"]]


def test_it_counts_the_leads_and_sums_deal_values_in_each_stage(client, rep):
    LeadFactory.create_batch(3, stage=Stage.LEAD)
    for value in (1000, 2500):
        DealFactory(lead=LeadFactory(stage=Stage.MQL), value=Decimal(value))
    LeadFactory(stage=Stage.MQL)  # no deal row at all
    LeadFactory(stage=Stage.CUSTOMER)
    LeadFactory.create_batch(4, stage=Stage.DISQUALIFIED)
    client.force_login(rep)
    response = client.get(URL)
    assert response.status_code == 200
    assert [c["stage"] for c in response.context["columns"]] == [
        "lead", "mql", "sql", "opportunity", "customer"]
    counts = {s: column(response, s)["count"] for s in Stage.values}
    assert counts == {"lead": 3, "mql": 3, "sql": 0, "opportunity": 0, "customer": 1,
                      "disqualified": 4}
    assert column(response, Stage.MQL)["deal_total"] == "3,500"
    assert "11 leads" in response.content.decode()


def test_a_card_shows_name_company_score_grade_owner_time_in_stage_and_deal(client, rep):
    lead = LeadFactory(stage=Stage.SQL, score=110, first_name="Ann", last_name="Lee",
                       company="Acme", grade="B", owner=rep,
                       stage_changed_at=timezone.now() - timedelta(days=3))
    DealFactory(lead=lead, value=Decimal("12500"))
    client.force_login(rep)
    html = client.get(URL).content.decode()
    card = html.split(f'data-lead="{lead.pk}"')[1].split("</article>")[0]
    for text in ("Ann Lee", "Acme", "110", "grade-B", "Sam Seller", "3d", "12,500",
                 reverse("pipeline:lead_detail", args=[lead.pk])):
        assert text in card, text


def test_it_marks_cards_that_sat_in_a_stage_past_its_limit(client, rep):
    StageLimit.objects.create(stage=Stage.SQL, stale_after_days=5)
    old = LeadFactory(stage=Stage.SQL, stage_changed_at=timezone.now() - timedelta(days=6))
    new = LeadFactory(stage=Stage.SQL, stage_changed_at=timezone.now() - timedelta(days=4))
    client.force_login(rep)
    cards = {c.lead.pk: c for c in column(client.get(URL), Stage.SQL)["cards"]}
    assert cards[old.pk].stale and not cards[new.pk].stale


def test_it_flags_an_mql_nobody_touched_within_the_sla(client, rep):
    PipelineSettings.objects.create(pk=1, sla_minutes=5)
    late = LeadFactory(stage=Stage.MQL, owner=rep,
                       stage_changed_at=timezone.now() - timedelta(minutes=6))
    touched = LeadFactory(stage=Stage.MQL, owner=rep,
                          stage_changed_at=timezone.now() - timedelta(minutes=6))
    DealFactory(lead=touched, first_touch_at=timezone.now())
    fresh = LeadFactory(stage=Stage.MQL, owner=rep)
    client.force_login(rep)
    response = client.get(URL)
    cards = {c.lead.pk: c for c in column(response, Stage.MQL)["cards"]}
    assert cards[late.pk].sla_breach
    assert not cards[touched.pk].sla_breach and not cards[fresh.pk].sla_breach
    assert 'data-testid="sla-breach"' in response.content.decode()


def test_each_column_shows_its_first_50_cards_by_score_and_pages_the_rest(client, rep):
    leads = [LeadFactory(stage=Stage.MQL, score=i) for i in range(120)]
    client.force_login(rep)
    response = client.get(URL)
    first = card_ids(response, Stage.MQL)
    assert first == [lead.pk for lead in reversed(leads)][:50]
    next_url = column(response, Stage.MQL)["next_url"]
    assert next_url.startswith(reverse("pipeline:board_column", args=["mql"]))
    seen = list(first)
    while next_url:
        page = client.get(next_url, headers={"HX-Request": "true"})
        assert page.status_code == 200
        seen += [card.lead.pk for card in page.context["cards"]]
        next_url = page.context["next_url"]
    assert seen == [lead.pk for lead in reversed(leads)]


def test_column_pages_keep_the_filters(client, rep):
    for i in range(60):
        LeadFactory(stage=Stage.LEAD, score=i, grade="A" if i % 2 else "C")
    client.force_login(rep)
    response = client.get(URL, {"grade": "A"})
    assert column(response, Stage.LEAD)["count"] == 30
    assert column(response, Stage.LEAD)["next_url"] == ""  # 30 < 50
    response = client.get(URL, {"score_min": "0"})
    next_url = column(response, Stage.LEAD)["next_url"]
    assert "score_min=0" in next_url
    page = client.get(next_url + "&grade=A")
    assert all(card.lead.grade == "A" for card in page.context["cards"])


def test_disqualified_is_folded_away_and_loads_when_opened(client, rep):
    dora = LeadFactory(stage=Stage.DISQUALIFIED, first_name="Dora")
    client.force_login(rep)
    response = client.get(URL)
    html = response.content.decode()
    details = html.split('<details class="card mt-3 board-disqualified"')[1].split("</details>")[0]
    assert "Dora" not in details  # not loaded until opened
    url = reverse("pipeline:board_column", args=["disqualified"])
    assert f'hx-get="{url}"' in details
    assert dora.pk in [c.lead.pk for c in client.get(url).context["cards"]]


def test_a_bad_cursor_or_stage_is_a_400(client, rep):
    client.force_login(rep)
    assert client.get(reverse("pipeline:board_column", args=["mql"]), {"cursor": "x"}
                      ).status_code == 400
    assert client.get(reverse("pipeline:board_column", args=["mql"]), {"cursor": "1_²"}
                      ).status_code == 400
    assert client.get(reverse("pipeline:board_column", args=["nope"])).status_code == 400


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"owner": "me"}, {"mine"}),
        ({"owner": "none"}, {"nobody", "campaign", "formed", "old"}),
        ({"grade": "A"}, {"mine"}),
        ({"score_min": "50", "score_max": "80"}, {"mine"}),
        ({"campaign": "spring"}, {"campaign"}),
        ({"source": "webinar"}, {"other"}),
        ({"created": "7d"}, {"mine", "nobody", "campaign", "formed", "other"}),
        ({"q": "Zed"}, {"formed"}),
    ],
)
def test_filters_narrow_every_column(client, rep, params, expected):
    other_rep = SalesRepFactory()
    leads = {
        "mine": LeadFactory(owner=rep, grade="A", score=60, stage=Stage.MQL),
        "nobody": LeadFactory(score=10, stage=Stage.LEAD),
        "campaign": LeadFactory(first_utm_campaign="spring", stage=Stage.SQL),
        "formed": LeadFactory(first_name="Zed", stage=Stage.LEAD),
        "other": LeadFactory(owner=other_rep, source="webinar", stage=Stage.OPPORTUNITY),
        "old": LeadFactory(created_at=timezone.now() - timedelta(days=30)),
    }
    client.force_login(rep)
    response = client.get(URL, params)
    shown = {pk for stage in Stage.values if stage != Stage.DISQUALIFIED
             for pk in card_ids(response, stage)}
    assert shown == {leads[name].pk for name in expected}
    # The filters stay in the form, so the URL can be shared and survives a reload.
    for value in params.values():
        assert f'value="{value}"' in response.content.decode()


def test_the_form_filter_finds_leads_that_submitted_it(client, rep):
    form = FormFactory()
    submitted = LeadFactory()
    SubmissionFactory(form=form, lead=submitted)
    LeadFactory()
    client.force_login(rep)
    response = client.get(URL, {"form": form.pk})
    assert card_ids(response, Stage.LEAD) == [submitted.pk]


def test_an_invalid_filter_is_ignored_with_a_warning(client, rep):
    LeadFactory()
    client.force_login(rep)
    response = client.get(URL, {"score_min": "lots"})
    assert response.status_code == 200
    assert column(response, Stage.LEAD)["count"] == 1
    assert "Score from" in response.content.decode()


def test_it_escapes_lead_names_on_cards(client, rep):
    LeadFactory(stage=Stage.LEAD, first_name="<script>alert(1)</script>",
                company="<img src=x onerror=alert(2)>")
    client.force_login(rep)
    html = client.get(URL).content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_it_escapes_quotes_in_card_attributes(client, rep, admin_user):
    owner = SalesRepFactory(first_name='Eve" onclick="alert(3)')
    LeadFactory(stage=Stage.MQL, last_name='x" autofocus onfocus="alert(4)', owner=owner,
                company="A&B's")
    client.force_login(rep)
    for response in (client.get(URL), client.get(reverse("pipeline:board_column",
                                                          args=["mql"]))):
        html = response.content.decode()
        assert 'onfocus="alert' not in html and 'onclick="alert' not in html
        assert "x&quot; autofocus onfocus=&quot;alert(4)" in html
        assert "A&amp;B&#x27;s" in html


def test_it_forbids_users_without_a_role(client, outsider):
    client.force_login(outsider)
    assert client.get(URL).status_code == 403


def test_marketers_see_the_board_without_move_controls(client, marketer):
    LeadFactory(stage=Stage.MQL)
    client.force_login(marketer)
    html = client.get(URL).content.decode()
    assert 'data-can-move="0"' in html
    assert "data-move-open" not in html


def _make_leads(per_stage: int) -> None:
    owners = SalesRepFactory.create_batch(3)
    for stage in Stage.values:
        for i in range(per_stage):
            lead = LeadFactory(stage=stage, owner=owners[i % 3], score=i)
            if i % 2:
                DealFactory(lead=lead, value=Decimal(100 * i))


def test_the_query_count_does_not_grow_with_the_number_of_leads(
    client, rep, django_assert_max_num_queries
):
    client.force_login(rep)
    client.get(URL)  # warm per-process caches
    _make_leads(2)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as few:
        client.get(URL)
    _make_leads(60)  # past a page of 50 in every column
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(URL)
    assert len(column(response, Stage.LEAD)["cards"]) == 50
    with django_assert_max_num_queries(8):
        client.get(column(response, Stage.LEAD)["next_url"])
