"""POST /api/v1/events/ from a product: custom events (and page views) with a token."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.utils import timezone

from capture.models import Activity, ActivityKind, Lead
from tests.factories import LeadFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/events/"


@pytest.fixture(autouse=True)
def no_handlers(settings):
    settings.ACTIVITY_HANDLERS = []


@pytest.fixture
def api(api_client_for, marketer):
    return api_client_for(marketer)


@pytest.fixture
def lead():
    return LeadFactory(email="ann@example.com")


def test_it_records_a_custom_event_on_a_lead_by_id(api, lead, marketer):
    response = api.post(URL, {"type": "trial_started", "lead": lead.pk,
                              "url": "https://app.example.com/signup",
                              "properties": {"plan": "pro", "seats": 5, "annual": True,
                                             "discount": 0.2, "coupon": None}}, format="json")

    assert response.status_code == 201
    activity = Activity.objects.get(kind="trial_started")
    assert response.json() == {"activity": activity.pk, "lead": lead.pk,
                               "kind": "trial_started", "lead_created": False}
    assert activity.lead == lead
    assert activity.actor == marketer
    assert activity.data == {"url": "https://app.example.com/signup", "source": "api",
                             "properties": {"plan": "pro", "seats": 5, "annual": True,
                                            "discount": 0.2, "coupon": None}}


def test_it_finds_the_lead_by_email_in_any_case(api, lead):
    response = api.post(URL, {"type": "feature_used", "email": " ANN@Example.com "},
                        format="json")

    assert response.status_code == 201
    assert response.json()["lead"] == lead.pk
    assert Activity.objects.get(kind="feature_used").data == {
        "url": "", "properties": {}, "source": "api"}


def test_it_keeps_the_time_the_event_happened(api, lead):
    lead.last_activity_at = datetime(2026, 1, 1, tzinfo=UTC)
    lead.save()

    api.post(URL, {"type": "trial_started", "lead": lead.pk,
                   "occurred_at": "2026-01-15T10:30:00+01:00"}, format="json")

    activity = Activity.objects.get(kind="trial_started")
    assert activity.occurred_at == datetime(2026, 1, 15, 9, 30, tzinfo=UTC)
    lead.refresh_from_db()
    assert lead.last_activity_at == activity.occurred_at


def test_occurred_at_defaults_to_now(api, lead):
    with time_machine.travel(datetime(2026, 3, 1, 12, 0, tzinfo=UTC), tick=False):
        api.post(URL, {"type": "trial_started", "lead": lead.pk}, format="json")

    assert Activity.objects.get(kind="trial_started").occurred_at == datetime(
        2026, 3, 1, 12, 0, tzinfo=UTC)


def test_a_page_view_from_the_product_has_the_page_view_shape(api, lead):
    response = api.post(URL, {"type": "page_viewed", "lead": lead.pk,
                              "url": "https://app.example.com/billing", "title": "Billing"},
                        format="json")

    assert response.status_code == 201
    data = Activity.objects.get(kind=ActivityKind.PAGE_VIEWED).data
    assert data == {"url": "https://app.example.com/billing", "title": "Billing",
                    "referrer": "", "site": None, "visitor": None, "properties": {},
                    "source": "api"}


def test_an_unknown_email_creates_no_lead(api):
    response = api.post(URL, {"type": "trial_started", "email": "new@example.com"},
                        format="json")

    assert response.status_code == 400
    assert "create_lead" in response.json()["email"][0]
    assert not Lead.objects.exists() and not Activity.objects.exists()


def test_create_lead_makes_the_lead_through_the_lead_service(api, marketer):
    response = api.post(URL, {"type": "trial_started", "email": "new@example.com",
                              "create_lead": True}, format="json")

    assert response.status_code == 201
    body = response.json()
    assert body["lead_created"] is True
    lead = Lead.objects.get(pk=body["lead"])
    assert (lead.email, lead.source) == ("new@example.com", "api")
    kinds = set(Activity.objects.filter(lead=lead).values_list("kind", flat=True))
    assert kinds == {ActivityKind.LEAD_CREATED, "trial_started"}


def test_create_lead_for_a_known_email_uses_that_lead(api, lead):
    response = api.post(URL, {"type": "trial_started", "email": "ann@example.com",
                              "create_lead": True}, format="json")

    assert response.status_code == 201
    assert response.json() == {**response.json(), "lead": lead.pk, "lead_created": False}
    assert Lead.objects.count() == 1


def test_an_unknown_lead_id_is_a_400(api, lead):
    response = api.post(URL, {"type": "trial_started", "lead": lead.pk + 1000}, format="json")

    assert response.status_code == 400
    assert response.json() == {"lead": ["No lead with this id."]}


@pytest.mark.parametrize(("body", "field"), [
    ({"type": "form_submitted"}, "type"),  # LeadHub's own kind
    ({"type": "stage_changed"}, "type"),
    ({"type": "trial started!"}, "type"),
    ({"type": "1st_login"}, "type"),
    ({"type": "x" * 65}, "type"),
    ({"type": ""}, "type"),
    ({"occurred_at": "tomorrow"}, "occurred_at"),
    ({"occurred_at": "2999-01-01T00:00:00Z"}, "occurred_at"),
    ({"properties": ["plan", "pro"]}, "properties"),
    ({"properties": {"nested": {"a": 1}}}, "properties"),
    ({"properties": {"list": [1, 2]}}, "properties"),
    ({"properties": {f"p{i}": i for i in range(51)}}, "properties"),
    ({"properties": {"long": "x" * 1001}}, "properties"),
    ({"properties": {"nul": "a\x00b"}}, "properties"),
    ({"properties": {"huge": 2**70}}, "properties"),
    ({"url": "ftp://example.com/file"}, "url"),
    ({"lead": "abc"}, "lead"),
    ({"lead": 2**80}, "lead"),
])
def test_it_refuses_bad_input_per_field(api, lead, body, field):
    response = api.post(URL, {"type": "trial_started", "lead": lead.pk, **body}, format="json")

    assert response.status_code == 400, response.content
    assert field in response.json()
    assert not Activity.objects.filter(lead=lead).exists()


def test_a_time_a_few_minutes_ahead_is_accepted(api, lead):
    # Clocks differ by a little between a product's servers and LeadHub.
    soon = (timezone.now() + timedelta(minutes=2)).isoformat()

    response = api.post(URL, {"type": "trial_started", "lead": lead.pk, "occurred_at": soon},
                        format="json")

    assert response.status_code == 201


@pytest.mark.parametrize("body", [
    {"type": "trial_started"},
    {"type": "trial_started", "lead": 1, "email": "ann@example.com"},
])
def test_it_needs_exactly_one_of_lead_and_email(api, body):
    response = api.post(URL, body, format="json")

    assert response.status_code == 400
    assert "lead" in response.json()


def test_unreadable_json_is_a_400(api):
    response = api.post(URL, "{not json", content_type="application/json")

    assert response.status_code == 400
    assert "detail" in response.json()


def test_a_signed_in_user_without_a_role_is_refused(api_client_for, outsider, lead):
    response = api_client_for(outsider).post(URL, {"type": "trial_started", "lead": lead.pk},
                                             format="json")

    assert response.status_code == 403
    assert not Activity.objects.exists()


def test_an_anonymous_client_is_asked_to_authenticate(api_client_for, lead):
    response = api_client_for(None).post(URL, {"type": "trial_started", "lead": lead.pk},
                                         format="json")

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Token")


def test_an_anonymous_client_with_unreadable_json_is_still_a_401(api_client_for):
    response = api_client_for(None).post(URL, "{not json", content_type="application/json")

    assert response.status_code == 401


def test_a_session_works_too_with_csrf(marketer, lead):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(marketer)

    refused = client.post(URL, {"type": "trial_started", "lead": lead.pk},
                          content_type="application/json")

    assert refused.status_code == 403  # a session needs its CSRF token
    client.get("/leads/")
    token = client.cookies["csrftoken"].value
    accepted = client.post(URL, {"type": "trial_started", "lead": lead.pk},
                           content_type="application/json", HTTP_X_CSRFTOKEN=token)
    assert accepted.status_code == 201


def test_a_rep_may_record_events_too(api_client_for, rep, lead):
    response = api_client_for(rep).post(URL, {"type": "demo_booked", "lead": lead.pk},
                                        format="json")

    assert response.status_code == 201


def test_get_is_not_allowed(api):
    assert api.get(URL).status_code == 405
