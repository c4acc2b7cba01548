"""API clients for the standard users (the cache, which holds throttle counters, is
emptied around every test by tests/conftest.py)."""

import pytest


@pytest.fixture
def marketer_api(api_client_for, marketer):
    return api_client_for(marketer)


@pytest.fixture
def rep_api(api_client_for, rep):
    return api_client_for(rep)


@pytest.fixture
def admin_api(api_client_for, admin_user):
    return api_client_for(admin_user)
