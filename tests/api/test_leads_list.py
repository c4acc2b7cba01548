"""GET /api/v1/leads/: filters, search, ordering and keyset pagination."""

import base64
import json
from datetime import UTC, timedelta
from datetime import timezone as dt_timezone

import pytest
from django.utils import timezone

from capture.models import Grade, Lead, Stage
from tests.api.paths import LEADS_URL
from tests.factories import LeadFactory, UserFactory

pytestmark = pytest.mark.django_db


def emails(response) -> list[str]:
    return [row["email"] for row in response.json()["results"]]


def test_it_lists_leads_newest_first_with_the_contract_fields(marketer_api, rep):
    now = timezone.now()
    old = LeadFactory(email="old@example.com", created_at=now - timedelta(days=2))
    new = LeadFactory(email="new@example.com", created_at=now, owner=rep, grade=Grade.B)

    response = marketer_api.get(LEADS_URL)

    assert response.status_code == 200
    body = response.json()
    assert body["next"] is None and body["previous"] is None
    assert [row["id"] for row in body["results"]] == [new.pk, old.pk]
    row = body["results"][0]
    assert {
        "id", "email", "first_name", "last_name", "company", "job_title", "phone", "stage",
        "score", "grade", "owner", "created_at", "updated_at", "website", "country",
        "industry", "company_size", "attributes", "marketing_consent", "consent_at",
        "source", "first_touch", "last_touch", "stage_changed_at", "last_activity_at",
        "unsubscribed_at",
    } <= set(row)
    assert "stage_reason" not in row  # write-only
    assert row["owner"] == rep.pk
    assert row["grade"] == "B"
    assert body["results"][1]["owner"] is None
    assert body["results"][1]["grade"] == ""


def test_it_searches_every_word_in_name_email_and_company(marketer_api):
    LeadFactory(email="ann@acme.test", first_name="Ann", last_name="Lee", company="Acme")
    LeadFactory(email="ann@globex.test", first_name="Ann", last_name="Ray", company="Globex")
    LeadFactory(email="bob@acme.test", first_name="Bob", last_name="Stone", company="Acme")

    assert emails(marketer_api.get(LEADS_URL, {"q": "ann acme"})) == ["ann@acme.test"]
    assert sorted(emails(marketer_api.get(LEADS_URL, {"q": "ACME"}))) == [
        "ann@acme.test", "bob@acme.test"]
    assert emails(marketer_api.get(LEADS_URL, {"q": "globex.test"})) == ["ann@globex.test"]
    assert emails(marketer_api.get(LEADS_URL, {"q": "nobody"})) == []


def test_it_filters_by_several_stages(marketer_api):
    LeadFactory(email="mql@example.com", stage=Stage.MQL)
    LeadFactory(email="sql@example.com", stage=Stage.SQL)
    LeadFactory(email="lead@example.com", stage=Stage.LEAD)

    response = marketer_api.get(LEADS_URL, {"stage": ["mql", "sql"]})

    assert response.status_code == 200
    assert sorted(emails(response)) == ["mql@example.com", "sql@example.com"]


def test_it_filters_by_grade_including_ungraded(marketer_api):
    LeadFactory(email="a@example.com", grade=Grade.A)
    LeadFactory(email="c@example.com", grade=Grade.C)
    LeadFactory(email="none@example.com", grade="")

    assert emails(marketer_api.get(LEADS_URL, {"grade": "A"})) == ["a@example.com"]
    assert sorted(emails(marketer_api.get(LEADS_URL, {"grade": ["A", "none"]}))) == [
        "a@example.com", "none@example.com"]


def test_it_filters_by_owner_id_me_and_none(api_client_for, rep):
    other = UserFactory()
    LeadFactory(email="mine@example.com", owner=rep)
    LeadFactory(email="theirs@example.com", owner=other)
    LeadFactory(email="nobodys@example.com", owner=None)
    api = api_client_for(rep)

    assert emails(api.get(LEADS_URL, {"owner": "me"})) == ["mine@example.com"]
    assert emails(api.get(LEADS_URL, {"owner": str(other.pk)})) == ["theirs@example.com"]
    assert emails(api.get(LEADS_URL, {"owner": "none"})) == ["nobodys@example.com"]
    assert emails(api.get(LEADS_URL, {"owner": "somebody"})) == []


