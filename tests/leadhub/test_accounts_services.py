"""leadhub.services: the rules behind the settings pages, called directly."""

import threading

import pytest
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import connection
from rest_framework.authtoken.models import Token

from leadhub import services
from leadhub.models import User
from leadhub.roles import ADMIN, MARKETER, SALES_REP
from leadhub.selectors import active_admins, capabilities_of, role_summary
from tests.factories import AdminFactory, UserFactory


def _errors(exc_info) -> dict[str, list[str]]:
    return exc_info.value.message_dict


def test_it_generates_passwords_that_pass_the_validators():
    passwords = {services.password_generate() for _ in range(50)}
    assert len(passwords) == 50
    for password in list(passwords)[:5]:
        assert len(password) == 23
        validate_password(password, user=User(username="nina", email="nina@x.test"))


@pytest.mark.django_db
def test_it_creates_a_user_in_exactly_one_role_group():
    user = services.user_create(
        username=" nina ", email="Nina@EXAMPLE.com", role=MARKETER,
        password=services.password_generate(),
    )
    assert user.username == "nina"
    assert user.email == "Nina@example.com"
    assert list(user.groups.values_list("name", flat=True)) == [MARKETER]


@pytest.mark.django_db
def test_it_refuses_to_create_a_user_without_one_of_the_roles():
    for role in ("", "Owner"):
        with pytest.raises(ValidationError) as exc:
            services.user_create(username="nina", role=role, password="x")
        assert list(_errors(exc)) == ["role"]
    assert not User.objects.exists()


def test_it_refuses_a_username_taken_in_another_case(rep):
    with pytest.raises(ValidationError) as exc:
        services.user_create(username="Sam", role=SALES_REP,
                             password=services.password_generate())
    assert _errors(exc) == {"username": ["The username “Sam” is already taken."]}


def test_it_replaces_every_role_group_and_keeps_other_groups(admin_user, rep):
    Group.objects.create(name="Newsletter editors").user_set.add(rep)
    rep.groups.add(Group.objects.get(name=MARKETER))  # two roles, as a hand edit could leave
    services.user_set_role(user=rep, role=ADMIN, actor=admin_user)
    assert set(rep.groups.values_list("name", flat=True)) == {ADMIN, "Newsletter editors"}


def test_it_refuses_to_remove_your_own_admin_role(admin_user):
    AdminFactory()
    with pytest.raises(ValidationError) as exc:
        services.user_set_role(user=admin_user, role=SALES_REP, actor=admin_user)
    assert list(_errors(exc)) == ["role"]
    assert admin_user.role == ADMIN


def test_it_refuses_to_demote_the_last_active_admin(admin_user, rep):
    AdminFactory(is_active=False)
    with pytest.raises(ValidationError) as exc:
        services.user_set_role(user=admin_user, role=SALES_REP, actor=rep)
    assert "the last active admin" in _errors(exc)["role"][0]
    with pytest.raises(ValidationError) as exc:
        services.user_set_active(user=admin_user, is_active=False, actor=rep)
    assert "the last active admin" in _errors(exc)["is_active"][0]


def test_it_counts_an_active_superuser_as_an_admin_who_remains(admin_user, rep):
    UserFactory(is_superuser=True)
    services.user_set_role(user=admin_user, role=SALES_REP, actor=rep)
    assert admin_user.role == SALES_REP


def test_it_lets_an_inactive_admin_be_demoted(admin_user, rep):
    gone = AdminFactory(is_active=False)
    services.user_set_role(user=gone, role="", actor=admin_user)
    assert gone.role == ""


def test_it_refuses_to_deactivate_yourself(admin_user):
    AdminFactory()
    with pytest.raises(ValidationError) as exc:
        services.user_set_active(user=admin_user, is_active=False, actor=admin_user)
    assert _errors(exc) == {"is_active": ["You can't deactivate your own account."]}


def test_it_deactivates_and_reactivates_a_user(admin_user, rep):
    services.user_set_active(user=rep, is_active=False, actor=admin_user)
    assert not User.objects.get(pk=rep.pk).is_active
    services.user_set_active(user=rep, is_active=True, actor=admin_user)
    assert User.objects.get(pk=rep.pk).is_active


def test_it_validates_email_on_update(rep):
    with pytest.raises(ValidationError) as exc:
        services.user_update(user=rep, first_name="Sam", last_name="", email="not-an-email")
    assert list(_errors(exc)) == ["email"]


def test_it_resets_a_password_to_a_new_generated_one(admin_user, rep):
    password = services.user_reset_password(user=rep, actor=admin_user)
    assert User.objects.get(pk=rep.pk).check_password(password)


def test_it_creates_one_token_per_user(rep):
    token = services.token_create(user=rep)
    assert len(token.key) == 40
    with pytest.raises(ValidationError) as exc:
        services.token_create(user=rep)
    assert list(_errors(exc)) == ["user"]


def test_it_regenerates_a_token_with_a_new_key(rep):
    old = services.token_create(user=rep)
    new = services.token_regenerate(token=old)
    assert new.key != old.key
    assert list(Token.objects.filter(user=rep).values_list("key", flat=True)) == [new.key]


def test_it_describes_capabilities_from_real_permissions(marketer, outsider):
    allowed = {label for label, ok in capabilities_of(marketer) if ok}
    assert allowed == set(role_summary(MARKETER))
    assert "Delete leads" not in allowed
    assert not any(ok for _, ok in capabilities_of(outsider))


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_it_keeps_one_admin_when_two_admins_demote_each_other_at_once():
    a, b = AdminFactory(username="a"), AdminFactory(username="b")
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def demote(target_pk: int, actor_pk: int) -> None:
        try:
            target, actor = User.objects.get(pk=target_pk), User.objects.get(pk=actor_pk)
            barrier.wait()
            services.user_set_role(user=target, role=MARKETER, actor=actor)
            outcomes.append("demoted")
        except ValidationError:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=demote, args=(a.pk, b.pk)),
               threading.Thread(target=demote, args=(b.pk, a.pk))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["demoted", "refused"]
    assert active_admins().count() == 1
