"""Double opt-in: a form that asks for it sends each new address a signed confirmation
link; following it (and pressing the button: mail scanners open links, so a GET never
confirms) marks the lead confirmed.

- The link carries the lead, the form and a hash of the address, signed with its own
  salt and dated: it is good for OPTIN_LINK_MAX_AGE_DAYS, and only for the address it
  was sent to (a lead whose email changed needs a new one).
- At most one link per address per hour, so a form cannot be used to flood someone's
  inbox: the sender must first move ``Lead.confirmation_sent_at`` with a conditional
  UPDATE that touches exactly one row (``confirmation_claim``).
- Nurture must not mail a lead that came through a double-opt-in form before it
  confirmed: ``lead_awaiting_confirmation`` / ``awaiting_confirmation_q`` say which.
"""

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.db.models import BigIntegerField, Exists, OuterRef, Q
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast
from django.utils import timezone

from capture.models import Activity, ActivityKind, Form, Lead, normalize_email

from .leads import activity_record

CONFIRM_SALT = "capture.optin.confirm"
RESEND_AFTER = timedelta(hours=1)


def _email_digest(email: str) -> str:
    # A hash, not the address: the link ends up in mail logs and browser histories.
    return hashlib.sha256(normalize_email(email).encode()).hexdigest()[:20]


def confirmation_token(*, lead: Lead, form_id: int) -> str:
    return signing.dumps(
        {"l": lead.pk, "f": form_id, "e": _email_digest(lead.email)}, salt=CONFIRM_SALT
    )


def confirmation_url(token: str) -> str:
    return f"{settings.PUBLIC_URL}/confirm/{token}/"


class LinkExpired(Exception):
    """Signed by us, but older than OPTIN_LINK_MAX_AGE_DAYS (HTTP 400)."""


class LinkInvalid(Exception):
    """Not signed by us, or for a lead or address that is gone (HTTP 404)."""


@dataclass(frozen=True)
class ConfirmationLink:
    lead: Lead
    form_id: int


def confirmation_read(token: str) -> ConfirmationLink:
    """The lead and form a link is for. Raises LinkExpired or LinkInvalid."""
    max_age = timedelta(days=settings.OPTIN_LINK_MAX_AGE_DAYS)
    try:
        payload = signing.loads(token, salt=CONFIRM_SALT, max_age=max_age)
    except signing.SignatureExpired as exc:
        raise LinkExpired from exc
    except (signing.BadSignature, ValueError) as exc:
        raise LinkInvalid from exc
    if not isinstance(payload, dict):
        raise LinkInvalid
    lead_id, form_id, digest = payload.get("l"), payload.get("f"), payload.get("e")
    if not (isinstance(lead_id, int) and isinstance(form_id, int) and isinstance(digest, str)):
        raise LinkInvalid
    lead = Lead.objects.filter(pk=lead_id).first()
    if lead is None or _email_digest(lead.email) != digest:
        raise LinkInvalid
    return ConfirmationLink(lead=lead, form_id=form_id)


@transaction.atomic
def lead_confirm(*, lead: Lead, form_id: int, now: datetime | None = None) -> bool:
    """Mark the lead confirmed and record a ``confirmed`` activity, once: True if this
    call confirmed it, False if it already was (a double click, a second tab)."""
    now = now or timezone.now()
    changed = Lead.objects.filter(pk=lead.pk, confirmed_at__isnull=True).update(
        confirmed_at=now, updated_at=now
    )
    if changed != 1:
        return False
    lead.confirmed_at = now
    activity_record(lead=lead, kind=ActivityKind.CONFIRMED, data={"form": form_id},
                    occurred_at=now)
    return True


def confirmation_claim(*, lead_id: int, now: datetime | None = None) -> bool:
    """Take the right to send ``lead_id`` a confirmation link now: True when no link went
    to it within RESEND_AFTER. Run it in the transaction that sends, so a failed send
    rolls the claim back and a retry may send."""
    now = now or timezone.now()
    return Lead.objects.filter(
        Q(confirmation_sent_at__isnull=True) | Q(confirmation_sent_at__lt=now - RESEND_AFTER),
        pk=lead_id,
        confirmed_at__isnull=True,
    ).update(confirmation_sent_at=now) == 1


# --- For nurture: who may not be mailed yet ----------------------------------------------


def _double_opt_in_submissions():
    return Activity.objects.annotate(
        form_id=Cast(KeyTextTransform("form", "data"), BigIntegerField())
    ).filter(
        kind=ActivityKind.FORM_SUBMITTED,
        form_id__in=Form.objects.filter(double_opt_in=True).values("pk"),
    )


def awaiting_confirmation_q() -> Q:
    """For ``Lead`` querysets: leads that came through a double-opt-in form and have not
    confirmed. Exclude them from anything that mails leads."""
    return Q(confirmed_at__isnull=True) & Q(
        Exists(_double_opt_in_submissions().filter(lead=OuterRef("pk")))
    )


def lead_awaiting_confirmation(lead: Lead) -> bool:
    """True while a lead that submitted a double-opt-in form has not confirmed. It does
    not wait for the confirmation email to be sent: it holds from the submission on."""
    if lead.confirmed_at is not None:
        return False
    return _double_opt_in_submissions().filter(lead=lead).exists()
