"""POST /api/v1/events/ from the tracking snippet: page views by site key, no login."""

import json
import uuid

import pytest
from django.test import Client

from capture.models import Activity, ActivityKind, Visitor, VisitorEvent
from capture.services.tracking import visitor_sign, visitor_unsign
from tests.brokers import release_broker_pools
from tests.factories import LeadFactory, TrackingSiteFactory, VisitorFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_broker_pool_left_behind():
    # This module's eager tasks open Celery's pool for the test broker; tests/capture/
    # test_outbox.py closes pools without unregistering them, which breaks later
    # publishes if one was left open (see tests.brokers.release_broker_pools).
    yield
    release_broker_pools()

URL = "/api/v1/events/"
ORIGIN = "https://www.example.com"


@pytest.fixture
def site():
    return TrackingSiteFactory(allowed_origins=[ORIGIN, "http://localhost:3000"])


def page_view(client, site, *, content_type="text/plain;charset=UTF-8", origin=ORIGIN, **extra):
    """``extra``: body fields in lower case, WSGI environ entries (REMOTE_ADDR=…) in upper."""
    body = {"site": site.key if hasattr(site, "key") else site, "type": "page_viewed",
            "url": "https://www.example.com/pricing", "title": "Pricing",
            "referrer": "https://www.google.com/",
            **{k: v for k, v in extra.items() if not k.isupper()}}
    meta = {k: v for k, v in extra.items() if k.isupper()}
    if origin:
        meta["HTTP_ORIGIN"] = origin
    return client.post(URL, json.dumps(body), content_type=content_type, **meta)


def test_a_first_page_view_issues_a_visitor_and_keeps_the_view(client, site):
    response = page_view(client, site)

    assert response.status_code == 201
    visitor_id = visitor_unsign(response.json()["visitor"])
    visitor = Visitor.objects.get()
    assert visitor.pk == visitor_id and visitor.lead is None
    event = VisitorEvent.objects.get()
    assert (event.visitor_id, event.site_id, event.kind) == (visitor.pk, site.pk, "page_viewed")
    assert event.data == {"url": "https://www.example.com/pricing", "title": "Pricing",
                          "referrer": "https://www.google.com/"}
    assert not Activity.objects.exists()


def test_a_returning_visitor_keeps_its_id(client, site):
    first = page_view(client, site).json()["visitor"]

    second = page_view(client, site, visitor=first, url="https://www.example.com/features")

    assert second.status_code == 201
    assert second.json()["visitor"] == first
    assert Visitor.objects.count() == 1
    assert VisitorEvent.objects.count() == 2


@pytest.mark.parametrize("forged", [
    str(uuid.uuid4()),  # an id without our signature
    "not-even-an-id",
    visitor_sign(uuid.uuid4())[:-1] + "x",  # a signature changed by hand
])
def test_an_unsigned_or_forged_visitor_gets_a_new_id(client, site, forged):
    someone = VisitorFactory(lead=LeadFactory())

    response = page_view(client, site, visitor=forged)

    assert response.status_code == 201
    issued = visitor_unsign(response.json()["visitor"])
    assert issued is not None and issued != someone.pk
    assert not Activity.objects.filter(kind=ActivityKind.PAGE_VIEWED).exists()


def test_a_visitor_known_as_a_lead_gets_a_page_viewed_activity(
    client, site, settings, django_capture_on_commit_callbacks
):
    settings.ACTIVITY_HANDLERS = []
    lead = LeadFactory()
    visitor = VisitorFactory(lead=lead)

    with django_capture_on_commit_callbacks(execute=True):
        response = page_view(client, site, visitor=visitor_sign(visitor.pk))

    assert response.status_code == 201
    activity = Activity.objects.get(kind=ActivityKind.PAGE_VIEWED)
    assert activity.lead == lead
    assert activity.data == {"url": "https://www.example.com/pricing", "title": "Pricing",
                             "referrer": "https://www.google.com/", "site": site.pk,
                             "visitor": str(visitor.pk)}
    assert activity.processed_at is not None  # queued on commit, ran eagerly here
    assert not VisitorEvent.objects.exists()


def test_it_answers_an_allowed_origin_with_cors_headers(client, site):
    response = page_view(client, site, origin="http://localhost:3000")

    assert response.status_code == 201
    assert response["Access-Control-Allow-Origin"] == "http://localhost:3000"
    assert "Origin" in response["Vary"]


def test_it_refuses_an_origin_the_site_does_not_allow(client, site):
    response = page_view(client, site, origin="https://evil.example.net")

    assert response.status_code == 403
    assert "Access-Control-Allow-Origin" not in response
    assert not VisitorEvent.objects.exists() and not Visitor.objects.exists()


