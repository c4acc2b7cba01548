"""When a step may go out: its delay, then its send window (weekdays and hours in the
sending settings' time zone, SendingSettings.time_zone). Plain functions of a step and a
time, so tests need no clock.

The time zone is read from the database when a step has a window (steps without one,
the usual case, cost nothing). Loops over many enrollments read it at most once: inside
``zone_pinned()`` the first read is kept for the rest of the block.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings

# Inside zone_pinned(): a box for the zone, filled by the first read.
_pinned: ContextVar[dict | None] = ContextVar("nurture_send_zone", default=None)


def _zone_named(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        # Refused when saved (nurture.models.validate_time_zone); a row written around
        # the validation (SQL, a restored dump) must not stop every send.
        return ZoneInfo(settings.TIME_ZONE)


def _zone_read() -> ZoneInfo:
    from nurture.models import SendingSettings

    name = SendingSettings.objects.filter(pk=1).values_list("time_zone", flat=True).first()
    return _zone_named(name or settings.TIME_ZONE)


def account_zone() -> ZoneInfo:
    """The time zone send windows are in: the sending settings', else TIME_ZONE."""
    box = _pinned.get()
    if box is None:
        return _zone_read()
    if "zone" not in box:
        box["zone"] = _zone_read()
    return box["zone"]


@contextmanager
def zone_pinned() -> Iterator[None]:
    """Read the time zone at most once for a batch of due-time computations (none if no
    step has a window). Nested blocks share the outer one's."""
    if _pinned.get() is not None:
        yield
        return
    token = _pinned.set({})
    try:
        yield
    finally:
        _pinned.reset(token)


def has_window(step) -> bool:
    return bool(step.send_days) or step.send_hour_start is not None or (
        step.send_hour_end is not None)


def send_time(step, earliest: datetime) -> datetime:
    """The first moment at or after ``earliest`` inside the step's send window."""
    if not has_window(step):
        return earliest
    zone = account_zone()
    local = earliest.astimezone(zone)
    days = set(step.send_days or range(7))
    start_hour = step.send_hour_start or 0
    end_hour = step.send_hour_end if step.send_hour_end is not None else 24
    for offset in range(8):
        day = local.date() + timedelta(days=offset)
        if day.weekday() not in days:
            continue
        opens = datetime.combine(day, time(start_hour), tzinfo=zone)
        closes = (datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
                  if end_hour == 24 else datetime.combine(day, time(end_hour), tzinfo=zone))
        if offset == 0:
            if local < opens:
                return opens
            if local < closes:
                return earliest
            continue
        return opens
    return earliest  # no weekday allowed at all: validation prevents it; send anyway


def in_window(step, moment: datetime) -> bool:
    return send_time(step, moment) == moment


def due_after(step, previous: datetime) -> datetime:
    """The due time of ``step`` when the one before it went out at ``previous``."""
    return send_time(step, previous + timedelta(minutes=step.delay_minutes))
