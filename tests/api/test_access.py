"""Who may call what: 401 without credentials, 403 without permission, 429 when too fast."""

import pytest
from rest_framework.test import APIClient
from rest_framework.throttling import UserRateThrottle

from tests.api.paths import LEADS_URL, activities_url, lead_url
from tests.factories import LeadFactory

pytestmark = pytest.mark.django_db


def call(api, operation, lead):
    if operation == "list":
        return api.get(LEADS_URL)
    if operation == "retrieve":
        return api.get(lead_url(lead))
    if operation == "create":
        return api.post(LEADS_URL, {"email": "new@example.com"})
    if operation == "update":
        return api.put(lead_url(lead), {"email": lead.email, "first_name": "Put"})
    if operation == "partial_update":
        return api.patch(lead_url(lead), {"first_name": "Patched"})
    if operation == "destroy":
        return api.delete(lead_url(lead))
    if operation == "activities":
        return api.get(activities_url(lead))
    raise AssertionError(operation)


OPERATIONS = ["list", "retrieve", "create", "update", "partial_update", "destroy", "activities"]
OK = {"list": 200, "retrieve": 200, "create": 201, "update": 200, "partial_update": 200,
      "destroy": 204, "activities": 200}
EXPECTED = {
    "anonymous": dict.fromkeys(OPERATIONS, 401),
    "outsider": dict.fromkeys(OPERATIONS, 403),
    "marketer": {**OK, "destroy": 403},
    "rep": {**OK, "destroy": 403},
    "admin_user": OK,
}


@pytest.mark.parametrize("operation", OPERATIONS)
@pytest.mark.parametrize("who", list(EXPECTED))
def test_it_answers_each_role_as_its_permissions_say(request, api_client_for, who, operation):
    user = None if who == "anonymous" else request.getfixturevalue(who)
    lead = LeadFactory(email="ann@example.com")

    response = call(api_client_for(user), operation, lead)

    assert response.status_code == EXPECTED[who][operation], response.content
    if response.status_code == 401:
        # TokenAuthentication comes first, so clients learn which scheme to use.
        assert response["WWW-Authenticate"] == "Token"
        assert response.json()["detail"]
    if response.status_code == 403:
        assert response.json()["detail"]


def test_it_refuses_an_unknown_token(api_client_for):
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION="Token 0123456789abcdef0123456789abcdef01234567")

    response = api.get(LEADS_URL)

    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid token."}


def test_it_refuses_a_deactivated_users_token(api_client_for, marketer):
    api = api_client_for(marketer)
    marketer.is_active = False
    marketer.save()

    assert api.get(LEADS_URL).status_code == 401


def test_it_accepts_a_browser_session(client, marketer):
    LeadFactory(email="ann@example.com")
    client.force_login(marketer)

    response = client.get(LEADS_URL, HTTP_ACCEPT="application/json")

    assert response.status_code == 200
    assert [row["email"] for row in response.json()["results"]] == ["ann@example.com"]


def test_it_needs_a_csrf_token_for_session_writes(marketer):
    api = APIClient(enforce_csrf_checks=True)
    api.force_login(marketer)

    response = api.post(LEADS_URL, {"email": "ann@example.com"})

    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]


def test_it_throttles_a_client_that_calls_too_often(marketer_api, monkeypatch):
    # DRF copies the rates into the class when it is imported, so settings are too late.
    monkeypatch.setattr(UserRateThrottle, "THROTTLE_RATES", {"user": "3/minute"})

    statuses = [marketer_api.get(LEADS_URL).status_code for _ in range(4)]

    assert statuses == [200, 200, 200, 429]
    response = marketer_api.get(LEADS_URL)
    assert response.status_code == 429
    assert 0 < int(response["Retry-After"]) <= 60
    assert "throttled" in response.json()["detail"]


def test_it_throttles_each_user_separately(api_client_for, marketer, rep, monkeypatch):
    monkeypatch.setattr(UserRateThrottle, "THROTTLE_RATES", {"user": "2/minute"})
    marketer_api, rep_api = api_client_for(marketer), api_client_for(rep)

    assert [marketer_api.get(LEADS_URL).status_code for _ in range(3)] == [200, 200, 429]
    assert rep_api.get(LEADS_URL).status_code == 200


def test_it_renders_the_browsable_api_for_a_signed_in_user(client, admin_user):
    lead = LeadFactory(email="ann@example.com", attributes={"plan": "pro"})
    client.force_login(admin_user)

    for url in (LEADS_URL, lead_url(lead), activities_url(lead)):
        response = client.get(url, HTTP_ACCEPT="text/html")
        assert response.status_code == 200, url
        assert response["Content-Type"].startswith("text/html")
    assert b"ann@example.com" in client.get(lead_url(lead), HTTP_ACCEPT="text/html").content
