"""Sending through an email service (EMAIL_URL=esp://…, django-anymail) instead of SMTP:
anymail's real Mailgun backend against a local stand-in for Mailgun's HTTP API, so what
goes over the wire and how its answers are read is what production does."""

import json
import threading
from base64 import b64decode
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest

from nurture.models import EmailMessage, MessageStatus, Suppression
from tests.factories import LeadFactory
from tests.nurture.conftest import dispatch, enroll, make_sequence

pytestmark = pytest.mark.django_db


class FakeMailgun:
    """POST /v3/<domain>/messages, answering ``status`` with a Mailgun-like body."""

    def __init__(self):
        service = self
        self.status = 200
        self.requests: list[dict] = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                auth = b64decode(self.headers["Authorization"].split()[1]).decode()
                service.requests.append({"path": self.path, "auth": auth,
                                         "type": self.headers["Content-Type"], "body": body})
                answer = ({"id": "<20260302.1@mg.acme.test>", "message": "Queued. Thank you."}
                          if service.status == 200 else {"message": "Nope"})
                data = json.dumps(answer).encode()
                self.send_response(service.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/v3"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def mailgun(settings):
    service = FakeMailgun()
    settings.EMAIL_BACKEND = "anymail.backends.mailgun.EmailBackend"
    settings.ANYMAIL = {"MAILGUN_API_KEY": "key-test", "MAILGUN_API_URL": service.url}
    yield service
    service.close()


def test_a_step_goes_out_through_the_services_api(mailgun):
    lead = LeadFactory(email="ann@example.com", first_name="Ann")
    enroll(make_sequence(), lead)

    assert dispatch().sent == 1

    [request] = mailgun.requests
    assert request["auth"] == "api:key-test"
    assert request["path"].endswith("/messages.mime") or request["path"].endswith("/messages")
    sent = EmailMessage.objects.get()
    assert sent.status == MessageStatus.SENT
    payload = request["body"].decode(errors="replace")
    if request["type"].startswith("application/x-www-form-urlencoded"):
        payload = json.dumps(parse_qs(payload))
    assert "ann@example.com" in payload and "Hi Ann" in payload


def test_a_service_outage_is_retried_later_not_lost(mailgun):
    mailgun.status = 503
    enroll(make_sequence(), LeadFactory())

    result = dispatch()

    assert (result.sent, result.deferred) == (0, 1)
    message = EmailMessage.objects.get()
    assert message.status == MessageStatus.QUEUED and message.next_attempt_at is not None
    assert "email service" in message.error


def test_a_request_the_service_refuses_fails_that_message_visibly(mailgun):
    mailgun.status = 400
    enroll(make_sequence(), LeadFactory(email="bad@example.com"))

    result = dispatch()

    assert result.failed == 1
    message = EmailMessage.objects.get()
    assert message.status == MessageStatus.FAILED and "400" in message.error
    assert not Suppression.objects.exists()  # a bad request is not a bounce


def test_esp_urls_choose_anymails_backend_and_its_settings(monkeypatch):
    import importlib

    import leadhub.settings as project_settings

    monkeypatch.setenv("EMAIL_URL", "esp://amazon_ses")
    monkeypatch.setenv("ANYMAIL_AMAZON_SES_CLIENT_PARAMS", "")
    monkeypatch.setenv("ANYMAIL_WEBHOOK_SECRET", "user:pass")
    try:
        reloaded = importlib.reload(project_settings)
        assert reloaded.EMAIL_BACKEND == "anymail.backends.amazon_ses.EmailBackend"
        assert reloaded.ANYMAIL == {"WEBHOOK_SECRET": "user:pass"}
        monkeypatch.setenv("EMAIL_URL", "esp://../evil")
        with pytest.raises(Exception, match="name the provider"):
            importlib.reload(project_settings)
    finally:
        monkeypatch.delenv("EMAIL_URL")
        monkeypatch.delenv("ANYMAIL_WEBHOOK_SECRET")
        importlib.reload(project_settings)
