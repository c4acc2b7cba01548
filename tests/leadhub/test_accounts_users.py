"""Settings → Users: list, create, edit, reset password, and the guard rails."""

import re

import pytest
from django.contrib.auth import SESSION_KEY
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages

from leadhub.models import User
from leadhub.roles import ADMIN, MARKETER, SALES_REP
from tests.factories import AdminFactory, MarketerFactory, SalesRepFactory, UserFactory

USER_PAGES = ["/settings/users/", "/settings/users/new/"]


def _messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def _new_user(**overrides) -> dict:
    data = {"username": "nina", "first_name": "Nina", "last_name": "New",
            "email": "nina@leadhub.test", "role": SALES_REP, "password": "",
            "password_confirm": ""}
    return {**data, **overrides}


def _edit(user: User, **overrides) -> dict:
    data = {"first_name": user.first_name, "last_name": user.last_name, "email": user.email,
            "role": user.role, "is_active": "on" if user.is_active else ""}
    data.update(overrides)
    return {k: v for k, v in data.items() if not (k == "is_active" and v == "")}


# --- Access -------------------------------------------------------------------------------


@pytest.mark.parametrize("fixture", ["marketer", "rep", "outsider"])
def test_it_forbids_the_users_pages_to_non_admins(client, request, fixture, admin_user):
    client.force_login(request.getfixturevalue(fixture))
    for url in [*USER_PAGES, f"/settings/users/{admin_user.pk}/edit/",
                f"/settings/users/{admin_user.pk}/password/"]:
        assert client.get(url).status_code == 403, url
    assert client.post("/settings/users/new/", _new_user()).status_code == 403
    assert client.post(f"/settings/users/{admin_user.pk}/password/").status_code == 403
    assert not User.objects.filter(username="nina").exists()


@pytest.mark.django_db
def test_it_sends_anonymous_visitors_to_log_in(client):
    response = client.get("/settings/users/")
    assert response["Location"] == "/accounts/login/?next=/settings/users/"


# --- List ---------------------------------------------------------------------------------


def test_it_lists_users_with_role_email_status_and_last_login(client, admin_user, marketer):
    UserFactory(username="gone", is_active=False, role=SALES_REP)
    client.force_login(admin_user)
    response = client.get("/settings/users/")
    assert response.status_code == 200
    assert [u.username for u in response.context["users"]] == ["ada", "gone", "mia"]
    body = response.content.decode()
    assert "mia@leadhub.test" in body
    assert ">Marketer<" in body
    assert "Inactive" in body
    assert "never" in body  # mia has never logged in


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"q": "SELLER"}, ["sam"]),  # last name, any case
        ({"q": "mia@"}, ["mia"]),  # email
        ({"q": "OLL"}, ["olly"]),  # username
        ({"role": MARKETER}, ["mia"]),
        ({"role": ADMIN}, ["ada", "root"]),  # superusers are admins
        ({"role": "none"}, ["olly"]),
        ({"active": "0"}, ["olly"]),
        ({"active": "1", "role": SALES_REP}, ["sam"]),
    ],
)
def test_it_searches_and_filters_users(
    client, admin_user, marketer, rep, outsider, query, expected
):
    # Fixed names: Faker's could match the search ("Holly" contains "oll").
    outsider.first_name, outsider.last_name, outsider.is_active = "Olly", "Outside", False
    outsider.save()
    UserFactory(username="root", first_name="Root", last_name="User", is_superuser=True)
    client.force_login(admin_user)
    response = client.get("/settings/users/", query)
    assert [u.username for u in response.context["users"]] == expected


def test_it_paginates_users_and_keeps_the_filters(client, admin_user):
    SalesRepFactory.create_batch(30)
    client.force_login(admin_user)
    first = client.get("/settings/users/", {"role": SALES_REP})
    assert len(first.context["users"]) == 25
    assert 'href="?role=Sales+rep&amp;page=2"' in first.content.decode()
    second = client.get("/settings/users/", {"role": SALES_REP, "page": 2})
    assert len(second.context["users"]) == 5


