"""Writes to users, their roles and their API tokens. The settings pages call these; nothing
else changes a user's role, active flag or password, or creates or deletes a token.

Errors are raised as ``django.core.exceptions.ValidationError`` keyed by field ("username",
"email", "password", "role", "is_active", "user"), which forms show beside the field.

The guard rails keep a deployment manageable: nobody locks themselves out, and there is
always at least one active admin left to manage users.
"""

import secrets

from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from rest_framework.authtoken.models import Token

from leadhub.models import User
from leadhub.roles import ADMIN, ROLES, role_of
from leadhub.selectors import active_admins

# No 0/O, 1/l/I: the password is read off a screen and typed or dictated once.
_PASSWORD_ALPHABET = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # noqa: S105


def password_generate() -> str:
    """A random password of four groups of five characters (about 116 bits)."""
    groups = ["".join(secrets.choice(_PASSWORD_ALPHABET) for _ in range(5)) for _ in range(4)]
    return "-".join(groups)


def _check_role(role: str, *, allow_none: bool) -> None:
    if role in ROLES or (allow_none and role == ""):
        return
    choices = ", ".join(ROLES)
    raise ValidationError({"role": f"Choose one of: {choices}."}, code="invalid_choice")


def _username_taken(username: str, *, exclude_pk: int | None = None) -> bool:
    qs = User.objects.filter(username__iexact=username)
    if exclude_pk is not None:
        qs = qs.exclude(pk=exclude_pk)
    return qs.exists()


def _username_taken_error(username: str) -> ValidationError:
    return ValidationError(
        {"username": ValidationError(f"The username “{username}” is already taken.",
                                     code="unique")}
    )


def _validate_password(password: str, user: User) -> None:
    try:
        validate_password(password, user=user)
    except ValidationError as exc:
        raise ValidationError({"password": exc.error_list}) from exc


def _put_in_role(user: User, role: str) -> None:
    """Make ``role`` the user's only role group (other, non-role groups stay)."""
    user.groups.remove(*Group.objects.filter(name__in=ROLES))
    if role:
        user.groups.add(Group.objects.get(name=role))


def _refuse_if_last_admin(user: User, *, field: str, doing: str) -> None:
    """Raise if ``user`` is the only active admin, so taking away their Admin role or
    deactivating them would leave nobody able to manage users."""
    # Two admins demoting each other at the same moment would each see the other still
    # there and both succeed. Locking every active admin's row first makes the second
    # transaction wait for the first, and the count below (a new statement, so under
    # READ COMMITTED it sees the first one's commit) then tells the truth. SQLite runs
    # one writer at a time (IMMEDIATE transactions), so the lock is a no-op there. Rows
    # are locked in username order (User.Meta.ordering), the same in every transaction,
    # so two of these can't deadlock.
    admin_ids = list(active_admins().values_list("pk", flat=True))
    list(User.objects.select_for_update().filter(pk__in=admin_ids).values_list("pk"))
    others = active_admins().exclude(pk=user.pk)
    if user.pk in admin_ids and not others.exists():
        raise ValidationError(
            {field: f"{user.display_name} is the last active admin: {doing} would leave "
                    "nobody who can manage users. Make someone else an admin first."}
        )


@transaction.atomic
def user_create(
    *,
    username: str,
    password: str,
    role: str,
    email: str = "",
    first_name: str = "",
    last_name: str = "",
) -> User:
    """Create a user in exactly one role. ``password`` must pass the password validators
    (use ``password_generate()`` for one that does)."""
    _check_role(role, allow_none=False)
    username = username.strip()
    user = User(
        username=username,
        email=User.objects.normalize_email(email.strip()),
        first_name=first_name.strip(),
        last_name=last_name.strip(),
    )
    user.full_clean(exclude=["password"], validate_unique=False, validate_constraints=False)
    # Usernames are unique regardless of case: "Ann" and "ann" would be two accounts
    # that people (and the login form, which is case-sensitive) confuse.
    if _username_taken(username):
        raise _username_taken_error(username)
    _validate_password(password, user)
    user.set_password(password)
    try:
        # A savepoint, so losing a race on the (case-sensitive) unique index surfaces as
        # the same form error instead of a broken transaction.
        with transaction.atomic():
            user.save()
    except IntegrityError as exc:
        if _username_taken(username):
            raise _username_taken_error(username) from exc
        raise
    _put_in_role(user, role)
    return user


