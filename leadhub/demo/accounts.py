"""The quick start's three accounts and the file that remembers their passwords.

The passwords are generated once and kept in ``$LEADHUB_VAR_DIR/credentials.json``
(mode 0600, never committed: ``var/`` is git-ignored), so every later ``make run``
prints the same logins, and a wiped database gets its users back with the same
passwords. A password someone changed in LeadHub is left alone and no longer printed.
"""

import json
import os
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction

from leadhub.models import User
from leadhub.roles import ADMIN, MARKETER, SALES_REP
from leadhub.services import password_generate, user_create


@dataclass(frozen=True)
class DemoAccount:
    username: str
    first_name: str
    last_name: str
    role: str
    superuser: bool = False

    @property
    def email(self) -> str:
        return f"{self.username}@leadhub.example"


ADMIN_ACCOUNT = DemoAccount("admin", "Ada", "Admin", ADMIN, superuser=True)
DEMO_ACCOUNTS = [
    ADMIN_ACCOUNT,
    DemoAccount("mia", "Mia", "Marketer", MARKETER),
    DemoAccount("sam", "Sam", "Seller", SALES_REP),
]


class Status:
    CREATED = "created"  # new user, new password
    RECREATED = "recreated"  # the database lost the user; same password as before
    EXISTING = "existing"  # the stored password still works
    CHANGED = "password changed in LeadHub"  # the stored one no longer works
    UNKNOWN = "existed already; password not managed here"  # e.g. made by createsuperuser


@dataclass(frozen=True)
class AccountLogin:
    account: DemoAccount
    status: str
    password: str | None  # None when it isn't known to work


def credentials_path() -> Path:
    return Path(settings.VAR_DIR) / "credentials.json"


def credentials_read(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ImproperlyConfigured(
            f"{path} is not readable JSON ({exc}). Fix it, or delete it to get new passwords "
            "for the demo accounts that don't exist yet."
        ) from exc
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in data.items()
    ):
        raise ImproperlyConfigured(f"{path} should map usernames to passwords.")
    return data


def credentials_write(path: Path, passwords: dict[str, str]) -> None:
    """Replace the file atomically, readable by its owner only from the first byte."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(passwords, f, indent=2, sort_keys=True)
            f.write("\n")
        os.chmod(tmp, 0o600)  # O_CREAT's mode doesn't apply to a leftover file
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def accounts_ensure(*, path: Path | None = None) -> list[AccountLogin]:
    """Make sure the admin and the demo users exist; return what to tell the person."""
    path = path or credentials_path()
    stored = credentials_read(path)
    existing = {u.username: u for u in User.objects.filter(
        username__in=[a.username for a in DEMO_ACCOUNTS])}

    # Passwords are written down before the users are created: if creating them fails,
    # the next run recreates them with these passwords rather than losing track of one.
    passwords = dict(stored)
    for account in DEMO_ACCOUNTS:
        if account.username not in existing and account.username not in passwords:
            passwords[account.username] = password_generate()
    if passwords != stored or (path.exists() and path.stat().st_mode & 0o077):
        credentials_write(path, passwords)

    logins = []
    with transaction.atomic():
        for account in DEMO_ACCOUNTS:
            user = existing.get(account.username)
            password = passwords.get(account.username)
            if user is None:
                _create(account, password)
                status = Status.RECREATED if account.username in stored else Status.CREATED
            elif password is None:
                status = Status.UNKNOWN
            elif user.check_password(password):
                status = Status.EXISTING
            else:
                status, password = Status.CHANGED, None
            logins.append(AccountLogin(account, status, password))
    return logins


def _create(account: DemoAccount, password: str) -> User:
    user = user_create(
        username=account.username,
        password=password,
        role=account.role,
        email=account.email,
        first_name=account.first_name,
        last_name=account.last_name,
    )
    if account.superuser:
        # The deployment's first admin is also a Django superuser (as createsuperuser
        # would make it), so /admin/ works for fixing anything the UI can't yet.
        user.is_staff = user.is_superuser = True
        user.save(update_fields=["is_staff", "is_superuser"])
    return user
