"""The shared cache (Redis in production) as capture's public endpoints use it: for
checks that make abuse harder (a solved proof of work used twice, a view counted twice,
a spam decoy kept per address), never for anything a submission's storage depends on.
So an unreachable cache makes each of them answer "unknown", and the caller fails open,
as the rate limits do (leadhub.ratelimit): losing a submission or a view is worse than
letting a replay or a repeated view through while Redis is down."""

import logging
from typing import Any

from django.core.cache import cache

from leadhub.ratelimit import CACHE_ERRORS

logger = logging.getLogger(__name__)



def cache_add(key: str, value: Any, timeout: int) -> bool | None:
    """cache.add: True if ``key`` was free (and now holds ``value``), False if it was
    taken, None if the cache could not be asked."""
    try:
        return bool(cache.add(key, value, timeout))
    except CACHE_ERRORS as exc:
        logger.warning("Cache unavailable, %s not checked: %s", key.partition(":")[0], exc)
        return None


def cache_get(key: str) -> Any:
    """cache.get, with None for a miss and for an unreachable cache alike."""
    try:
        return cache.get(key)
    except CACHE_ERRORS as exc:
        logger.warning("Cache unavailable, %s not read: %s", key.partition(":")[0], exc)
        return None


def cache_set(key: str, value: Any, timeout: int) -> None:
    try:
        cache.set(key, value, timeout)
    except CACHE_ERRORS as exc:
        logger.warning("Cache unavailable, %s not kept: %s", key.partition(":")[0], exc)


def cache_delete(key: str) -> None:
    """cache.delete; an unreachable cache is logged (the entry then lives until it
    expires)."""
    try:
        cache.delete(key)
    except CACHE_ERRORS as exc:
        logger.warning("Cache unavailable, %s not dropped: %s", key.partition(":")[0], exc)
