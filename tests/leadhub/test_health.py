"""``GET /healthz`` and the container health probe that calls it."""

import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from unittest import mock

import pytest
from django.db import OperationalError

from leadhub.health import probe

pytestmark = pytest.mark.django_db


def test_it_answers_ok_when_the_database_answers(client, django_assert_num_queries):
    with django_assert_num_queries(1):
        response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}
    assert "no-cache" in response["Cache-Control"]
    assert not response.cookies  # no session, no CSRF cookie


def test_it_answers_503_when_the_database_query_fails(client):
    # The driver call is the boundary: this is what a dead Postgres or a locked-up
    # SQLite file looks like to Django.
    failure = OperationalError("connection to server at 127.0.0.1 failed: Connection refused")
    with mock.patch("django.db.backends.utils.CursorWrapper.execute", side_effect=failure):
        response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json() == {"status": "error", "database": "error"}
    assert b"Connection refused" not in response.content  # details go to the log only


def test_it_answers_only_reads(client):
    assert client.head("/healthz").status_code == 200
    assert client.post("/healthz").status_code == 405


@pytest.mark.django_db(transaction=True)
def test_the_probe_passes_against_a_running_server(live_server, monkeypatch):
    monkeypatch.setenv("ALLOWED_HOSTS", "localhost")

    ok, detail = probe(f"{live_server.url}/healthz")

    assert ok, detail
    assert detail.startswith("200 ")


def test_the_probe_explains_an_https_redirect():
    # What Django answers with HTTPS=1 but no PROXY_SSL_HEADER: a redirect to https.
    class RedirectToHttps(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(301)
            self.send_header("Location", "https://leadhub.example.com/healthz")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), RedirectToHttps)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        ok, detail = probe(f"http://127.0.0.1:{server.server_port}/healthz", timeout=5)
    finally:
        server.shutdown()
        server.server_close()

    assert not ok
    assert detail.startswith("301 ") and "PROXY_SSL_HEADER=1" in detail


def test_the_probe_reports_a_server_that_is_not_there():
    ok, detail = probe("http://127.0.0.1:9/healthz", timeout=2)

    assert not ok
    assert "no answer" in detail
