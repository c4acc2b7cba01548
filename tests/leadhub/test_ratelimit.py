"""Fixed-window rate limits in the cache (leadhub.ratelimit), on process memory and on
Redis (what a deployment shares between processes)."""

from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache

from leadhub import ratelimit


def _redis_cache():
    if not settings.REAL_BROKER_URL.startswith("redis"):
        pytest.skip("needs a Redis server: set CELERY_BROKER_URL=redis://… (CI does); "
                    "the test uses database 11 on it")
    url = urlsplit(settings.REAL_BROKER_URL)._replace(path="/11").geturl()
    cache = RedisCache(url, {})
    cache.clear()
    return cache


@pytest.fixture(params=["locmem", "redis"])
def cache(request, monkeypatch):
    backend = LocMemCache("ratelimit-test", {}) if request.param == "locmem" else _redis_cache()
    monkeypatch.setattr(ratelimit, "_backend", lambda: backend)
    yield backend
    backend.clear()


def test_hits_past_the_rate_are_refused_until_the_window_ends(cache, monkeypatch):
    monkeypatch.setattr(ratelimit.time, "time", lambda: 1_000_050.0)  # 30 s into a minute

    answers = [ratelimit.rate_limit_hit("k", "3/minute") for _ in range(5)]

    assert [a.allowed for a in answers] == [True, True, True, False, False]
    assert answers[-1].retry_after == 31  # the window's end, rounded up

    monkeypatch.setattr(ratelimit.time, "time", lambda: 1_000_085.0)  # the next minute
    assert ratelimit.rate_limit_hit("k", "3/minute").allowed
    assert ratelimit.rate_limit_hit("other", "3/minute").allowed  # keys count apart


def test_the_first_hit_of_a_window_gives_its_key_an_expiry(cache, monkeypatch):
    monkeypatch.setattr(ratelimit.time, "time", lambda: 1_000_000.0)
    ratelimit.rate_limit_hit("k", "3/minute")
    ratelimit.rate_limit_hit("k", "3/minute")  # counting keeps the expiry the first set

    key = cache.make_and_validate_key(f"rl:k:{1_000_000 // 60}")
    if isinstance(cache, RedisCache):
        ttl = cache._cache.get_client(key).ttl(key)
    else:
        ttl = cache._expire_info[key] - __import__("time").time()
    assert 0 < ttl <= 61
    assert cache.get(f"rl:k:{1_000_000 // 60}") == 2


def test_a_hit_on_redis_is_one_round_trip(monkeypatch):
    cache = _redis_cache()
    monkeypatch.setattr(ratelimit, "_backend", lambda: cache)
    client = cache._cache.get_client("rl", write=True)
    sent = []
    original = client.connection_pool.get_connection

    def counting(*args, **kwargs):
        sent.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(client.connection_pool, "get_connection", counting)
    ratelimit.rate_limit_hit("k", "3/minute")
    ratelimit.rate_limit_hit("k", "3/minute")

    assert len(sent) == 2  # a connection taken once per hit: one pipelined exchange
    cache.clear()


def test_an_unreachable_cache_lets_the_hit_through(monkeypatch, caplog):
    dead = RedisCache("redis://127.0.0.1:1/0", {"OPTIONS": {"socket_connect_timeout": 0.2}})
    monkeypatch.setattr(ratelimit, "_backend", lambda: dead)

    assert ratelimit.rate_limit_hit("k", "1/minute").allowed
    assert "not checked, cache unavailable" in caplog.text
