"""rendering.outgoing writes the message bytes itself in the usual case (ASCII headers,
no overlong lines) and leaves the rest to Django: either way the server gets what
Django's ``EmailMultiAlternatives.message().as_bytes()`` would have sent."""

from email import message_from_bytes, policy

import pytest

from nurture.models import EmailMessage, SendingSettings
from nurture.services import rendering
from tests.factories import LeadFactory
from tests.nurture.conftest import enroll, make_sequence

pytestmark = pytest.mark.django_db


def _pair(lead, body=None, **sending_values):
    step = {"subject": "Hello {{ first_name|default:\"there\" }}, your guide",
            "preheader": "Five minutes",
            "body": body or "Hi {{ first_name }},\n\nRead [the guide](https://www.example.com/g)"
                            " for {{ company|default:\"you\" }}.\n\n- one\n- two",
            "delay_minutes": 0}
    enroll(make_sequence(steps=[step]), lead)
    sending = SendingSettings.load()
    for name, value in sending_values.items():
        setattr(sending, name, value)
    enrollment = lead.enrollments.get()
    message = EmailMessage.objects.create(
        enrollment=enrollment, step=enrollment.sequence.steps.get(),
        sequence=enrollment.sequence, lead=lead, to_email=lead.email,
        to_domain=lead.email.rpartition("@")[2], subject="s")
    rendered = rendering.render(message, rendering.CompiledStep(message.step), tracking=True,
                                sending=sending)
    django_bytes = rendering.build(message, rendered, sending).message().as_bytes(
        linesep="\r\n")
    return rendering.outgoing(message, rendered, sending), django_bytes


def _parsed(data: bytes):
    message = message_from_bytes(data, policy=policy.default)
    # Stripped: Django folds a long header after "Name:", which leaves a leading space in
    # the unfolded value (insignificant whitespace); the direct bytes do not fold.
    headers = [(k, str(v).strip()) for k, v in message.items()
               if k not in ("Date", "Content-Type")]
    parts = [(p.get_content_type(), p["Content-Transfer-Encoding"], p.get_content())
             for p in message.iter_parts()]
    return message.get_content_type(), headers, parts, message["Date"] is not None


@pytest.mark.parametrize("values", [
    {"first_name": "Ann", "company": "Acme & <Co>", "email": "ann.o'neil+x@Example.com"},
    {"first_name": "", "company": "", "email": "b@example.org"},
    {"first_name": "José", "company": "Müller GmbH", "email": "jose@example.com"},
    {"first_name": "A" * 150, "company": "x", "email": "long@example.com"},
])
def test_the_bytes_parse_as_djangos_do(values):
    lead = LeadFactory(**values)
    sent, django_bytes = _pair(lead)
    assert _parsed(sent.data) == _parsed(django_bytes)
    assert sent.to == [values["email"]]
    assert sent.from_email == "leadhub@localhost" or "@" in sent.from_email


def test_the_usual_message_is_written_directly_and_its_lines_end_in_crlf():
    sent, django_bytes = _pair(LeadFactory(first_name="Ann", email="ann@example.com"))
    assert sent.data != django_bytes  # not Django's (its boundary and Date differ)
    assert b"\n" not in sent.data.replace(b"\r\n", b"")
    assert sent.data.endswith(b"==--\r\n")


def test_non_ascii_headers_and_long_lines_are_left_to_django(monkeypatch):
    calls = []
    real = rendering._plain_bytes
    monkeypatch.setattr(rendering, "_plain_bytes",
                        lambda *a: calls.append(result := real(*a)) or result)
    _pair(LeadFactory(first_name="José", email="jose@example.com"))
    _pair(LeadFactory(first_name="Ann", email="ann2@example.com"),
          body="{{ first_name }} " + "x" * 1200)
    assert calls == [None, None]


def test_reply_to_and_a_named_sender_come_through():
    sent, django_bytes = _pair(LeadFactory(email="c@example.com"), from_name="Mia at Acme",
                               from_email="mia@acme.example", reply_to="sales@acme.example")
    assert _parsed(sent.data) == _parsed(django_bytes)
    parsed = message_from_bytes(sent.data, policy=policy.default)
    assert parsed["From"] == "Mia at Acme <mia@acme.example>"
    assert parsed["Reply-To"] == "sales@acme.example"
    assert sent.from_email == "Mia at Acme <mia@acme.example>"
