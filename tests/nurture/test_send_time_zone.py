"""Send windows are in the sending settings' time zone (default: settings.TIME_ZONE),
chosen where the sending settings are edited and checked against the IANA database."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.urls import reverse

from nurture import schedule
from nurture.models import SendingSettings
from nurture.services import sequence_create
from tests.factories import LeadFactory, SendingSettingsFactory
from tests.nurture.conftest import STEP, dispatch, enroll

pytestmark = pytest.mark.django_db

# Weekdays 09:00–17:00 in the account's time zone.
OFFICE_HOURS = {**STEP, "send_days": [0, 1, 2, 3, 4], "send_hour_start": 9,
                "send_hour_end": 17}
MONDAY_NOON_UTC = datetime(2030, 1, 7, 12, 0, tzinfo=UTC)  # 07:00 in New York (EST)


def office_hours_sequence():
    return sequence_create(name="Office hours", status="active", steps=[dict(OFFICE_HOURS)])


def test_the_time_zone_defaults_to_the_servers(settings):
    settings.TIME_ZONE = "Europe/Berlin"
    assert SendingSettings.load().time_zone == "Europe/Berlin"
    assert str(schedule.account_zone()) == "Europe/Berlin"


def test_a_window_opens_at_nine_in_the_accounts_time_zone_not_the_servers(settings, smtp):
    settings.TIME_ZONE = "UTC"
    SendingSettingsFactory(time_zone="America/New_York")
    lead = LeadFactory(email="nora@acme.example")
    with time_machine.travel(MONDAY_NOON_UTC, tick=False):
        enrollment = enroll(office_hours_sequence(), lead)
        # 12:00 UTC is inside 09–17 UTC, but it is 07:00 in New York: wait until 09:00 EST.
        assert enrollment.next_due_at == datetime(2030, 1, 7, 14, 0, tzinfo=UTC)
        dispatch()
        assert smtp.messages == []
    with time_machine.travel(datetime(2030, 1, 7, 14, 1, tzinfo=UTC), tick=False):
        result = dispatch()
    assert result.sent == 1 and smtp.to("nora@acme.example")


def test_the_window_follows_daylight_saving_time_and_a_changed_setting(settings):
    settings.TIME_ZONE = "UTC"
    SendingSettingsFactory(time_zone="America/New_York")
    sequence = office_hours_sequence()
    with time_machine.travel(datetime(2030, 7, 1, 12, 0, tzinfo=UTC), tick=False):
        # July: New York is UTC-4, so 09:00 there is 13:00 UTC.
        assert enroll(sequence, LeadFactory()).next_due_at == datetime(
            2030, 7, 1, 13, 0, tzinfo=UTC)
    SendingSettingsFactory(time_zone="Asia/Tokyo")  # UTC+9: 12:00 UTC is 21:00 there
    with time_machine.travel(datetime(2030, 7, 1, 12, 0, tzinfo=UTC), tick=False):
        assert enroll(sequence, LeadFactory()).next_due_at == datetime(
            2030, 7, 2, 0, 0, tzinfo=UTC)  # Tuesday 09:00 in Tokyo


def test_the_dispatcher_holds_a_due_step_outside_the_accounts_window(settings, smtp):
    settings.TIME_ZONE = "UTC"
    SendingSettingsFactory(time_zone="Europe/Berlin")
    lead = LeadFactory()
    sequence = sequence_create(name="Two", status="active", steps=[
        dict(STEP), {**OFFICE_HOURS, "subject": "Second", "delay_minutes": 60}])
    friday_evening = datetime(2030, 1, 4, 15, 30, tzinfo=UTC)  # 16:30 in Berlin
    with time_machine.travel(friday_evening, tick=False):
        enroll(sequence, lead)
        assert dispatch().sent == 1
    # Its delay ends at 17:30 Berlin: past the window, so Monday 09:00 Berlin (08:00 UTC).
    enrollment = lead.enrollments.get()
    assert enrollment.next_due_at == datetime(2030, 1, 7, 8, 0, tzinfo=UTC)
    with time_machine.travel(friday_evening + timedelta(hours=2), tick=False):
        assert dispatch().sent == 0


def test_the_sending_settings_page_edits_and_checks_the_time_zone(client, marketer):
    client.force_login(marketer)
    url = reverse("nurture:settings")
    form = {"from_name": "Acme", "from_email": "news@acme.example", "reply_to": "",
            "postal_address": "1 Main St"}
    page = client.get(url).content.decode()
    assert 'name="time_zone"' in page and '<option value="Europe/Berlin"' in page

    for bad in ("Mars/Olympus_Mons", "../../etc/passwd", "x" * 300):
        response = client.post(url, {**form, "time_zone": bad})
        assert response.status_code == 400
        assert "time_zone" in response.context["form"].errors
    assert client.post(url, {**form, "time_zone": "Europe/Berlin"}).status_code == 302
    assert SendingSettings.load().time_zone == "Europe/Berlin"
    editor = client.get(reverse("nurture:new")).content.decode()
    assert "Send window (optional, Europe/Berlin)" in editor


def test_a_stored_zone_unknown_to_this_system_falls_back_to_the_servers(settings):
    settings.TIME_ZONE = "UTC"
    SendingSettings.objects.update_or_create(pk=1, defaults={"time_zone": "Nowhere/Else"})
    assert str(schedule.account_zone()) == "UTC"


def test_a_batch_reads_the_zone_once(settings, django_assert_num_queries):
    SendingSettingsFactory(time_zone="Europe/Berlin")
    step = type("Step", (), {**OFFICE_HOURS})()
    with django_assert_num_queries(1), schedule.zone_pinned():
        for hour in range(24):
            schedule.send_time(step, MONDAY_NOON_UTC + timedelta(hours=hour))
    with django_assert_num_queries(0), schedule.zone_pinned():
        schedule.send_time(type("Step", (), {**STEP, "send_days": [], "send_hour_start": None,
                                             "send_hour_end": None})(), MONDAY_NOON_UTC)
