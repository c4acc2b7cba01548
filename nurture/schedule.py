"""When a step may go out: its delay, then its send window (weekdays and hours in
settings.TIME_ZONE). Plain functions of a step and a time, so tests need no clock."""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings


def _zone() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def has_window(step) -> bool:
    return bool(step.send_days) or step.send_hour_start is not None or (
        step.send_hour_end is not None)


def send_time(step, earliest: datetime) -> datetime:
    """The first moment at or after ``earliest`` inside the step's send window."""
    if not has_window(step):
        return earliest
    zone = _zone()
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
