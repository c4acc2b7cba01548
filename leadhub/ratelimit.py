"""Fixed-window rate limits kept in the cache (Redis when REDIS_URL is set, so every web
process shares them; process memory on the embedded default)."""

import logging
import time
from dataclasses import dataclass

from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from django.core.cache.backends.redis import RedisCache
from redis.exceptions import RedisError

# What the Redis cache backend raises when the server is down or unreachable (connection
# refused, timeouts, a dropped socket). Every cache caller that fails open catches these.
CACHE_ERRORS = (RedisError, OSError)

logger = logging.getLogger(__name__)

PERIODS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    """"30/minute" → (30, 60)."""
    count, _, period = rate.partition("/")
    return int(count), PERIODS[period.strip().rstrip("s")]


@dataclass(frozen=True)
class RateLimit:
    allowed: bool
    retry_after: int  # seconds until the window resets (when not allowed)


def _backend():
    return caches[DEFAULT_CACHE_ALIAS]


def _count(cache, cache_key: str, period: int) -> int:
    """This window's hits on the key, this one included."""
    if isinstance(cache, RedisCache):
        # One round trip: create the window's key with its expiry if it is new, then
        # count (Django's incr is two: EXISTS, then INCR; and add one more). Django's
        # Redis serializer stores integers as they are, so INCR and get() agree.
        key = cache.make_and_validate_key(cache_key)
        pipe = cache._cache.get_client(key, write=True).pipeline(transaction=False)
        pipe.set(key, 0, ex=period + 1, nx=True)
        pipe.incr(key)
        return pipe.execute()[1]
    # incr first: only the window's first hit also needs the add (one cache call a hit
    # instead of two; the add sets the window's expiry, which incr keeps).
    try:
        return cache.incr(cache_key)
    except ValueError:  # the window's first hit (or its key was evicted); when another
        # request adds the key in between, this one counts after it
        return 1 if cache.add(cache_key, 1, timeout=period + 1) else cache.incr(cache_key)


def rate_limit_hit(key: str, rate: str) -> RateLimit:
    """Count one hit against ``key``; not allowed once the window's count passes the
    rate. A cache failure allows the request: losing a submission is worse than
    letting a burst through."""
    limit, period = parse_rate(rate)
    now = time.time()
    window = int(now // period)
    try:
        count = _count(_backend(), f"rl:{key}:{window}", period)
    except CACHE_ERRORS as exc:
        logger.warning("Rate limit %s not checked, cache unavailable: %s", key, exc)
        return RateLimit(True, 0)
    if count <= limit:
        return RateLimit(True, 0)
    return RateLimit(False, max(1, int((window + 1) * period - now) + 1))
