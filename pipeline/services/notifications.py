"""In-app notifications: what the bell in the navigation bar counts. Written beside the
emails that say the same, so a rep who never reads mail still sees a new MQL."""

from django.db.models import Q
from django.utils import timezone

from capture.models import Lead
from pipeline.models import Notification

MAX_TEXT = 300


def notify(*, recipient, kind: str, text: str, lead: Lead | None = None) -> Notification | None:
    """Tell ``recipient`` (nobody if inactive or None). Part of the caller's
    transaction: a move that rolls back leaves no notification behind."""
    if recipient is None or not recipient.is_active:
        return None
    if len(text) > MAX_TEXT:
        text = text[: MAX_TEXT - 1] + "…"
    return Notification.objects.create(recipient=recipient, lead=lead, kind=kind, text=text)


def notifications_mark_read(*, user, ids: list[int] | None = None) -> int:
    """Mark ``user``'s unread notifications read (only those of ``ids``, if given);
    returns how many changed. Other people's ids are ignored."""
    unread = Notification.objects.filter(recipient=user, read_at__isnull=True)
    if ids is not None:
        unread = unread.filter(Q(pk__in=ids))
    return unread.update(read_at=timezone.now())
