"""Settings for the test suite: LeadHub's own settings (so DATABASE_URL still picks SQLite
or Postgres), with only what a test run needs changed."""

import os

from leadhub.settings import *  # noqa: F403
from leadhub.settings import REST_FRAMEWORK, STATIC_ROOT, STORAGES

# Hashing passwords slowly is the point in production and a waste in tests.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# WhiteNoise warns on every request when STATIC_ROOT is missing (no collectstatic here).
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
# Templates resolve {% static %} without a collectstatic manifest.
STORAGES = {**STORAGES, "staticfiles": {
    "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
# Follow-up tasks run in-process when their transaction commits.
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_BROKER_URL = "memory://"
# Celery prefers the CELERY_BROKER_URL environment variable over any setting, and CI sets
# it to Redis: take it out of the environment so the line above holds, and keep it for
# the tests that run real workers against a real broker.
REAL_BROKER_URL = os.environ.pop("CELERY_BROKER_URL", "")
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# Tests that check throttling set their own low rate.
REST_FRAMEWORK = {**REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"user": "100000/minute"}}
