"""Schemathesis on POST /api/v1/events/ alone, harder than tests/api/test_schema_fuzz.py:
as an integration with a token, and anonymously with a real site key (so generated page
views reach the public path, not just its 404). No 5xx, and every answer as the schema
describes it. SCHEMATHESIS_MAX_EXAMPLES raises the count (default 60 here)."""

import os

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections, transaction
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.factories import LeadFactory, TrackingSiteFactory

MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "60"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance]
SITE_KEY = "fuzz-site-key"

schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application()).include(
    path="/api/v1/events/"
)


@pytest.fixture
def _requests_on_the_test_connection(db):
    # As in tests/api/test_schema_fuzz.py: requests sent straight into the WSGI app use
    # the test's transaction.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def world(_requests_on_the_test_connection, admin_user, settings):
    settings.ACTIVITY_HANDLERS = []
    settings.EVENT_RATE_PER_IP = "1000000/second"
    TrackingSiteFactory(key=SITE_KEY, allowed_origins=["https://www.example.com"])
    lead_ids = [LeadFactory(email=f"fuzz{i}@example.com").pk for i in range(3)]
    return {"token": Token.objects.create(user=admin_user).key, "leads": lead_ids}


def _call(case, headers):
    body = case.body
    # Let half the generated site keys name the site that exists, so those cases get past
    # the lookup (the other half check the 404).
    if isinstance(body, dict) and isinstance(body.get("site"), str) and len(body["site"]) % 2:
        body["site"] = SITE_KEY
    with transaction.atomic():
        response = case.call(headers=headers)
        case.validate_response(response, checks=CHECKS, headers=headers)
        transaction.set_rollback(True)


@settings(max_examples=MAX_EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@schema.parametrize()
def test_an_integration_gets_only_documented_answers(case, world):
    if isinstance(case.body, dict) and isinstance(case.body.get("lead"), int):
        case.body["lead"] = world["leads"][case.body["lead"] % 3]
    _call(case, {"Authorization": f"Token {world['token']}"})


@settings(max_examples=MAX_EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@schema.parametrize()
def test_a_browser_gets_only_documented_answers(case, world):
    _call(case, {"Origin": "https://www.example.com"})
