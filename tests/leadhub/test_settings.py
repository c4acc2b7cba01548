"""Settings come from the environment, and a public deployment refuses unsafe ones."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from leadhub.settings import INSECURE_DEFAULT_SECRET_KEY, check_production_safety

BASE_DIR = Path(__file__).resolve().parents[2]
GOOD_KEY = "k3y-" + "x7Qm9Lr2" * 6
PUBLIC = ["leadhub.example.com"]


def test_it_refuses_the_default_secret_key_for_a_public_host():
    with pytest.raises(ImproperlyConfigured, match="SECRET_KEY"):
        check_production_safety(
            secret_key=INSECURE_DEFAULT_SECRET_KEY, debug=False, allowed_hosts=PUBLIC
        )


def test_it_refuses_a_short_secret_key_for_a_public_host():
    with pytest.raises(ImproperlyConfigured, match="SECRET_KEY"):
        check_production_safety(secret_key="tooshort", debug=False, allowed_hosts=PUBLIC)


def test_it_refuses_debug_with_a_public_host():
    with pytest.raises(ImproperlyConfigured, match="DEBUG"):
        check_production_safety(
            secret_key=GOOD_KEY, debug=True, allowed_hosts=["localhost", *PUBLIC]
        )


def test_it_accepts_the_development_defaults_on_local_hosts():
    check_production_safety(
        secret_key=INSECURE_DEFAULT_SECRET_KEY,
        debug=True,
        allowed_hosts=["localhost", "127.0.0.1", "[::1]"],
    )


def test_it_accepts_a_real_key_with_debug_off_on_a_public_host():
    check_production_safety(secret_key=GOOD_KEY, debug=False, allowed_hosts=PUBLIC)


def import_settings(tmp_path, code: str = "import leadhub.settings",
                    **env: str) -> subprocess.CompletedProcess:
    """Import leadhub.settings (``code``) in a fresh interpreter with exactly this
    environment (plus PATH/HOME), as gunicorn or manage.py would in production."""
    keep = {k: os.environ[k] for k in ("PATH", "HOME", "LANG") if k in os.environ}
    return subprocess.run(  # noqa: S603 (the code is the test's own)
        [sys.executable, "-c", code],
        cwd=BASE_DIR,
        env={**keep, "LEADHUB_VAR_DIR": str(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_public_host_without_secret_key_does_not_start(tmp_path):
    result = import_settings(tmp_path, ALLOWED_HOSTS="leadhub.example.com")

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "SECRET_KEY" in result.stderr


def test_a_public_host_with_debug_on_does_not_start(tmp_path):
    result = import_settings(
        tmp_path, ALLOWED_HOSTS="leadhub.example.com", SECRET_KEY=GOOD_KEY, DEBUG="1"
    )

    assert result.returncode != 0
    assert "DEBUG" in result.stderr


def test_a_public_host_with_production_settings_starts(tmp_path):
    result = import_settings(
        tmp_path, ALLOWED_HOSTS="leadhub.example.com", SECRET_KEY=GOOD_KEY, DEBUG="0"
    )

    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("seconds, starts", [("3600", False), ("0", False), ("180", True)])
def test_a_dispatcher_run_must_end_within_its_task_time_limit(tmp_path, seconds, starts):
    result = import_settings(tmp_path, NURTURE_DISPATCH_SECONDS=seconds)

    assert (result.returncode == 0) is starts, result.stderr
    if not starts:
        assert "NURTURE_DISPATCH_SECONDS" in result.stderr


def test_the_longest_dispatcher_run_leaves_its_task_a_minute_for_the_last_batch():
    from django.conf import settings

    from nurture.tasks import nurture_dispatch

    assert nurture_dispatch.soft_time_limit >= settings.NURTURE_DISPATCH_SECONDS_MAX + 60


def test_domains_get_their_own_hourly_limits_from_the_environment():
    from leadhub.settings import _domain_limits

    assert _domain_limits(" Gmail.com=500, outlook.com=300,,x.test=0 ") == {
        "gmail.com": 500, "outlook.com": 300, "x.test": 0}
    assert _domain_limits("") == {}


@pytest.mark.parametrize("value", ["gmail.com", "gmail.com=lots", "=5", "a@b.com=5",
                                   "gmail.com=-1"])
def test_a_malformed_domain_limit_does_not_start(tmp_path, value):
    result = import_settings(tmp_path, NURTURE_DOMAIN_HOURLY_LIMITS=value)

    assert result.returncode != 0
    assert "NURTURE_DOMAIN_HOURLY_LIMITS" in result.stderr


@pytest.mark.parametrize(("value", "threshold"), [(None, "5"), ("1", "5"), ("0", "None")])
def test_prepared_statements_on_postgres_follow_the_environment(tmp_path, value, threshold):
    """On unless DB_PREPARED_STATEMENTS=0 (a pooler that does not keep them)."""
    env = {"DATABASE_URL": "postgres://u@db.internal:5432/leadhub"}
    if value is not None:
        env["DB_PREPARED_STATEMENTS"] = value
    result = import_settings(
        tmp_path, "from leadhub.settings import DATABASES; "
        "print(DATABASES['default'].get('OPTIONS', {}).get('prepare_threshold'))", **env)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == threshold
