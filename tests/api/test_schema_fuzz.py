"""Schemathesis generates requests from /api/schema/ and sends them to the Django WSGI app,
as an admin: no request may get a 5xx, and every answer must be one the schema describes
(status, content type, headers and body).

SCHEMATHESIS_MAX_EXAMPLES sets how many requests each operation gets (default 30; CI can
raise it). The examples are the same on every run (hypothesis' derandomize), so a CI run
fails for a change, not for a draw; SCHEMATHESIS_RANDOM=1 draws new ones to go looking
for bugs (e.g. `SCHEMATHESIS_RANDOM=1 SCHEMATHESIS_MAX_EXAMPLES=300 make test
PYTEST_ARGS=tests/api/test_schema_fuzz.py`), and a failure it finds becomes a test.

Each example runs in a transaction that is rolled back, so what one example
creates (a lead with some email) cannot change how a later one is answered.
"""

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

from tests.factories import ActivityFactory, LeadFactory

MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "30"))
RANDOM = os.environ.get("SCHEMATHESIS_RANDOM") == "1"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


# Loaded when the module is collected (pytest-django has set Django up by then); the
# schema view needs no database. Schemathesis' lazy from_fixture() loader does not work
# with pytest 9.2 (it sets Node._nodeid, which pytest no longer has).
schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())


@pytest.fixture
def _requests_on_the_test_connection(db):
    """Let requests sent straight into the WSGI app use the test's transaction.

    Django's handler closes "old" connections around each request; inside the test's
    transaction that would mark it for rollback. Django's test client switches this off
    for the same reason; this does the same for calls that bypass it.
    """
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def lead_ids(_requests_on_the_test_connection, rep) -> list[int]:
    """Some leads with a timeline, so lists and lookups have rows to render."""
    ids = []
    for i in range(3):
        lead = LeadFactory(email=f"fuzz{i}@example.com", owner=rep if i else None)
        ActivityFactory(lead=lead, actor=rep if i else None)
        ids.append(lead.pk)
    return ids


@pytest.fixture
def admin_token(admin_user) -> str:
    return Token.objects.create(user=admin_user).key


@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=not RANDOM,
    deadline=None,
    # The database fixtures are per test on purpose; each example rolls back its writes.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@schema.parametrize()
def test_it_answers_every_generated_request_as_the_schema_says(case, admin_token, lead_ids):
    for name in ("id", "lead_id"):
        value = str((case.path_parameters or {}).get(name))
        if value.isascii() and value.isdigit() and int(value) < len(lead_ids):
            # Generated ids are mostly 0, 1, 2…: let those name leads that exist, so the
            # update, delete and timeline operations get past their 404.
            case.path_parameters[name] = str(lead_ids[int(value)])
    headers = {"Authorization": f"Token {admin_token}"}
    with transaction.atomic():
        response = case.call(headers=headers)
        case.validate_response(response, checks=CHECKS, headers=headers)
        transaction.set_rollback(True)