@pytest.mark.parametrize("owner", ["²", "9" * 20, "-1", "1.0"])
def test_it_treats_an_owner_that_is_no_user_id_as_no_match(marketer_api, owner):
    # "²".isdigit() is True but int("²") raises, and a 20-digit id overflows the
    # database's integer: both were 500s.
    LeadFactory(owner=None)

    response = marketer_api.get(LEADS_URL, {"owner": owner})

    assert response.status_code == 200
    assert response.json()["results"] == []


def test_it_filters_by_source_and_creation_time(marketer_api):
    now = timezone.now()
    LeadFactory(email="web@example.com", source="webinar", created_at=now - timedelta(days=10))
    LeadFactory(email="ads@example.com", source="adwords", created_at=now - timedelta(days=3))
    LeadFactory(email="new@example.com", source="adwords", created_at=now)

    assert emails(marketer_api.get(LEADS_URL, {"source": "webinar"})) == ["web@example.com"]
    window = {
        "created_after": (now - timedelta(days=5)).isoformat(),
        "created_before": (now - timedelta(days=1)).isoformat(),
    }
    assert emails(marketer_api.get(LEADS_URL, window)) == ["ads@example.com"]
    assert emails(marketer_api.get(LEADS_URL, {**window, "source": "webinar"})) == []


def test_it_filters_by_a_time_with_an_offset_postgres_would_refuse(marketer_api):
    # Python parses offsets up to ±23:59, Postgres only to ±15:59: compared in UTC.
    now = timezone.now()
    LeadFactory(email="old@example.com", created_at=now - timedelta(days=3))
    LeadFactory(email="new@example.com", created_at=now)
    two_days_ago_at_plus_21_21 = (
        (now - timedelta(days=2)).astimezone(dt_timezone(timedelta(hours=21, minutes=21)))
    )

    response = marketer_api.get(
        LEADS_URL, {"created_after": two_days_ago_at_plus_21_21.isoformat()}
    )

    assert response.status_code == 200
    assert emails(response) == ["new@example.com"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"stage": "bogus"}, "stage"),
        # Before year 1 once converted to UTC.
        ({"created_after": "0001-01-01T00:00:00+05:00"}, "created_after"),
        ({"stage": ["mql", "bogus"]}, "stage"),
        ({"grade": "Z"}, "grade"),
        ({"created_after": "last tuesday"}, "created_after"),
        ({"created_before": "2026-13-45"}, "created_before"),
        ({"q": "x" * 201}, "q"),
        ({"q": "ann\x00"}, "q"),
        ({"ordering": "email"}, "ordering"),
        ({"page_size": "0"}, "page_size"),
        ({"page_size": "201"}, "page_size"),
        ({"page_size": "ten"}, "page_size"),
    ],
)
def test_it_answers_bad_list_parameters_with_a_400_naming_the_parameter(
    marketer_api, params, field
):
    LeadFactory()

    response = marketer_api.get(LEADS_URL, params)

    assert response.status_code == 400, response.content
    body = response.json()
    assert list(body) == [field]
    assert isinstance(body[field], list) and body[field][0]


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage",
        "%%%",
        base64.urlsafe_b64encode(b"not json").decode(),
        # Well-formed, but for another ordering than the one asked for.
        base64.urlsafe_b64encode(json.dumps(
            {"d": "next", "o": "score", "v": [0, 1]}).encode()).decode(),
        # Well-formed, but values of the wrong type for (created_at, id).
        base64.urlsafe_b64encode(json.dumps(
            {"d": "next", "o": "-created_at", "v": ["yesterday", "abc"]}).encode()).decode(),
        base64.urlsafe_b64encode(json.dumps(
            {"d": "next", "o": "-created_at", "v": [{"a": 1}, [2]]}).encode()).decode(),
        base64.urlsafe_b64encode(json.dumps(
            {"d": "sideways", "o": "-created_at", "v": ["2026-01-01T00:00:00+00:00", 1]}
        ).encode()).decode(),
        base64.urlsafe_b64encode(json.dumps(
            {"d": "next", "o": "-created_at", "v": ["0001-01-01T00:00:00+05:00", 1]}
        ).encode()).decode(),
    ],
)
def test_it_answers_an_invalid_cursor_with_404(marketer_api, cursor):
    LeadFactory()

    response = marketer_api.get(LEADS_URL, {"cursor": cursor})

    assert response.status_code == 404
    assert response.json() == {"detail": "Invalid cursor."}