def user_update(*, user: User, first_name: str, last_name: str, email: str) -> User:
    """Change a user's name and email (anyone may do this to their own account)."""
    user.first_name = first_name.strip()
    user.last_name = last_name.strip()
    user.email = User.objects.normalize_email(email.strip())
    user.full_clean(exclude=["password"], validate_unique=False, validate_constraints=False)
    user.save(update_fields=["first_name", "last_name", "email"])
    return user


@transaction.atomic
def user_set_role(*, user: User, role: str, actor: User) -> User:
    """Put the user in ``role`` (or in none, with ""), replacing any role they had."""
    _check_role(role, allow_none=True)
    current = role_of(user)
    if role == current and (role == "" or user.groups.filter(name=role).exists()):
        return user
    if user.is_superuser and role != ADMIN:
        raise ValidationError(
            {"role": f"{user.display_name} is a superuser and has every permission whatever "
                     "their role; take that away in the Django admin first."}
        )
    if current == ADMIN and role != ADMIN:
        if user.pk == actor.pk:
            raise ValidationError(
                {"role": "You can't remove your own Admin role; ask another admin to do it."}
            )
        if user.is_active:
            _refuse_if_last_admin(user, field="role", doing="removing their Admin role")
    _put_in_role(user, role)
    return user


@transaction.atomic
def user_set_active(*, user: User, is_active: bool, actor: User) -> User:
    """Activate or deactivate a user. A deactivated user can't sign in, their sessions
    stop working and their API token is refused; their leads and history stay."""
    if user.is_active == is_active:
        return user
    if not is_active:
        if user.pk == actor.pk:
            raise ValidationError({"is_active": "You can't deactivate your own account."})
        if role_of(user) == ADMIN:
            _refuse_if_last_admin(user, field="is_active", doing="deactivating them")
    user.is_active = is_active
    user.save(update_fields=["is_active"])
    return user


def user_reset_password(*, user: User, actor: User) -> str:
    """Give another user a new generated password and return it (to show once). Their
    sessions on other devices end, because Django ties sessions to the password hash."""
    if user.pk == actor.pk:
        raise ValidationError(
            {"password": "Change your own password from Your account → Change password."}
        )
    password = password_generate()
    user.set_password(password)
    user.save(update_fields=["password"])
    return password


def _token_exists_error(user: User) -> ValidationError:
    return ValidationError(
        {"user": f"{user.display_name} already has an API token; regenerate it from the list "
                 "instead (a user has one token)."}
    )


def token_create(*, user: User) -> Token:
    """Create the user's API token. Its key is returned here and never shown again."""
    if not user.is_active:
        raise ValidationError(
            {"user": f"{user.display_name} is deactivated, so a token for them would be "
                     "refused. Activate the account first."}
        )
    if Token.objects.filter(user=user).exists():
        raise _token_exists_error(user)
    try:
        with transaction.atomic():
            return Token.objects.create(user=user)
    except IntegrityError as exc:  # created meanwhile by someone else
        raise _token_exists_error(user) from exc


def token_revoke(*, token: Token) -> None:
    """Delete a token: requests that send its key get 401 from now on."""
    token.delete()


@transaction.atomic
def token_regenerate(*, token: Token) -> Token:
    """Replace a token with a new key for the same user; the old key stops working."""
    user = token.user
    token_revoke(token=token)
    return Token.objects.create(user=user)
