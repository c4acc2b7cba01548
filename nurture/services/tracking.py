"""Opens, clicks and unsubscribes coming back from sent emails.

Machine engagement is not interest: security gateways and mail proxies fetch images and
follow every link of a message seconds after delivery. Such opens and clicks are still
recorded (the timeline shows them) but flagged ``"automated": true``, which scoring
ignores (docs/activities.md):

- opens and clicks from known proxy and scanner user agents;
- clicks within CLICK_TOO_SOON of the send;
- clicks on different links of the same message within BURST of each other (a scanner
  following every link at once) — all of them, the first one included.

The first click of a burst looks like a person's until the second arrives. Flagging it
afterwards would be too late: scoring handles an activity as soon as it is written, and
points once given would have to be taken back (scoring has no way to, and a full rescore
would then disagree with the incremental scores). So a click's ``email_clicked``
activity is written only once its burst window has closed: ``click_record`` (the
redirect, which answers at once) stores an ``EmailClick``, and ``clicks_record`` (run by
the dispatcher's beat task every few seconds) writes the activity HOLD after the click,
when every click that could belong to its burst has been stored, with the flag decided
for the whole burst. Scoring sees each click once, already flagged. The price: a click
reaches the timeline (and the lead's score) a few seconds later.
"""

import re
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from capture.models import Activity
from capture.services import activities_record_bulk, activity_record
from nurture.models import EmailClick, EmailMessage

AUTOMATED_AGENTS = re.compile(
    r"GoogleImageProxy|ggpht\.com|YahooMailProxy|Barracuda|Proofpoint|Mimecast|"
    r"Forcepoint|Symantec|Trend ?Micro|SafeLinks|Microsoft Office Protocol Discovery|"
    r"bot\b|bot/|crawler|spider|python-requests|python-urllib|aiohttp|curl/|wget/|"
    r"Go-http-client|HeadlessChrome|okhttp|Java/|libwww|preview",
    re.IGNORECASE,
)
CLICK_TOO_SOON = timedelta(seconds=10)
BURST = timedelta(seconds=2)
# How long a click waits for its activity: the burst window, plus a margin for the
# request that stores the burst's next click to commit.
HOLD = BURST + timedelta(seconds=1)
MAX_URL = 4000


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


def click_record(*, message: EmailMessage, url: str, user_agent: str) -> EmailClick:
    """Store a click; its activity follows once its burst window closed (above)."""
    now = timezone.now()
    automated = automated_agent(user_agent) or (
        message.sent_at is not None and now - message.sent_at < CLICK_TOO_SOON
    )
    return EmailClick.objects.create(message=message, url=url[:MAX_URL], clicked_at=now,
                                     agent_automated=automated)


def clicks_record(*, now=None, limit: int = 500) -> int:
    """Write the ``email_clicked`` activities of the clicks stored at least HOLD ago,
    each flagged automated if it looked automated itself or if another link of the same
    message was clicked within BURST of it (before or after). The clicks are locked and
    given their activity's id in the transaction that writes it, so each is written once
    however many workers run this. Returns how many were written."""
    now = now or timezone.now()
    with transaction.atomic():
        clicks = list(
            EmailClick.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(activity_id__isnull=True, clicked_at__lte=now - HOLD)
            .select_related("message").order_by("clicked_at", "id")[:limit]
        )
        if not clicks:
            return 0
        neighbours: dict[int, list[tuple[str, object]]] = {}
        for message_id, url, clicked_at in (
            EmailClick.objects.filter(
                message_id__in={c.message_id for c in clicks},
                clicked_at__gte=min(c.clicked_at for c in clicks) - BURST,
                clicked_at__lte=max(c.clicked_at for c in clicks) + BURST,
            ).values_list("message_id", "url", "clicked_at")
        ):
            neighbours.setdefault(message_id, []).append((url, clicked_at))
        for click in clicks:
            click.automated = click.agent_automated or any(
                url != click.url and abs(clicked_at - click.clicked_at) < BURST
                for url, clicked_at in neighbours.get(click.message_id, [])
            )
        activities = activities_record_bulk(
            {"lead_id": c.message.lead_id, "kind": "email_clicked", "occurred_at": c.clicked_at,
             "data": _data(c.message, c.automated, url=c.url)}
            for c in clicks
        )
        for click, activity in zip(clicks, activities, strict=True):
            click.activity_id = activity.pk
        EmailClick.objects.bulk_update(clicks, ["automated", "activity_id"])
        first_human: dict[int, object] = {}
        for click in clicks:
            if not click.automated and click.message_id not in first_human:
                first_human[click.message_id] = click.clicked_at
        for message_id, clicked_at in first_human.items():
            EmailMessage.objects.filter(pk=message_id, clicked_at__isnull=True).update(
                clicked_at=clicked_at)
    return len(clicks)
