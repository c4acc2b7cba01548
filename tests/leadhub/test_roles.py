"""The permission matrix of the three roles, and the groups that carry it."""

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command

from leadhub.models import User
from leadhub.roles import ADMIN, MARKETER, ROLE_PERMISSIONS, ROLES, SALES_REP, role_of, roles_sync
from tests.factories import UserFactory

# Written out from the issue rather than read from ROLE_PERMISSIONS, so a change to the
# table that breaks the product's promises fails here.
MATRIX = {
    #                          marketer, rep,   admin
    "capture.view_lead": (True, True, True),
    "capture.add_lead": (True, True, True),
    "capture.change_lead": (True, True, True),
    "capture.delete_lead": (False, False, True),
    "leadhub.manage_forms": (True, False, True),
    "leadhub.manage_scoring": (True, False, True),
    "leadhub.manage_nurture": (True, False, True),
    "leadhub.work_pipeline": (False, True, True),
    "leadhub.manage_users": (False, False, True),
}


@pytest.mark.parametrize("perm", MATRIX)
def test_it_gives_each_role_exactly_the_permissions_of_the_matrix(
    perm, marketer, rep, admin_user, outsider
):
    expected = dict(zip(("marketer", "rep", "admin"), MATRIX[perm], strict=True))
    actual = {
        "marketer": marketer.has_perm(perm),
        "rep": rep.has_perm(perm),
        "admin": admin_user.has_perm(perm),
    }
    assert actual == expected
    assert not outsider.has_perm(perm)


def test_it_keeps_reps_out_of_scoring_rules_and_forms(rep):
    assert not rep.has_perm("leadhub.manage_scoring")
    assert not rep.has_perm("leadhub.manage_forms")


def test_it_keeps_marketers_from_deleting_leads_and_working_the_pipeline(marketer):
    assert not marketer.has_perm("capture.delete_lead")
    assert not marketer.has_perm("leadhub.work_pipeline")


def test_it_lets_only_admins_manage_users(marketer, rep, admin_user, outsider):
    holders = User.objects.with_perm("leadhub.manage_users", include_superusers=False)
    assert list(holders) == [admin_user]


def test_it_grants_no_permission_beyond_the_matrix(marketer, rep, admin_user):
    for user, column in ((marketer, 0), (rep, 1), (admin_user, 2)):
        granted = {p for p, row in MATRIX.items() if row[column]}
        assert user.get_all_permissions() == granted, user.role


def _group_perms(name: str) -> set[str]:
    return {
        f"{app}.{codename}"
        for app, codename in Group.objects.get(name=name).permissions.values_list(
            "content_type__app_label", "codename"
        )
    }


@pytest.mark.django_db
def test_it_syncs_groups_to_the_table_and_removes_stray_permissions():
    marketers = Group.objects.get(name=MARKETER)
    marketers.permissions.add(Permission.objects.get(codename="delete_lead"))
    Group.objects.get(name=SALES_REP).delete()

    roles_sync()
    roles_sync()  # idempotent

    assert set(Group.objects.filter(name__in=ROLES).values_list("name", flat=True)) == set(ROLES)
    for role in ROLES:
        assert _group_perms(role) == set(ROLE_PERMISSIONS[role]), role


@pytest.mark.django_db
def test_it_recreates_the_groups_exactly_after_migrate():
    Group.objects.get(name=ADMIN).permissions.clear()
    Group.objects.get(name=MARKETER).permissions.add(
        Permission.objects.get(codename="manage_users")
    )
    Group.objects.get(name=SALES_REP).delete()

    call_command("migrate", verbosity=0, interactive=False)

    for role in ROLES:
        assert _group_perms(role) == set(ROLE_PERMISSIONS[role]), role


def test_it_names_the_role_of_each_user(marketer, rep, admin_user, outsider):
    assert [role_of(u) for u in (marketer, rep, admin_user, outsider)] == [
        MARKETER, SALES_REP, ADMIN, ""
    ]


@pytest.mark.django_db
def test_it_treats_a_superuser_without_groups_as_admin():
    root = UserFactory(is_superuser=True)
    assert role_of(root) == ADMIN
    assert root.has_perm("leadhub.manage_users")
