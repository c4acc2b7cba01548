"""Signing in and out, the home redirect, Your account, password change and reset."""

import re

import pytest
from django.contrib.auth import SESSION_KEY
from django.core import mail

from leadhub.roles import ADMIN, MARKETER, SALES_REP

PASSWORD = "correct horse battery staple"  # what tests.factories.UserFactory sets


# --- Home, login, logout ------------------------------------------------------------------


@pytest.mark.django_db
def test_it_sends_anonymous_visitors_from_home_to_the_login_page(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/"


def test_it_sends_signed_in_users_from_home_to_the_board(client, rep):
    client.force_login(rep)
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/board/"


def test_it_logs_in_with_username_and_password(client, marketer):
    response = client.post(
        "/accounts/login/", {"username": "mia", "password": PASSWORD}
    )
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert client.session[SESSION_KEY] == str(marketer.pk)


def test_it_refuses_a_wrong_password(client, marketer):
    response = client.post("/accounts/login/", {"username": "mia", "password": "nope"})
    assert response.status_code == 200
    assert SESSION_KEY not in client.session
    assert "Please enter a correct username and password" in response.content.decode()


def test_it_renders_the_login_page_with_its_fields(client, db):
    body = client.get("/accounts/login/").content.decode()
    assert 'id="id_username"' in body
    assert 'id="id_password"' in body
    assert ">Log in</button>" in body


def test_it_logs_out_with_a_post(client, rep):
    client.force_login(rep)
    response = client.post("/accounts/logout/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/"
    assert SESSION_KEY not in client.session
    assert client.get("/settings/")["Location"].startswith("/accounts/login/")


def test_it_does_not_log_out_on_a_get(client, rep):
    client.force_login(rep)
    assert client.get("/accounts/logout/").status_code == 405
    assert client.session[SESSION_KEY] == str(rep.pk)


# --- Your account -------------------------------------------------------------------------


@pytest.mark.django_db
def test_it_asks_anonymous_visitors_to_log_in_for_settings(client):
    response = client.get("/settings/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/settings/"


@pytest.mark.parametrize(
    ("fixture", "role", "can", "cannot"),
    [
        ("marketer", MARKETER, "Edit scoring and grading rules", "Delete leads"),
        ("rep", SALES_REP, "Work the pipeline", "Edit scoring and grading rules"),
        ("admin_user", ADMIN, "Manage users, roles and API tokens", None),
    ],
)
def test_it_shows_each_role_what_it_allows(client, request, fixture, role, can, cannot):
    user = request.getfixturevalue(fixture)
    client.force_login(user)
    response = client.get("/settings/")
    assert response.status_code == 200
    body = response.content.decode()
    assert f'data-testid="role">{role}<' in body
    capabilities = dict(response.context["capabilities"])
    assert any(allowed for label, allowed in capabilities.items() if label.startswith(can))
    if cannot:
        assert not any(allowed for label, allowed in capabilities.items()
                       if label.startswith(cannot))
    assert 'data-testid="no-role-note"' not in body


def test_it_shows_admin_cards_only_to_people_who_manage_users(client, marketer, admin_user):
    client.force_login(admin_user)
    body = client.get("/settings/").content.decode()
    assert 'data-testid="admin-cards"' in body
    assert 'href="/settings/users/"' in body
    assert 'href="/settings/tokens/"' in body
    assert 'href="/api/docs/"' in body

    client.force_login(marketer)
    body = client.get("/settings/").content.decode()
    assert 'data-testid="admin-cards"' not in body
    assert 'href="/settings/users/"' not in body
    assert 'href="/settings/tokens/"' not in body


def test_it_tells_a_user_without_a_role_to_ask_an_admin(client, outsider, admin_user):
    client.force_login(outsider)
    response = client.get("/settings/")
    assert response.status_code == 200
    body = response.content.decode()
    assert 'data-testid="no-role-note"' in body
    assert "an admin gives you a role" in body
    assert "Ada Admin" in body  # who to ask
    assert not any(allowed for _, allowed in response.context["capabilities"])


def test_it_saves_your_name_and_email(client, rep):
    client.force_login(rep)
    response = client.post(
        "/settings/", {"first_name": " Samuel ", "last_name": "Seller", "email": "sam@Corp.COM"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/settings/"
    rep.refresh_from_db()
    assert (rep.first_name, rep.email) == ("Samuel", "sam@corp.com")
    assert "Your account details are saved." in client.get("/settings/").content.decode()


def test_it_refuses_an_invalid_email_for_your_account(client, rep):
    client.force_login(rep)
    response = client.post("/settings/", {"first_name": "Sam", "last_name": "", "email": "nope"})
    assert response.status_code == 400
    assert response.context["form"].errors["email"] == ["Enter a valid email address."]
    rep.refresh_from_db()
    assert rep.email == "sam@leadhub.test"


# --- Password change and reset ------------------------------------------------------------


def test_it_changes_your_password(client, rep):
    client.force_login(rep)
    page = client.get("/accounts/password_change/")
    assert page.status_code == 200
    assert ">Change password</button>" in page.content.decode()
    response = client.post(
        "/accounts/password_change/",
        {"old_password": PASSWORD, "new_password1": "plum-tractor-91-velvet",
         "new_password2": "plum-tractor-91-velvet"},
    )
    assert response["Location"] == "/accounts/password_change/done/"
    assert "Password changed" in client.get(response["Location"]).content.decode()
    rep.refresh_from_db()
    assert rep.check_password("plum-tractor-91-velvet")


def test_it_refuses_a_weak_new_password(client, rep):
    client.force_login(rep)
    response = client.post(
        "/accounts/password_change/",
        {"old_password": PASSWORD, "new_password1": "12345678", "new_password2": "12345678"},
    )
    assert response.status_code == 200
    assert "This password is too common." in response.content.decode()


def test_it_resets_a_forgotten_password_by_email(client, rep):
    form = client.get("/accounts/password_reset/")
    assert form.status_code == 200
    assert "Send reset link" in form.content.decode()

    response = client.post("/accounts/password_reset/", {"email": "sam@leadhub.test"})
    assert response["Location"] == "/accounts/password_reset/done/"
    assert "Check your email" in client.get(response["Location"]).content.decode()

    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.subject == "Reset your LeadHub password"
    assert message.to == ["sam@leadhub.test"]
    assert "Your username is: sam" in message.body
    link = re.search(r"http://testserver(/accounts/reset/\S+/)", message.body).group(1)

    # The token in the link is swapped for a session value and a "set-password" URL.
    set_password_url = client.get(link)["Location"]
    page = client.get(set_password_url)
    assert "Choose a new password" in page.content.decode()
    done = client.post(
        set_password_url,
        {"new_password1": "quartz-meadow-47-lantern", "new_password2": "quartz-meadow-47-lantern"},
    )
    assert done["Location"] == "/accounts/reset/done/"
    assert "Password set" in client.get(done["Location"]).content.decode()
    rep.refresh_from_db()
    assert rep.check_password("quartz-meadow-47-lantern")


@pytest.mark.django_db
def test_it_explains_a_bad_reset_link(client):
    page = client.get("/accounts/reset/MQ/set-password/")
    assert page.status_code == 200
    assert "This link doesn’t work" in page.content.decode()
