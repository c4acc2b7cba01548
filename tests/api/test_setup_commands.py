"""Scripted setup: createsuperuser --noinput and drf_create_token give a working API key."""

import io
import re

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from tests.api.paths import LEADS_URL
from tests.factories import LeadFactory

pytestmark = pytest.mark.django_db


def create_token(username: str, *args: str) -> str:
    out = io.StringIO()
    call_command("drf_create_token", username, *args, stdout=out)
    match = re.fullmatch(rf"Generated token ([0-9a-f]{{40}}) for user {username}\n", out.getvalue())
    assert match, out.getvalue()
    return match.group(1)


def api_with(key: str) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return api


def test_it_prints_a_token_that_authenticates_api_calls(marketer):
    LeadFactory(email="ann@example.com")

    key = create_token(marketer.username)
    response = api_with(key).get(LEADS_URL)

    assert response.status_code == 200
    assert [row["email"] for row in response.json()["results"]] == ["ann@example.com"]


def test_it_replaces_a_token_with_reset(marketer):
    old = create_token(marketer.username)

    new = create_token(marketer.username, "--reset")

    assert new != old
    assert api_with(old).get(LEADS_URL).status_code == 401
    assert api_with(new).get(LEADS_URL).status_code == 200


def test_it_refuses_a_token_for_a_user_who_does_not_exist():
    with pytest.raises(CommandError, match="does not exist"):
        call_command("drf_create_token", "nobody", stdout=io.StringIO())


def test_it_creates_a_superuser_from_the_environment_who_can_use_the_api(monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_USERNAME", "root")
    monkeypatch.setenv("DJANGO_SUPERUSER_EMAIL", "root@leadhub.test")
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "a long and unguessable passphrase")

    call_command("createsuperuser", "--noinput", stdout=io.StringIO())

    user = get_user_model().objects.get(username="root")
    assert user.is_superuser and user.is_staff and user.is_active
    assert user.email == "root@leadhub.test"
    assert user.check_password("a long and unguessable passphrase")
    api = api_with(create_token("root"))
    created = api.post(LEADS_URL, {"email": "ann@example.com", "stage": "sql"})
    assert created.status_code == 201, created.content
    assert api.delete(f"{LEADS_URL}{created.json()['id']}/").status_code == 204
