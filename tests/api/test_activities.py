"""GET /api/v1/leads/<id>/activities/: the lead's timeline, newest first, paged."""

from datetime import timedelta

import pytest
from django.utils import timezone

from capture.models import ActivityKind
from tests.api.paths import activities_url
from tests.factories import ActivityFactory, LeadFactory

pytestmark = pytest.mark.django_db


def test_it_lists_a_leads_activities_newest_first(marketer_api, rep):
    lead = LeadFactory()
    now = timezone.now()
    older = ActivityFactory(lead=lead, occurred_at=now - timedelta(hours=2))
    newer = ActivityFactory(
        lead=lead, kind=ActivityKind.NOTE_ADDED, data={"text": "Called"}, actor=rep,
        occurred_at=now,
    )
    ActivityFactory(occurred_at=now)  # another lead's

    response = marketer_api.get(activities_url(lead))

    assert response.status_code == 200
    body = response.json()
    assert [row["id"] for row in body["results"]] == [newer.pk, older.pk]
    assert body["next"] is None and body["previous"] is None
    note = body["results"][0]
    assert note == {
        "id": newer.pk,
        "kind": "note_added",
        "kind_label": "Note added",
        "data": {"text": "Called"},
        "actor": rep.pk,
        "actor_name": "Sam Seller",
        "occurred_at": note["occurred_at"],
        "created_at": note["created_at"],
    }
    assert body["results"][1]["actor"] is None
    assert body["results"][1]["actor_name"] == ""


def test_it_labels_custom_kinds_readably(marketer_api):
    lead = LeadFactory()
    ActivityFactory(lead=lead, kind="trial_started")

    [row] = marketer_api.get(activities_url(lead)).json()["results"]

    assert (row["kind"], row["kind_label"]) == ("trial_started", "Trial started")


def test_it_filters_by_several_kinds(marketer_api):
    lead = LeadFactory()
    viewed = ActivityFactory(lead=lead, kind=ActivityKind.PAGE_VIEWED)
    ActivityFactory(lead=lead, kind=ActivityKind.EMAIL_SENT)
    custom = ActivityFactory(lead=lead, kind="trial_started")

    response = marketer_api.get(activities_url(lead), {"kind": ["page_viewed", "trial_started"]})

    assert response.status_code == 200
    assert sorted(row["id"] for row in response.json()["results"]) == [viewed.pk, custom.pk]


def test_it_pages_through_activities_that_share_a_time_both_ways(marketer_api):
    lead = LeadFactory()
    moment = timezone.now()
    acts = [ActivityFactory(lead=lead, occurred_at=moment) for _ in range(7)]
    acts += [ActivityFactory(lead=lead, occurred_at=moment - timedelta(minutes=1))
             for _ in range(4)]
    expected = [a.pk for a in sorted(acts, key=lambda a: (a.occurred_at, a.pk), reverse=True)]

    pages, url = [], f"{activities_url(lead)}?page_size=3"
    while url:
        body = marketer_api.get(url).json()
        pages.append([row["id"] for row in body["results"]])
        url = body["next"]
    assert [pk for page in pages for pk in page] == expected

    back, url = [], body["previous"]
    while url:
        body = marketer_api.get(url).json()
        back.append([row["id"] for row in body["results"]])
        url = body["previous"]
    assert back == pages[-2::-1]


def test_it_answers_404_for_a_lead_that_does_not_exist(marketer_api):
    response = marketer_api.get(activities_url(999999))

    assert response.status_code == 404


def test_it_answers_404_for_a_lead_the_user_cannot_see(marketer_api, monkeypatch):
    from capture.models import LeadQuerySet

    lead = LeadFactory()
    ActivityFactory(lead=lead)
    monkeypatch.setattr(LeadQuerySet, "visible_to", lambda self, user: self.none())

    response = marketer_api.get(activities_url(lead))

    assert response.status_code == 404


@pytest.mark.parametrize(
    ("params", "status", "field"),
    [
        ({"kind": "k" * 65}, 400, "kind"),
        ({"kind": "a\x00b"}, 400, "kind"),
        ({"ordering": "occurred_at"}, 400, "ordering"),
        ({"page_size": "-1"}, 400, "page_size"),
    ],
)
def test_it_answers_bad_parameters_with_a_400(marketer_api, params, status, field):
    lead = LeadFactory()

    response = marketer_api.get(activities_url(lead), params)

    assert response.status_code == status
    assert list(response.json()) == [field]


def test_it_answers_an_invalid_cursor_with_404(marketer_api):
    lead = LeadFactory()
    ActivityFactory(lead=lead)

    response = marketer_api.get(activities_url(lead), {"cursor": "bm9wZQ=="})

    assert response.status_code == 404
    assert response.json() == {"detail": "Invalid cursor."}


def test_it_shows_the_activities_an_api_write_recorded(rep_api, rep):
    created = rep_api.post("/api/v1/leads/", {"email": "ann@example.com", "first_name": "Ann"})
    lead_id = created.json()["id"]
    rep_api.patch(f"/api/v1/leads/{lead_id}/", {"first_name": "Anna", "stage": "mql"})

    rows = rep_api.get(activities_url(lead_id)).json()["results"]

    assert [row["kind"] for row in rows] == ["stage_changed", "lead_updated", "lead_created"]
    assert {row["actor"] for row in rows} == {rep.pk}
    assert rows[1]["data"]["changes"] == {"first_name": {"old": "Ann", "new": "Anna"}}