def test_it_answers_htmx_search_with_only_the_table(client, admin_user, rep):
    client.force_login(admin_user)
    response = client.get("/settings/users/", {"q": "sam"}, HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert 'data-testid="user-table"' in body
    assert "<html" not in body
    assert "HX-Request" in response["Vary"]


def test_it_lists_a_page_of_users_in_a_fixed_number_of_queries(
    client, admin_user, django_assert_max_num_queries
):
    for factory in (MarketerFactory, SalesRepFactory, AdminFactory):
        factory.create_batch(5)
    client.force_login(admin_user)
    with django_assert_max_num_queries(10):
        client.get("/settings/users/")


# --- Create -------------------------------------------------------------------------------


def test_it_creates_a_user_with_a_role_and_a_generated_password_that_works(client, admin_user):
    client.force_login(admin_user)
    response = client.post("/settings/users/new/", _new_user())
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    nina = User.objects.get(username="nina")
    assert nina.role == SALES_REP
    assert list(nina.groups.values_list("name", flat=True)) == [SALES_REP]
    body = response.content.decode()
    password = re.search(r'data-testid="generated-password">([^<]+)<', body).group(1)
    assert "only time LeadHub shows this password" in body
    assert password not in str(client.cookies)  # not parked in a flash message

    client.logout()
    client.post("/accounts/login/", {"username": "nina", "password": password})
    assert client.session[SESSION_KEY] == str(nina.pk)


def test_it_creates_a_user_with_a_typed_password(client, admin_user):
    client.force_login(admin_user)
    response = client.post(
        "/settings/users/new/",
        _new_user(role=MARKETER, password="violet-harbour-73-kettle",
                  password_confirm="violet-harbour-73-kettle"),
    )
    assert response["Location"] == "/settings/users/"
    assert _messages(response) == ["Created nina as Marketer."]
    nina = User.objects.get(username="nina")
    assert nina.role == MARKETER
    assert nina.check_password("violet-harbour-73-kettle")


def test_it_refuses_a_username_that_differs_only_in_case(client, admin_user, rep):
    client.force_login(admin_user)
    response = client.post("/settings/users/new/", _new_user(username="SAM"))
    assert response.status_code == 400
    assert response.context["form"].errors["username"] == ["The username “SAM” is already taken."]
    assert User.objects.filter(username__iexact="sam").count() == 1


def test_it_refuses_a_weak_typed_password(client, admin_user):
    client.force_login(admin_user)
    response = client.post(
        "/settings/users/new/", _new_user(password="password", password_confirm="password")
    )
    assert response.status_code == 400
    assert "This password is too common." in response.context["form"].errors["password"]
    assert not User.objects.filter(username="nina").exists()


def test_it_refuses_a_password_too_like_the_username(client, admin_user):
    client.force_login(admin_user)
    response = client.post(
        "/settings/users/new/",
        _new_user(username="gwendolyn", password="gwendolyn1", password_confirm="gwendolyn1"),
    )
    assert response.status_code == 400
    assert "The password is too similar to the username." in (
        response.context["form"].errors["password"]
    )


def test_it_refuses_mismatched_passwords(client, admin_user):
    client.force_login(admin_user)
    response = client.post(
        "/settings/users/new/",
        _new_user(password="violet-harbour-73-kettle", password_confirm="violet-harbour-73"),
    )
    assert response.status_code == 400
    assert response.context["form"].errors["password_confirm"] == ["The two passwords don't match."]


@pytest.mark.parametrize("role", ["", "Owner"])
def test_it_needs_exactly_one_of_the_three_roles(client, admin_user, role):
    client.force_login(admin_user)
    response = client.post("/settings/users/new/", _new_user(role=role))
    assert response.status_code == 400
    assert "role" in response.context["form"].errors
    assert not User.objects.filter(username="nina").exists()


def test_it_refuses_an_invalid_username(client, admin_user):
    client.force_login(admin_user)
    response = client.post("/settings/users/new/", _new_user(username="nina smith"))
    assert response.status_code == 400
    assert "username" in response.context["form"].errors


# --- Edit ---------------------------------------------------------------------------------


def test_it_edits_name_email_role_and_active(client, admin_user, rep):
    client.force_login(admin_user)
    page = client.get(f"/settings/users/{rep.pk}/edit/")
    assert page.status_code == 200
    assert page.context["form"].initial["role"] == SALES_REP
    response = client.post(
        f"/settings/users/{rep.pk}/edit/",
        _edit(rep, first_name="Samantha", email="samantha@leadhub.test", role=MARKETER,
              is_active=""),
    )
    assert response["Location"] == "/settings/users/"
    rep.refresh_from_db()
    assert (rep.first_name, rep.email, rep.role, rep.is_active) == (
        "Samantha", "samantha@leadhub.test", MARKETER, False
    )
    assert list(rep.groups.values_list("name", flat=True)) == [MARKETER]


def test_it_can_take_a_role_away(client, admin_user, rep):
    client.force_login(admin_user)
    client.post(f"/settings/users/{rep.pk}/edit/", _edit(rep, role=""))
    rep.refresh_from_db()
    assert rep.role == ""
    assert not rep.groups.exists()


def test_it_refuses_to_let_you_deactivate_yourself(client, admin_user):
    AdminFactory()  # not the last admin: the self rule alone refuses
    client.force_login(admin_user)
    response = client.post(f"/settings/users/{admin_user.pk}/edit/", _edit(admin_user,
                                                                          is_active=""))
    assert response.status_code == 400
    assert response.context["form"].errors["is_active"] == [
        "You can't deactivate your own account."
    ]
    admin_user.refresh_from_db()
    assert admin_user.is_active


def test_it_refuses_to_let_you_remove_your_own_admin_role(client, admin_user):
    AdminFactory()
    client.force_login(admin_user)
    response = client.post(f"/settings/users/{admin_user.pk}/edit/",
                           _edit(admin_user, role=MARKETER))
    assert response.status_code == 400
    assert response.context["form"].errors["role"] == [
        "You can't remove your own Admin role; ask another admin to do it."
    ]
    assert User.objects.get(pk=admin_user.pk).role == ADMIN


@pytest.fixture
def user_manager(db):
    """Someone given manage_users directly (not through the Admin role): the one way a
    person other than an admin can reach the users pages, and so the last admin."""
    helper = UserFactory(username="helen")
    helper.user_permissions.add(Permission.objects.get(codename="manage_users"))
    return helper


def test_it_refuses_to_demote_the_last_active_admin(client, admin_user, user_manager):
    AdminFactory(username="ex", is_active=False)  # an inactive admin doesn't count
    client.force_login(user_manager)
    response = client.post(f"/settings/users/{admin_user.pk}/edit/",
                           _edit(admin_user, role=SALES_REP))
    assert response.status_code == 400
    assert response.context["form"].errors["role"] == [
        "Ada Admin is the last active admin: removing their Admin role would leave nobody "
        "who can manage users. Make someone else an admin first."
    ]
    assert User.objects.get(pk=admin_user.pk).role == ADMIN


def test_it_refuses_to_deactivate_the_last_active_admin(client, admin_user, user_manager):
    client.force_login(user_manager)
    response = client.post(f"/settings/users/{admin_user.pk}/edit/",
                           _edit(admin_user, is_active=""))
    assert response.status_code == 400
    assert "is the last active admin" in response.context["form"].errors["is_active"][0]
    assert User.objects.get(pk=admin_user.pk).is_active


def test_it_lets_one_admin_demote_another_while_one_remains(client, admin_user):
    bob = AdminFactory(username="bob")
    client.force_login(admin_user)
    response = client.post(f"/settings/users/{bob.pk}/edit/", _edit(bob, role=MARKETER))
    assert response.status_code == 302
    assert User.objects.get(pk=bob.pk).role == MARKETER


def test_it_changes_nothing_when_one_part_of_an_edit_is_refused(client, admin_user):
    AdminFactory()
    client.force_login(admin_user)
    client.post(f"/settings/users/{admin_user.pk}/edit/",
                _edit(admin_user, first_name="Adelaide", is_active=""))
    admin_user.refresh_from_db()
    assert admin_user.first_name == "Ada"


def test_it_keeps_a_superusers_role_fixed(client, admin_user):
    root = UserFactory(username="root", is_superuser=True)
    client.force_login(admin_user)
    page = client.get(f"/settings/users/{root.pk}/edit/")
    assert page.context["form"].fields["role"].disabled
    response = client.post(f"/settings/users/{root.pk}/edit/", _edit(root, role=MARKETER))
    assert response.status_code == 302
    assert User.objects.get(pk=root.pk).role == ADMIN


def test_it_answers_404_for_an_unknown_user(client, admin_user):
    client.force_login(admin_user)
    assert client.get("/settings/users/999999/edit/").status_code == 404


# --- Password reset by an admin -----------------------------------------------------------


def test_it_resets_another_users_password_and_shows_it_once(client, admin_user, rep):
    client.force_login(admin_user)
    confirm = client.get(f"/settings/users/{rep.pk}/password/")
    assert "Reset Sam Seller’s password?" in confirm.content.decode()
    response = client.post(f"/settings/users/{rep.pk}/password/")
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    password = re.search(r'data-testid="generated-password">([^<]+)<',
                         response.content.decode()).group(1)
    rep.refresh_from_db()
    assert rep.check_password(password)
    assert not rep.check_password("correct horse battery staple")


def test_it_sends_you_to_change_password_for_your_own(client, admin_user):
    client.force_login(admin_user)
    response = client.post(f"/settings/users/{admin_user.pk}/password/")
    assert response["Location"] == f"/settings/users/{admin_user.pk}/edit/"
    assert _messages(response) == [
        "Change your own password from Your account → Change password."
    ]
    admin_user.refresh_from_db()
    assert admin_user.check_password("correct horse battery staple")
