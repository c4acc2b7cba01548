"""leadhub.auth.CachedPermissionsBackend: a user's permissions come from the cache after
the first check, and every way they can change reaches the next check at once."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext

from leadhub.roles import ADMIN, MARKETER, SALES_REP
from tests.factories import SalesRepFactory, UserFactory

pytestmark = pytest.mark.django_db

def fresh(user):
    """The user as the next request loads it (no per-object permission cache)."""
    return get_user_model().objects.get(pk=user.pk)


def checks(user, perm="capture.view_lead") -> tuple[bool, int]:
    user = fresh(user)
    with CaptureQueriesContext(connection) as queries:
        allowed = user.has_perm(perm)
    return allowed, len(queries)


def test_the_second_request_reads_the_permissions_without_a_query():
    rep = SalesRepFactory()

    assert checks(rep) == (True, 2)  # the user's own and their groups' permissions
    assert checks(rep) == (True, 0)
    assert fresh(rep).get_all_permissions() == fresh(rep).get_group_permissions()


def test_leaving_and_joining_a_group_takes_effect_at_once():
    rep = SalesRepFactory()
    assert checks(rep)[0] is True
    rep.groups.remove(Group.objects.get(name=SALES_REP))
    assert checks(rep)[0] is False
    Group.objects.get(name=MARKETER).user_set.add(rep)  # from the group's side
    assert checks(rep)[0] is True
    Group.objects.get(name=MARKETER).user_set.clear()
    assert checks(rep)[0] is False


def test_a_group_losing_a_permission_reaches_all_its_members():
    first, second = SalesRepFactory(), SalesRepFactory()
    assert checks(first)[0] and checks(second)[0]
    group = Group.objects.get(name=SALES_REP)
    group.permissions.remove(Permission.objects.get(codename="view_lead"))
    assert checks(first)[0] is False
    assert checks(second)[0] is False


def test_a_deleted_group_or_permission_reaches_everyone():
    user = UserFactory()
    extra = Group.objects.create(name="Readers")
    extra.permissions.add(Permission.objects.get(codename="view_lead"))
    user.groups.add(extra)
    assert checks(user)[0] is True
    extra.delete()
    assert checks(user)[0] is False

    user.user_permissions.add(Permission.objects.get(codename="view_lead"))
    assert checks(user)[0] is True
    Permission.objects.get(codename="view_lead").delete()
    assert checks(user)[0] is False


def test_own_permissions_deactivation_and_superuser_take_effect_at_once():
    user = UserFactory()
    assert checks(user)[0] is False
    user.user_permissions.add(Permission.objects.get(codename="view_lead"))
    assert checks(user)[0] is True
    user.is_active = False
    user.save()
    assert checks(user)[0] is False
    user.is_active, user.is_superuser = True, True
    user.save()
    user.user_permissions.clear()
    assert checks(user, "leadhub.manage_users")[0] is True


def test_role_and_active_changes_through_the_services_take_effect_at_once():
    from leadhub.services import user_set_active, user_set_role

    admin = UserFactory(role=ADMIN)
    rep = SalesRepFactory()
    assert checks(rep, "leadhub.manage_users")[0] is False
    user_set_role(user=rep, role=ADMIN, actor=admin)
    assert checks(rep, "leadhub.manage_users")[0] is True
    user_set_active(user=rep, is_active=False, actor=admin)
    assert checks(rep, "leadhub.manage_users")[0] is False


def test_entries_live_briefly_without_a_shared_cache(settings):
    from leadhub import auth

    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    assert auth._timeout() == auth.LOCAL_PERMISSIONS_SECONDS
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                   "LOCATION": "redis://127.0.0.1:6379/14"}}
    assert auth._timeout() == auth.PERMISSIONS_SECONDS


def test_token_authentication_reads_the_token_and_its_user_in_one_statement(client):
    from rest_framework.authtoken.models import Token

    rep = SalesRepFactory()
    token = Token.objects.create(user=rep)
    headers = {"Authorization": f"Token {token.key}"}
    client.get("/api/v1/leads/", headers=headers)  # permissions cached

    with CaptureQueriesContext(connection) as queries:
        response = client.get("/api/v1/leads/", headers=headers)

    assert response.status_code == 200
    auth = [q["sql"] for q in queries if "authtoken_token" in q["sql"]]
    assert len(auth) == 1 and "JOIN" in auth[0]

    assert client.get("/api/v1/leads/", headers={"Authorization": "Token nope"}
                      ).status_code == 401
    rep.is_active = False
    rep.save()
    response = client.get("/api/v1/leads/", headers=headers)
    assert response.status_code == 401
    assert response.json()["detail"] == "User inactive or deleted."
    rep.is_active = True
    rep.save()
    token.delete()
    assert client.get("/api/v1/leads/", headers=headers).status_code == 401


def test_the_request_carries_the_token_it_was_made_with():
    from rest_framework.authtoken.models import Token

    from leadhub.auth import TokenAuthentication

    rep = SalesRepFactory()
    token = Token.objects.create(user=rep)
    user, auth = TokenAuthentication().authenticate_credentials(token.key)
    assert (user, auth.key, auth.user_id, auth.created) == (rep, token.key, rep.pk,
                                                            token.created)


# A Redis nobody listens on: every cache call fails at once (connection refused).
UNREACHABLE_REDIS = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                 "LOCATION": "redis://127.0.0.1:1/0"}}


def test_with_the_cache_down_permissions_come_from_the_database(settings, caplog):
    from leadhub.services import user_set_role

    admin = UserFactory(role=ADMIN)
    rep = SalesRepFactory()
    assert checks(rep)[0] is True  # cached while the cache worked
    settings.CACHES = UNREACHABLE_REDIS

    assert checks(rep) == (True, 2)  # answered, from the database
    user_set_role(user=rep, role=MARKETER, actor=admin)  # the change is saved regardless
    assert checks(rep, "leadhub.manage_users")[0] is False
    assert checks(admin, "leadhub.manage_users")[0] is True
    assert "Permission cache unavailable" in caplog.text
    assert "Permission cache not updated after a change" in caplog.text
