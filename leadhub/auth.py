"""Authentication: Django's ModelBackend with each user's permissions cached, and DRF's
token authentication with one raw statement (TokenAuthentication, at the end).

Every request checks at least one permission, and ModelBackend reads a user's own and
their groups' permissions with two queries per request (about a tenth of a board API
request's time). Here the set is kept in the cache (Redis in production, shared by
every process) per user, stamped with a version:

- a change to one user (saved, their groups or own permissions changed) drops that
  user's entry;
- a change that can reach many users (a group's permissions, a group or a permission
  deleted) moves the version on, which makes every entry stale at once.

The version is read with the entry, in one cache round trip, and an entry is written
with the version read before its permissions were, so a change racing with a read
leaves an entry that is already stale. Entries also expire after PERMISSIONS_SECONDS.

Without a shared cache (no REDIS_URL: each process has its own memory) the signals reach
only the process that made the change, so there entries live LOCAL_PERMISSIONS_SECONDS:
another process may go on using a user's old role for that long. Signing in, tokens and
deactivation are never cached (each request reads the user), so a deactivated user or a
revoked token is refused at once everywhere.
"""

import logging
import uuid
from datetime import UTC

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group, Permission
from django.core.cache import cache
from django.db.models.signals import m2m_changed, post_delete, post_save
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions
from rest_framework.authtoken.models import Token

from leadhub.ratelimit import CACHE_ERRORS

logger = logging.getLogger(__name__)

VERSION_KEY = "auth:perms-version"
PERMISSIONS_SECONDS = 300
LOCAL_PERMISSIONS_SECONDS = 5


def _timeout() -> int:
    backend = settings.CACHES["default"]["BACKEND"]
    local = backend.endswith(("LocMemCache", "DummyCache"))
    return LOCAL_PERMISSIONS_SECONDS if local else PERMISSIONS_SECONDS


def _key(user_pk) -> str:
    return f"auth:perms:{user_pk}"


class CachedPermissionsBackend(ModelBackend):
    def get_all_permissions(self, user_obj, obj=None):
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        if not hasattr(user_obj, "_perm_cache"):
            try:
                cached = self._cached(user_obj)
            except CACHE_ERRORS as exc:  # the cache is down: the database answers
                logger.warning("Permission cache unavailable: %s", exc)
                cached = None
            if cached is not None:
                user_obj._perm_cache = cached
            else:
                super().get_all_permissions(user_obj)  # sets user_obj._perm_cache
        return user_obj._perm_cache

    def _cached(self, user_obj) -> set[str] | None:
        """The user's permissions from the cache, or None after reading them from the
        database and keeping them (a miss, a stale entry, or no version yet)."""
        key = _key(user_obj.pk)
        found = cache.get_many([VERSION_KEY, key])
        version = found.get(VERSION_KEY)
        if version is None:
            cache.add(VERSION_KEY, uuid.uuid4().hex, timeout=None)
            version = cache.get(VERSION_KEY)
        entry = found.get(key)
        if entry is not None and version is not None and entry[0] == version:
            return set(entry[1])
        perms = super().get_all_permissions(user_obj)
        if version is not None:
            cache.set(key, (version, frozenset(perms)), _timeout())
        return perms


def _dropping(action) -> None:
    """Run a cache invalidation; with the cache down, say so (its entries then live
    until they expire, _timeout()) rather than fail the save that changed the roles."""
    try:
        action()
    except CACHE_ERRORS as exc:
        logger.warning("Permission cache not updated after a change (entries expire "
                       "within %d s): %s", _timeout(), exc)


def permissions_changed_for_everyone(**kwargs) -> None:
    _dropping(lambda: cache.set(VERSION_KEY, uuid.uuid4().hex, timeout=None))


def user_changed(sender, instance, **kwargs) -> None:
    _dropping(lambda: cache.delete(_key(instance.pk)))


def memberships_changed(sender, instance, action, reverse, model, pk_set, **kwargs) -> None:
    if not action.startswith("post_"):
        return
    if isinstance(instance, get_user_model()):
        _dropping(lambda: cache.delete(_key(instance.pk)))
    elif action == "post_clear" or pk_set is None:
        permissions_changed_for_everyone()  # a group's members cleared: who they were is gone
    else:
        _dropping(lambda: cache.delete_many([_key(pk) for pk in pk_set]))


def connect_signals() -> None:
    """Called from leadhub.apps once the models are loaded."""
    User = get_user_model()
    post_save.connect(user_changed, sender=User, dispatch_uid="perms-user-saved")
    post_delete.connect(user_changed, sender=User, dispatch_uid="perms-user-deleted")
    m2m_changed.connect(memberships_changed, sender=User.groups.through,
                        dispatch_uid="perms-user-groups")
    m2m_changed.connect(memberships_changed, sender=User.user_permissions.through,
                        dispatch_uid="perms-user-permissions")
    m2m_changed.connect(permissions_changed_for_everyone, sender=Group.permissions.through,
                        dispatch_uid="perms-group-permissions")
    for model in (Group, Permission):
        post_delete.connect(permissions_changed_for_everyone, sender=model,
                            dispatch_uid=f"perms-{model.__name__}-deleted")


class TokenAuthentication(authentication.TokenAuthentication):
    """DRF's token authentication (``Authorization: Token <key>``), with the token and its
    user read by one raw statement: building and compiling the ORM's select_related
    query cost more than running it (a fifth of a small API request's fixed cost).
    Nothing is cached: a revoked token or a deactivated user is refused at once."""

    def authenticate_credentials(self, key):
        User = get_user_model()
        token_table = Token._meta.db_table
        sql = (f"SELECT u.*, t.created AS token_created FROM {User._meta.db_table} u "  # noqa: S608
               f"JOIN {token_table} t ON t.user_id = u.{User._meta.pk.column} WHERE t.key = %s")
        user = next(iter(User.objects.raw(sql, [key])), None)
        if user is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        if not user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        return user, Token(key=key, user=user, created=_aware(user.token_created))


def _aware(value):
    """A date-time from a raw column: SQLite gives naive UTC (or text)."""
    if isinstance(value, str):
        value = parse_datetime(value)
    if value is not None and timezone.is_naive(value):
        value = timezone.make_aware(value, UTC)
    return value
