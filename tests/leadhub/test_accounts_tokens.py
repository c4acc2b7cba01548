"""Settings → API tokens: create, show once, regenerate, revoke; admins only."""

import re

import pytest
from django.contrib.messages import get_messages
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.factories import MarketerFactory, UserFactory

LEADS_API = "/api/v1/leads/"


def _key_on(response) -> str:
    return re.search(r'data-testid="token-key">([0-9a-f]{40})<', response.content.decode()).group(1)


def _api_status(key: str) -> int:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client.get(LEADS_API).status_code


@pytest.fixture
def service_account(db):
    """An integration's user, as an admin would make one for a token."""
    return MarketerFactory(username="crm-sync", first_name="", last_name="")


@pytest.mark.parametrize("fixture", ["marketer", "rep", "outsider"])
def test_it_forbids_the_token_pages_to_non_admins(client, request, fixture, admin_user):
    Token.objects.create(user=admin_user)
    client.force_login(request.getfixturevalue(fixture))
    for url in ["/settings/tokens/", "/settings/tokens/new/",
                f"/settings/tokens/{admin_user.pk}/regenerate/",
                f"/settings/tokens/{admin_user.pk}/revoke/"]:
        assert client.get(url).status_code == 403, url
        assert client.post(url, {"user": admin_user.pk}).status_code == 403, url
    assert Token.objects.filter(user=admin_user).count() == 1


def test_it_creates_a_token_whose_key_authenticates_api_requests(
    client, admin_user, service_account
):
    client.force_login(admin_user)
    form = client.get("/settings/tokens/new/")
    assert form.status_code == 200
    assert "crm-sync (Marketer)" in form.content.decode()

    response = client.post("/settings/tokens/new/", {"user": service_account.pk})
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    key = _key_on(response)
    assert Token.objects.get(user=service_account).key == key
    body = response.content.decode()
    assert f'curl -H "Authorization: Token {key}" http://testserver/api/v1/leads/' in body
    assert 'data-copy="token-key"' in body
    assert key not in str(client.cookies)  # shown in the response, not parked in a message

    assert _api_status(key) == 200


def test_it_never_shows_the_full_key_on_the_list(client, admin_user, service_account):
    token = Token.objects.create(user=service_account)
    client.force_login(admin_user)
    response = client.get("/settings/tokens/")
    assert response.status_code == 200
    body = response.content.decode()
    assert f"{token.key[:6]}…" in body
    assert token.key not in body
    assert token.key[:7] not in body
    assert f"/settings/tokens/{service_account.pk}/revoke/" in body


def test_it_revokes_a_token_after_confirmation_and_the_key_then_gets_401(
    client, admin_user, service_account
):
    key = Token.objects.create(user=service_account).key
    assert _api_status(key) == 200
    client.force_login(admin_user)

    confirm = client.get(f"/settings/tokens/{service_account.pk}/revoke/")
    assert confirm.status_code == 200
    assert "Revoke crm-sync’s API token?" in confirm.content.decode()
    assert key not in confirm.content.decode()
    assert Token.objects.filter(user=service_account).exists()  # a GET changes nothing

    response = client.post(f"/settings/tokens/{service_account.pk}/revoke/")
    assert response["Location"] == "/settings/tokens/"
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        "Revoked the API token of crm-sync. Requests with it now get 401."
    ]
    assert not Token.objects.filter(user=service_account).exists()
    assert _api_status(key) == 401


def test_it_regenerates_a_token_and_the_old_key_stops_working(
    client, admin_user, service_account
):
    old = Token.objects.create(user=service_account).key
    client.force_login(admin_user)
    assert client.get(f"/settings/tokens/{service_account.pk}/regenerate/").status_code == 200

    response = client.post(f"/settings/tokens/{service_account.pk}/regenerate/")
    assert response.status_code == 200
    new = _key_on(response)
    assert new != old
    assert "The old key no longer works" in response.content.decode()
    assert _api_status(old) == 401
    assert _api_status(new) == 200


def test_it_gives_a_user_one_token(client, admin_user, service_account):
    Token.objects.create(user=service_account)
    client.force_login(admin_user)
    response = client.post("/settings/tokens/new/", {"user": service_account.pk})
    assert response.status_code == 400
    # Users who have a token are not offered; regenerate is the way to a new key.
    assert "Select a valid choice" in response.context["form"].errors["user"][0]
    assert Token.objects.filter(user=service_account).count() == 1


def test_it_refuses_a_token_for_an_inactive_user(client, admin_user):
    gone = UserFactory(username="gone", is_active=False)
    client.force_login(admin_user)
    response = client.post("/settings/tokens/new/", {"user": gone.pk})
    assert response.status_code == 400
    assert not Token.objects.filter(user=gone).exists()


def test_it_answers_404_when_revoking_a_token_that_does_not_exist(client, admin_user, rep):
    client.force_login(admin_user)
    assert client.post(f"/settings/tokens/{rep.pk}/revoke/").status_code == 404


def test_it_refuses_a_token_of_a_user_without_a_role_on_the_api(outsider):
    # A token acts as its user: one with no role authenticates but may read nothing.
    assert _api_status(Token.objects.create(user=outsider).key) == 403


@pytest.mark.django_db
def test_it_answers_401_to_an_unknown_key():
    assert _api_status("0" * 40) == 401
