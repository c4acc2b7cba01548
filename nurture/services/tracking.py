"""Opens, clicks and unsubscribes coming back from sent emails.

Machine engagement is not interest: security gateways and mail proxies fetch images and
follow every link of a message seconds after delivery. Such opens and clicks are still
recorded (the timeline shows them) but flagged ``"automated": true``, which scoring
ignores (docs/activities.md):

- opens and clicks from known proxy and scanner user agents;
- clicks within CLICK_TOO_SOON of the send;
- a click on a different link of the same message within BURST of another click
  (a scanner following every link at once).
"""

import re
from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from capture.models import Activity
from capture.services import activity_record
from nurture.models import EmailMessage

AUTOMATED_AGENTS = re.compile(
    r"GoogleImageProxy|ggpht\.com|YahooMailProxy|Barracuda|Proofpoint|Mimecast|"
    r"Forcepoint|Symantec|Trend ?Micro|SafeLinks|Microsoft Office Protocol Discovery|"
    r"bot\b|bot/|crawler|spider|python-requests|python-urllib|aiohttp|curl/|wget/|"
    r"Go-http-client|HeadlessChrome|okhttp|Java/|libwww|preview",
    re.IGNORECASE,
)
CLICK_TOO_SOON = timedelta(seconds=10)
BURST = timedelta(seconds=2)


def automated_agent(user_agent: str) -> bool:
    return not user_agent.strip() or bool(AUTOMATED_AGENTS.search(user_agent))


def _data(message: EmailMessage, automated: bool, **extra) -> dict:
    return {"sequence": message.sequence_id, "step": message.step_id, "message": message.pk,
            "subject": message.subject, "automated": automated, **extra}


def open_record(*, message: EmailMessage, user_agent: str) -> Activity:
    now = timezone.now()
    automated = automated_agent(user_agent)
    if not automated:
        EmailMessage.objects.filter(pk=message.pk, opened_at__isnull=True).update(opened_at=now)
    return activity_record(lead=message.lead, kind="email_opened", occurred_at=now,
                           data=_data(message, automated))


def click_record(*, message: EmailMessage, url: str, user_agent: str) -> Activity:
    now = timezone.now()
    automated = automated_agent(user_agent) or (
        message.sent_at is not None and now - message.sent_at < CLICK_TOO_SOON
    ) or Activity.objects.filter(
        Q(lead_id=message.lead_id, kind="email_clicked", data__message=message.pk,
          occurred_at__gte=now - BURST) & ~Q(data__url=url)
    ).exists()
    if not automated:
        EmailMessage.objects.filter(pk=message.pk, clicked_at__isnull=True).update(
            clicked_at=now)
    return activity_record(lead=message.lead, kind="email_clicked", occurred_at=now,
                           data=_data(message, automated, url=url))
