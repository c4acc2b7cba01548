"""Nurture's fixtures: a real SMTP server (aiosmtpd) that can be told to defer or refuse
recipients, and helpers to build sequences and run the dispatcher."""

import logging
from datetime import datetime

import pytest
from django.db.models.functions import Now
from django.utils import timezone

from nurture.models import EmailMessage, MessageStatus
from nurture.services import dispatch_batch, enrollment_create, sequence_create
from tests.conftest import SMTPServer, _free_port

# aiosmtpd logs every SMTP command at INFO: noise in a failing test's output.
logging.getLogger("mail.log").setLevel(logging.WARNING)


class ScriptedSMTP(SMTPServer):
    """Records what arrived; answers RCPT per address as scripted: ``defer(address, n)``
    answers 451 n times then accepts, ``refuse(address)`` always answers 550."""

    def __init__(self, host: str, port: int):
        super().__init__(host, port)
        self.scripted: dict[str, list[str]] = {}
        self.refused: dict[str, str] = {}

    def defer(self, address: str, times: int = 1) -> None:
        self.scripted[address.lower()] = ["451 4.3.0 Try again later"] * times

    def refuse(self, address: str) -> None:
        self.refused[address.lower()] = "550 5.1.1 No such user here"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        with self._lock:
            queue = self.scripted.get(address.lower())
            if queue:
                return queue.pop(0)
            if address.lower() in self.refused:
                return self.refused[address.lower()]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    def to(self, address: str):
        return [m for m in self.messages if m["To"] == address]


@pytest.fixture
def smtp(settings):
    from aiosmtpd.controller import Controller

    port = _free_port()
    handler = ScriptedSMTP("127.0.0.1", port)
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 10
    try:
        yield handler
    finally:
        controller.stop()


@pytest.fixture(autouse=True)
def _public_url(settings):
    settings.PUBLIC_URL = "https://leadhub.example.org"


STEP = {"subject": "Hi {{ first_name|default:\"there\" }}",
        "body": "Hello {{ first_name|default:\"there\" }} at {{ company }}.\n\n"
                "Read [the guide](https://www.example.com/guide?a=1&b=2).",
        "delay_minutes": 0}


def make_sequence(*, steps=None, **values):
    values.setdefault("name", "Welcome")
    values.setdefault("status", "active")
    return sequence_create(steps=steps if steps is not None else [dict(STEP)], **values)


def enroll(sequence, lead, now: datetime | None = None):
    return enrollment_create(sequence=sequence, lead=lead, now=now)


def dispatch(now: datetime | None = None, batch: int = 200):
    return dispatch_batch(now=now or timezone.now(), batch=batch)


def end_leases():
    """What the passing of LEASE does to queued messages: leases are times on the
    database's clock, which no test can move, so they are ended here."""
    return EmailMessage.objects.filter(status=MessageStatus.QUEUED,
                                       leased_until__isnull=False).update(leased_until=Now())
