"""/board/: the read-only pipeline overview: counts, top cards per stage, and a query
count that does not grow with the number of leads."""

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from capture.models import Stage
from tests.factories import LeadFactory, SalesRepFactory

URL = reverse("pipeline:board")


def column(response, stage: str) -> dict:
    if stage == Stage.DISQUALIFIED:
        return response.context["disqualified"]
    return next(c for c in response.context["columns"] if c["stage"] == stage)


def test_it_counts_the_leads_in_each_stage(client, rep):
    LeadFactory.create_batch(3, stage=Stage.LEAD)
    LeadFactory.create_batch(2, stage=Stage.MQL)
    LeadFactory(stage=Stage.CUSTOMER)
    LeadFactory.create_batch(4, stage=Stage.DISQUALIFIED)
    client.force_login(rep)
    response = client.get(URL)
    assert response.status_code == 200
    assert [c["stage"] for c in response.context["columns"]] == [
        "lead", "mql", "sql", "opportunity", "customer"]
    counts = {s: column(response, s)["count"] for s in Stage.values}
    assert counts == {"lead": 3, "mql": 2, "sql": 0, "opportunity": 0, "customer": 1,
                      "disqualified": 4}
    assert "10 leads" in response.content.decode()


def test_it_shows_the_ten_highest_scoring_leads_of_a_stage_as_cards(client, rep):
    for score in range(12):
        LeadFactory(stage=Stage.MQL, score=score * 10, first_name=f"Mql{score}",
                    company="Acme", grade="B", owner=rep)
    client.force_login(rep)
    response = client.get(URL)
    cards = column(response, Stage.MQL)["leads"]
    assert [lead.score for lead in cards] == [110, 100, 90, 80, 70, 60, 50, 40, 30, 20]
    html = response.content.decode()
    top = cards[0]
    card = html.split(f'href="{reverse("pipeline:lead_detail", args=[top.pk])}"')[1]
    card = card.split("</a>")[0]
    for text in (top.full_name, "Acme", "110", "grade-B", "Sam Seller"):
        assert text in card, text
    assert "Mql1 " not in html and "Mql0 " not in html  # the bottom two are not shown
    assert 'href="/leads/?stage=mql"' in html


def test_it_keeps_disqualified_leads_folded_away(client, rep):
    LeadFactory(stage=Stage.DISQUALIFIED, first_name="Dora")
    client.force_login(rep)
    html = client.get(URL).content.decode()
    details = html.split('<details class="card mt-3 board-disqualified"')[1].split("</details>")[0]
    assert "Dora" in details
    assert 'href="/leads/?stage=disqualified"' in details


def test_it_escapes_lead_names_on_cards(client, rep):
    LeadFactory(stage=Stage.LEAD, first_name="<script>alert(1)</script>")
    client.force_login(rep)
    html = client.get(URL).content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_it_forbids_users_without_a_role(client, outsider):
    client.force_login(outsider)
    assert client.get(URL).status_code == 403


def _board_queries(client, per_stage: int) -> int:
    owners = SalesRepFactory.create_batch(3)
    for stage in Stage.values:
        for i in range(per_stage):
            LeadFactory(stage=stage, owner=owners[i % 3], score=i)
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(URL).status_code == 200
    return len(ctx.captured_queries)


def test_it_runs_as_many_queries_for_many_leads_as_for_few(client, rep):
    client.force_login(rep)
    client.get(URL)  # warm per-process caches
    few = _board_queries(client, 1)
    many = _board_queries(client, 15)
    assert few == many
