"""Writes and renderings the marketer's pages need that the other services do not offer:
the sending settings (with the time zone send windows are in), taking an address off the
suppression list, and a step's preview and test send (rendered exactly as the dispatcher
would, but never recorded as a send).
"""

from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives
from django.db import transaction

from capture.models import Lead
from capture.services.notify import header_safe
from nurture.models import (
    EmailMessage,
    SendingSettings,
    Step,
    Suppression,
    default_time_zone,
)
from nurture.services import rendering
from nurture.services.sequences import step_problems

SENDING_FIELDS = ("from_name", "from_email", "reply_to", "postal_address", "time_zone")
TEST_HEADER = "X-LeadHub-Test"


@transaction.atomic
def sending_settings_update(**values: Any) -> SendingSettings:
    current = SendingSettings.load()
    for name in SENDING_FIELDS:
        if name in values:
            setattr(current, name, values[name] or "")
    current.time_zone = current.time_zone or default_time_zone()
    current.full_clean()
    current.save()
    return current


def suppression_remove(*, suppression: Suppression) -> None:
    """Take an address off the list: later enrollments may mail it again (its past
    exits stay exits)."""
    Suppression.objects.filter(pk=suppression.pk).delete()


@dataclass
class Preview:
    subject: str
    preheader: str
    text: str
    html: str
    to: str


def _values_lead(lead: Lead | None, user) -> Lead:
    if lead is not None:
        return lead
    # No lead chosen: the merge fields from the user's own name, so the preview reads
    # like a real email.
    return Lead(email=user.email or "", first_name=getattr(user, "first_name", ""),
                last_name=getattr(user, "last_name", ""))


def step_preview(*, subject: str, preheader: str, body: str, lead: Lead | None, user,
                 tracking: bool = False) -> Preview:
    """The step rendered for ``lead`` (or the user). ValidationError (by field) when the
    step's templates are broken. Tracking links are never added to a preview."""
    spec = {"subject": subject, "preheader": preheader, "body": body, "delay_minutes": 0}
    problems = {k: v for k, v in step_problems(spec).items()
                if k in ("subject", "preheader", "body")}
    if problems:
        raise ValidationError(problems)
    step = Step(subject=subject, preheader=preheader, body=body)
    target = _values_lead(lead, user)
    # An unsaved message: its links and tokens point nowhere that acts (no id).
    message = EmailMessage(lead=target, to_email=target.email, subject=subject)
    rendered = rendering.render(message, rendering.CompiledStep(step), tracking=False,
                                sending=SendingSettings.load())
    return Preview(subject=rendered.subject, preheader=rendered.preheader, text=rendered.text,
                   html=rendered.html, to=target.email)


def step_test_send(*, subject: str, preheader: str, body: str, lead: Lead | None,
                   user) -> Preview:
    """Send the rendered step to the user's own address, marked as a test. Nothing is
    recorded: no EmailMessage, no activity on the lead."""
    if not user.email:
        raise ValidationError({"__all__": ["Your account has no email address."]})
    preview = step_preview(subject=subject, preheader=preheader, body=body, lead=lead,
                           user=user)
    sending = SendingSettings.load()
    email = EmailMultiAlternatives(
        subject=header_safe(f"[Test] {preview.subject}"),
        body=preview.text,
        from_email=rendering.from_address(sending),
        to=[header_safe(user.email, 254)],
        reply_to=[header_safe(sending.reply_to, 254)] if sending.reply_to else None,
        headers={TEST_HEADER: "1"},
    )
    email.attach_alternative(preview.html, "text/html")
    email.send()
    return preview


__all__ = ["Preview", "sending_settings_update", "step_preview",
           "step_test_send", "suppression_remove"]