def cursor(values, ordering="-created_at", direction="next") -> str:
    payload = json.dumps({"d": direction, "o": ordering, "v": values}).encode()
    return base64.urlsafe_b64encode(payload).decode()


def test_it_reads_cursor_times_with_any_offset_and_without_one(marketer_api):
    now = timezone.now()
    older = LeadFactory(created_at=now - timedelta(days=2))
    LeadFactory(created_at=now)
    day_ago = now - timedelta(days=1)
    at_plus_21_21 = day_ago.astimezone(dt_timezone(timedelta(hours=21, minutes=21)))
    naive_utc = day_ago.astimezone(UTC).replace(tzinfo=None)

    for moment in (at_plus_21_21, naive_utc):
        response = marketer_api.get(LEADS_URL, {"cursor": cursor([moment.isoformat(), 0])})
        assert response.status_code == 200, response.content
        assert [row["id"] for row in response.json()["results"]] == [older.pk]


def walk(api, url, direction):
    """Follow next (or previous) links from ``url``; every page's ids, in page order."""
    pages = []
    while url:
        response = api.get(url)
        assert response.status_code == 200, response.content
        body = response.json()
        pages.append([row["id"] for row in body["results"]])
        url = body[direction]
        assert len(pages) < 100, "pagination does not end"
    return pages, body


@pytest.mark.parametrize(
    ("ordering", "key"),
    [
        ("-score", lambda lead: (-lead.score, -lead.pk)),
        ("score", lambda lead: (lead.score, lead.pk)),
        ("-created_at", lambda lead: (-lead.created_at.timestamp(), -lead.pk)),
        ("last_activity_at", lambda lead: (lead.last_activity_at, lead.pk)),
    ],
)
def test_it_pages_through_tied_sort_keys_showing_every_lead_once_both_ways(
    marketer_api, ordering, key
):
    # Most leads tie on score 0 and all on created_at / last_activity_at: a cursor on the
    # first sort field alone would repeat or skip rows at page edges.
    moment = timezone.now()
    scores = [0] * 17 + [5, 5, 5, 10, 10, 40]
    leads = [
        LeadFactory(score=s, created_at=moment, last_activity_at=moment) for s in scores
    ]
    expected = [lead.pk for lead in sorted(leads, key=key)]

    forward, last = walk(marketer_api, f"{LEADS_URL}?ordering={ordering}&page_size=5", "next")

    assert [len(page) for page in forward] == [5, 5, 5, 5, 3]
    assert [pk for page in forward for pk in page] == expected
    assert last["next"] is None and last["previous"] is not None

    backward, first = walk(marketer_api, last["previous"], "previous")

    assert backward == forward[-2::-1]
    assert first["previous"] is None and first["next"] is not None


def test_it_keeps_filters_and_page_size_in_its_links(marketer_api):
    for _ in range(4):
        LeadFactory(stage=Stage.MQL)
    LeadFactory(stage=Stage.LEAD)

    pages, _ = walk(marketer_api, f"{LEADS_URL}?stage=mql&page_size=3", "next")

    assert [len(page) for page in pages] == [3, 1]
    assert set(Lead.objects.filter(stage=Stage.MQL).values_list("pk", flat=True)) == {
        pk for page in pages for pk in page}


def test_it_lists_with_a_query_count_that_does_not_grow_with_the_page(
    marketer_api, django_assert_max_num_queries
):
    for _ in range(30):
        LeadFactory(owner=UserFactory())

    # Auth (token + user), permission checks (groups), the page: not one per lead.
    with django_assert_max_num_queries(6):
        response = marketer_api.get(LEADS_URL, {"page_size": 30})

    assert len(response.json()["results"]) == 30
