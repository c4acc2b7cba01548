"""The benchmark's own database: create (or reuse) it, migrate it, and the API user."""

from __future__ import annotations

from urllib.parse import urlsplit

import psycopg
from psycopg import sql


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def recreate(url: str) -> None:
    """DROP and CREATE the database ``url`` names (connecting to the server's ``postgres``
    database to do it). Refuses names without "bench" in them, so a mistyped
    BENCH_DATABASE_URL cannot drop a real database."""
    name = database_name(url)
    if "bench" not in name:
        raise SystemExit(
            f"Refusing to drop database {name!r}: the benchmark's database name must "
            "contain 'bench' (set BENCH_DATABASE_URL, or use --reuse-db)."
        )
    admin_url = urlsplit(url)._replace(path="/postgres").geturl()
    with psycopg.connect(admin_url, autocommit=True) as conn:
        ident = sql.Identifier(name)
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(ident))


def exists(url: str) -> bool:
    admin_url = urlsplit(url)._replace(path="/postgres").geturl()
    with psycopg.connect(admin_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [database_name(url)]
        ).fetchone()
    return row is not None


def migrate() -> None:
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


API_USERNAME = "bench-admin"


def api_token() -> str:
    """The API token of ``bench-admin``, a user with the Admin role (a group, not a
    superuser, so permission checks cost what they cost a real integration's token)."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from rest_framework.authtoken.models import Token

    from leadhub.roles import ADMIN

    user, created = get_user_model().objects.get_or_create(
        username=API_USERNAME,
        defaults={"email": "bench-admin@leadhub.test", "first_name": "Bench"},
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
        user.groups.add(Group.objects.get(name=ADMIN))
    token, _ = Token.objects.get_or_create(user=user)
    return token.key
