"""With the cache (Redis) unreachable, sales work goes on: the API answers (its rate
limit fails open), a move is made and recorded, the board counts without its cache."""

import pytest

from capture.models import Stage
from pipeline.models import StageTransition
from tests.factories import DealFactory, LeadFactory

pytestmark = pytest.mark.django_db

# A Redis nobody listens on: every cache call fails at once (connection refused).
UNREACHABLE_REDIS = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                 "LOCATION": "redis://127.0.0.1:1/0"}}


@pytest.fixture
def cache_down(settings):
    settings.CACHES = UNREACHABLE_REDIS


def test_a_rep_moves_a_lead_and_reads_the_board_with_the_cache_down(
        api_client_for, rep, cache_down, caplog, django_capture_on_commit_callbacks):
    lead = LeadFactory(stage=Stage.MQL, owner=rep)
    DealFactory(lead=lead, value="1500.00")
    api = api_client_for(rep)

    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(f"/api/v1/leads/{lead.pk}/transitions/",
                            {"to": "sql", "reason": "Qualified on a call"})

    assert response.status_code == 201, response.content
    assert StageTransition.objects.get(lead=lead).to_stage == Stage.SQL
    board = api.get("/api/v1/board/")
    assert board.status_code == 200
    columns = {c["stage"]: c for c in board.json()["columns"]}
    assert columns["sql"]["count"] == 1 and columns["mql"]["count"] == 0
    assert columns["sql"]["deal_total"] == "1500.00"
    assert [card["id"] for card in columns["sql"]["results"]] == [lead.pk]
    for message in ("API rate limit not checked", "Board totals not marked out of date",
                    "Board totals cache unavailable", "Permission cache unavailable"):
        assert message in caplog.text


def test_the_board_page_renders_with_the_cache_down(client, rep, cache_down):
    LeadFactory(stage=Stage.LEAD, owner=rep, first_name="Ada", last_name="Lovelace")
    client.force_login(rep)
    response = client.get("/board/")
    assert response.status_code == 200
    assert "Ada Lovelace" in response.content.decode()
