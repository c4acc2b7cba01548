"""Reads for the settings pages: users, roles in plain words, API tokens."""

from django.db.models import Exists, OuterRef, Q, QuerySet
from rest_framework.authtoken.models import Token

from leadhub.models import User
from leadhub.roles import ADMIN, MARKETER, ROLE_PERMISSIONS, ROLES, SALES_REP

# Every permission a role can hold, as a person would say what it lets them do.
# Order is the order the account page lists them in.
CAPABILITIES: dict[str, str] = {
    "capture.view_lead": "See leads and their activity timelines",
    "capture.add_lead": "Add leads by hand",
    "capture.change_lead": "Edit leads’ contact details",
    "capture.delete_lead": "Delete leads",
    "leadhub.manage_forms": "Build forms and landing pages",
    "leadhub.manage_scoring": "Edit scoring and grading rules",
    "leadhub.manage_nurture": "Write drip email sequences",
    "leadhub.work_pipeline": "Work the pipeline: accept MQLs, move leads between stages, "
                             "assign owners",
    "leadhub.manage_users": "Manage users, roles and API tokens",
}

# role_of()'s order when a user is (wrongly) in several role groups.
ROLE_PRECEDENCE = [ADMIN, MARKETER, SALES_REP]

# The filter value for "users in no role" (a role name can't be empty in a URL).
NO_ROLE = "none"


def capabilities_of(user: User) -> list[tuple[str, bool]]:
    """(what it allows, whether this user may) for every capability, from the user's
    actual permissions (so a superuser, or a group edited by hand, shows the truth)."""
    return [(label, user.has_perm(perm)) for perm, label in CAPABILITIES.items()]


def role_summary(role: str) -> list[str]:
    """What a role allows, in words, from ROLE_PERMISSIONS."""
    return [CAPABILITIES[p] for p in CAPABILITIES if p in ROLE_PERMISSIONS.get(role, [])]


def _in_group(name: str) -> Exists:
    return Exists(
        User.groups.through.objects.filter(user_id=OuterRef("pk"), group__name=name)
    )


def _in_any_role() -> Exists:
    return Exists(
        User.groups.through.objects.filter(user_id=OuterRef("pk"), group__name__in=ROLES)
    )


def active_admins() -> QuerySet[User]:
    """Active users with the Admin role (superusers count: they can do everything)."""
    return User.objects.filter(Q(_in_group(ADMIN)) | Q(is_superuser=True), is_active=True)


def user_list(*, search: str = "", role: str = "", active: bool | None = None) -> QuerySet[User]:
    """Users for the users page. ``role`` is a role name, NO_ROLE, or "" for all."""
    users = User.objects.prefetch_related(
        # role_of() reads user.groups.all(): one query for the whole page.
        "groups"
    ).order_by("username")
    search = search.strip()
    if search:
        users = users.filter(
            Q(username__icontains=search)
            | Q(first_name__icontains=search)
            | Q(last_name__icontains=search)
            | Q(email__icontains=search)
        )
    if role == ADMIN:
        users = users.filter(Q(_in_group(ADMIN)) | Q(is_superuser=True))
    elif role in ROLES:
        # As role_of() decides: a user in two role groups has the one that comes first.
        users = users.filter(_in_group(role), is_superuser=False)
        for higher in ROLE_PRECEDENCE[: ROLE_PRECEDENCE.index(role)]:
            users = users.exclude(_in_group(higher))
    elif role == NO_ROLE:
        users = users.filter(is_superuser=False).exclude(_in_any_role())
    if active is not None:
        users = users.filter(is_active=active)
    return users


def user_counts() -> dict[str, int]:
    return {
        "users": User.objects.filter(is_active=True).count(),
        "tokens": Token.objects.count(),
    }


def token_list() -> QuerySet[Token]:
    return Token.objects.select_related("user").prefetch_related("user__groups").order_by(
        "user__username"
    )


def users_without_token() -> QuerySet[User]:
    """Active users who could be given a token."""
    return (
        User.objects.filter(is_active=True, auth_token__isnull=True)
        .prefetch_related("groups")
        .order_by("username")
    )