def test_a_preflight_from_an_allowed_origin_gets_the_cors_headers(client, site):
    response = client.options(URL, HTTP_ORIGIN=ORIGIN,
                              HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
                              HTTP_ACCESS_CONTROL_REQUEST_HEADERS="content-type")

    assert response.status_code == 204
    assert response["Access-Control-Allow-Origin"] == ORIGIN
    assert "POST" in response["Access-Control-Allow-Methods"]
    assert "Content-Type" in response["Access-Control-Allow-Headers"]


def test_a_preflight_from_another_origin_is_refused(client, site):
    response = client.options(URL, HTTP_ORIGIN="https://evil.example.net",
                              HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST")

    assert response.status_code == 403
    assert "Access-Control-Allow-Origin" not in response


def test_a_preflight_naming_a_site_is_checked_against_that_site_only(client, site):
    other = TrackingSiteFactory(allowed_origins=["https://other.example.org"])

    allowed = client.options(f"{URL}?site={other.key}", HTTP_ORIGIN="https://other.example.org")
    refused = client.options(f"{URL}?site={other.key}", HTTP_ORIGIN=ORIGIN)

    assert allowed.status_code == 204
    assert refused.status_code == 403


def test_json_bodies_are_accepted_too(client, site):
    assert page_view(client, site, content_type="application/json").status_code == 201


def test_an_unknown_site_is_not_found(client, site):
    response = page_view(client, "no-such-site")

    assert response.status_code == 404
    assert response.json() == {"detail": "No tracking site has this key."}


@pytest.mark.parametrize("key", ["ab\x00cd", "\x00", "k" * 33, "has space", "ключ"])
def test_a_key_no_site_could_have_is_not_found_without_a_query(client, site, key,
                                                               django_assert_num_queries):
    """Found by the schema fuzzer: a NUL byte in the key reached Postgres, which refuses
    it in a text parameter (a 500)."""
    with django_assert_num_queries(0):
        response = page_view(client, key)

    assert response.status_code == 404
    assert response.json() == {"detail": "No tracking site has this key."}


def test_it_rate_limits_page_views_per_client_address(client, site, settings):
    settings.EVENT_RATE_PER_IP = "3/minute"

    answers = [page_view(client, site).status_code for _ in range(4)]
    from_elsewhere = page_view(client, site, REMOTE_ADDR="10.1.2.3")

    assert answers == [201, 201, 201, 429]
    assert from_elsewhere.status_code == 201
    limited = page_view(client, site)
    assert int(limited["Retry-After"]) >= 1
    assert limited["Access-Control-Allow-Origin"] == ORIGIN  # so the script can read it
    assert VisitorEvent.objects.count() == 4


def test_a_forged_forwarded_for_does_not_reset_the_limit(client, site, settings):
    settings.EVENT_RATE_PER_IP = "2/minute"
    settings.TRUSTED_PROXIES = ["127.0.0.1"]

    answers = [page_view(client, site, HTTP_X_FORWARDED_FOR=f"{n}.9.9.9, 203.0.113.7").status_code
               for n in range(1, 4)]

    assert answers == [201, 201, 429]


def test_it_refuses_bad_page_views_per_field(client, site):
    response = page_view(client, site, url="javascript:alert(1)", title="x\x00y")

    assert response.status_code == 400
    assert set(response.json()) == {"url", "title"}
    assert response["Access-Control-Allow-Origin"] == ORIGIN


def test_the_snippet_may_send_page_views_only(client, site):
    response = page_view(client, site, type="trial_started")

    assert response.status_code == 400
    assert "type" in response.json()


def test_long_titles_are_cut_and_odd_referrers_dropped(client, site):
    page_view(client, site, title="T" * 900, referrer="android-app://com.example/")

    event = VisitorEvent.objects.get()
    assert event.data["title"] == "T" * 500
    assert event.data["referrer"] == ""


def test_a_too_large_body_is_refused(client, site, settings):
    settings.EVENT_MAX_BODY_BYTES = 200

    response = page_view(client, site, title="T" * 300)

    assert response.status_code == 413
    assert not VisitorEvent.objects.exists()


def test_a_page_view_ignores_a_session_cookie_and_needs_no_csrf(site, marketer):
    # A website on LeadHub's own domain: the browser sends LeadHub's session cookie.
    client = Client(enforce_csrf_checks=True)
    client.force_login(marketer)

    response = page_view(client, site)

    assert response.status_code == 201
    assert Visitor.objects.count() == 1
