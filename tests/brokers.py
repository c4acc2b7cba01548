"""Helpers for tests that point this process's Celery app at another broker."""

import kombu.pools

from leadhub.celery import app as celery_app


def release_broker_pools():
    """Make the next publish connect afresh to the current broker_url.

    The app's connection pool is kombu's global pool for the broker's URL, and the
    producer pool hangs off it; both stay registered in kombu after use. Closing one
    without unregistering it (``force_close_all`` alone) leaves a closed pool that the
    next publish to that URL (even an eager task's) acquires: "Acquire on closed pool".
    kombu.pools.reset() closes and unregisters them all.
    """
    kombu.pools.reset()
    celery_app._pool = None
    celery_app.amqp._producer_pool = None
