"""The three roles, as Django groups, and exactly which permissions each holds.

Groups are synced to this table after every ``migrate`` (apps.py), so a deployment's
roles always match the code; edit the table, not the groups in the admin.
"""

from django.apps import apps as django_apps
from django.contrib.auth.models import Group, Permission

MARKETER = "Marketer"
SALES_REP = "Sales rep"
ADMIN = "Admin"
ROLES = [MARKETER, SALES_REP, ADMIN]

_READ_WRITE_LEADS = ["capture.view_lead", "capture.add_lead", "capture.change_lead"]

ROLE_PERMISSIONS: dict[str, list[str]] = {
    # Marketers own acquisition: forms, rules, sequences; they read the pipeline but do
    # not move leads through it, and may not delete leads.
    MARKETER: [
        *_READ_WRITE_LEADS,
        "leadhub.manage_forms",
        "leadhub.manage_scoring",
        "leadhub.manage_nurture",
    ],
    # Sales reps work the pipeline; they cannot edit scoring rules or forms.
    SALES_REP: [
        *_READ_WRITE_LEADS,
        "leadhub.work_pipeline",
    ],
    # Admins can do everything, and are the only ones who manage users and API tokens.
    ADMIN: [
        *_READ_WRITE_LEADS,
        "capture.delete_lead",
        "leadhub.manage_forms",
        "leadhub.manage_scoring",
        "leadhub.manage_nurture",
        "leadhub.work_pipeline",
        "leadhub.manage_users",
    ],
}


def _permission(dotted: str) -> Permission:
    app_label, codename = dotted.split(".")
    return Permission.objects.get(content_type__app_label=app_label, codename=codename)


def roles_sync() -> None:
    for name, dotted_perms in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.set([_permission(p) for p in dotted_perms])


def roles_sync_after_migrate(sender, *, apps=None, plan=None, **kwargs) -> None:
    # post_migrate fires once per app, in INSTALLED_APPS order, and each app's
    # permissions exist only after its own signal; sync once, after the last app.
    last = [c for c in django_apps.get_app_configs() if c.models_module][-1]
    if sender.label == last.label:
        roles_sync()


def role_of(user) -> str:
    """The user's role name, or "" for a user with no role (who can see nothing)."""
    if user.is_superuser:
        return ADMIN
    names = {g.name for g in user.groups.all()}
    for role in (ADMIN, MARKETER, SALES_REP):
        if role in names:
            return role
    return ""
