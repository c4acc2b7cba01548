"""Fixtures every LeadHub test suite shares.

- Database: the suite runs on SQLite by default and on Postgres when DATABASE_URL names
  one. Tests marked ``@pytest.mark.postgres`` (concurrency, SKIP LOCKED) are skipped,
  with that reason, on SQLite; CI runs the suite on both.
- Users: ``marketer``, ``rep``, ``admin`` (one per role) and ``outsider`` (no role).
- API: ``api_client_for(user)`` gives a DRF client authenticated by that user's token.
- Browser: ``page`` is a Playwright page in Debian's Chromium; ``live_server`` serves
  the app (tests using them are marked ``e2e``).
- Email: ``smtp_server`` is a real SMTP server (aiosmtpd) on a free port, with Django
  configured to send to it; ``smtp_server.messages`` is what arrived.
"""

import os
import shutil
import socket
import threading
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from django.db import connection
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.factories import AdminFactory, MarketerFactory, SalesRepFactory, UserFactory

CHROMIUM = os.environ.get("LEADHUB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-dev-shm-usage", "--disable-component-update", "--no-first-run"]


def pytest_collection_modifyitems(config, items):
    if connection.vendor != "postgresql":
        skip_pg = pytest.mark.skip(
            reason="needs Postgres: set DATABASE_URL=postgres://… (CI runs these)"
        )
        for item in items:
            if "postgres" in item.keywords:
                item.add_marker(skip_pg)
    if not shutil.which(CHROMIUM) and not os.path.exists(CHROMIUM):
        skip_e2e = pytest.mark.skip(
            reason=f"Chromium not found at {CHROMIUM}: apt-get install -y chromium (CI does)"
        )
        for item in items:
            if "e2e" in item.keywords:
                item.add_marker(skip_e2e)


@pytest.fixture(autouse=True)
def _empty_cache():
    """The cache holds throttle counters and cached menus; no test may see another's."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


# --- Users --------------------------------------------------------------------------------


@pytest.fixture
def marketer(db):
    return MarketerFactory(username="mia", first_name="Mia", last_name="Marketer")


@pytest.fixture
def rep(db):
    return SalesRepFactory(username="sam", first_name="Sam", last_name="Seller")


@pytest.fixture
def admin_user(db):
    return AdminFactory(username="ada", first_name="Ada", last_name="Admin")


@pytest.fixture
def outsider(db):
    """Signed in, but in no role: sees nothing."""
    return UserFactory(username="olly")


# --- API ----------------------------------------------------------------------------------


@pytest.fixture
def api_client_for(db):
    def make(user=None) -> APIClient:
        client = APIClient()
        if user is not None:
            token, _ = Token.objects.get_or_create(user=user)
            client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        return client

    return make


# --- Browser ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def _playwright():
    # Playwright's sync API runs an event loop in this thread; Django's ORM refuses to
    # run inside one unless told the code is really synchronous (it is: tests).
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(_playwright):
    browser = _playwright.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
    )
    yield browser
    browser.close()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1400, "height": 900})
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()


# --- Email --------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SMTPServer:
    """What a real SMTP server (aiosmtpd) received during one test."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        message = message_from_bytes(envelope.original_content, policy=policy.default)
        with self._lock:
            self.messages.append(message)
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_server(settings):
    from aiosmtpd.controller import Controller

    port = _free_port()
    handler = SMTPServer("127.0.0.1", port)
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    try:
        yield handler
    finally:
        controller.stop()
