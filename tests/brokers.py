"""Helpers for tests that point this process's Celery app at another broker."""

from contextlib import contextmanager

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


@contextmanager
def publishing_to(broker_url: str):
    """This process's Celery app publishing for real (not eagerly) to ``broker_url``."""
    keys = ("task_always_eager", "broker_url", "broker_connection_timeout",
            "task_publish_retry_policy")
    saved = {k: celery_app.conf[k] for k in keys}
    celery_app.conf.update(
        task_always_eager=False,
        broker_url=broker_url,
        broker_connection_timeout=1.0,
        task_publish_retry_policy={"max_retries": 1, "interval_start": 0,
                                   "interval_step": 0.1, "interval_max": 0.1},
    )
    release_broker_pools()
    try:
        yield
    finally:
        celery_app.conf.update(saved)
        release_broker_pools()
