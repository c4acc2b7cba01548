"""Merge fields run in a sandbox: plain values only, refused at save time with the reason;
and the send-window arithmetic."""

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from django.core.exceptions import ValidationError

from nurture import schedule
from nurture.merge import Compiled, template_problems
from nurture.models import Step
from nurture.services import sequence_create, sequence_update
from tests.factories import LeadFactory
from tests.nurture.conftest import STEP, make_sequence


@pytest.mark.parametrize("source", [
    "{{ settings.SECRET_KEY }}",
    "{{ first_name.upper }}",
    "{{ first_name.__class__ }}",
    "{{ request }}",
    "{{ lead.owner.password }}",
    "{% load static %}",
    "{% include 'base.html' %}",
    "{% extends 'base.html' %}",
    "{% url 'home' %}",
    "{% csrf_token %}",
    "{% debug %}",
    "{{ first_name|safe }}",
    "{{ first_name|default:settings.SECRET_KEY }}",
    "{% if settings.DEBUG %}x{% endif %}",
    "{% if first_name %}unclosed",
])
def test_the_sandbox_refuses(source):
    assert template_problems(source)


def test_merge_fields_render_plain_values_with_filters():
    template = Compiled('Hi {{ first_name|default:"there"|upper }}{% if company %} at '
                        "{{ company|title }}{% endif %}", autoescape=False)
    assert template.render({"first_name": "", "company": "acme inc"}) == "Hi THERE at Acme Inc"
    assert template.render({"first_name": "ann"}) == "Hi ANN"


@pytest.mark.django_db
def test_a_step_with_a_forbidden_template_is_refused_when_saved():
    with pytest.raises(ValidationError) as caught:
        sequence_create(name="X", steps=[dict(STEP), {**STEP, "body": "{{ settings.SECRET_KEY }}"}])
    assert "steps.1.body" in caught.value.message_dict
    assert "attributes and methods" in caught.value.message_dict["steps.1.body"][0]

    sequence = make_sequence()
    with pytest.raises(ValidationError) as caught:
        sequence_update(sequence=sequence, steps=[{**STEP, "subject": "{% load x %}"}])
    assert "steps.0.subject" in caught.value.message_dict
    assert Step.objects.get(sequence=sequence).subject == STEP["subject"]


@pytest.mark.django_db
def test_lead_values_are_data_not_template_code(smtp):
    from tests.nurture.conftest import dispatch, enroll

    lead = LeadFactory(first_name="{{ settings.SECRET_KEY }}", company="<script>x</script>")
    enroll(make_sequence(), lead)
    dispatch()
    [mail] = smtp.messages
    html = mail.get_body(preferencelist=("html",)).get_content()
    assert "{{ settings.SECRET_KEY }}" in mail["Subject"]
    assert "<script>" not in html and "django-insecure" not in html


def _step(**values):
    return SimpleNamespace(**{"send_days": [], "send_hour_start": None, "send_hour_end": None,
                              "delay_minutes": 0, **values})


def test_send_windows(settings, db):
    # The window's zone is the sending settings' (read from the database); with none
    # saved, settings.TIME_ZONE (test_schedule.py has the sending settings' own).
    settings.TIME_ZONE = "Europe/Berlin"
    friday_evening = datetime(2030, 1, 4, 19, 0, tzinfo=UTC)  # 20:00 in Berlin
    weekdays_9_to_17 = _step(send_days=[0, 1, 2, 3, 4], send_hour_start=9, send_hour_end=17)
    assert schedule.send_time(weekdays_9_to_17, friday_evening) == datetime(
        2030, 1, 7, 8, 0, tzinfo=UTC)  # Monday 09:00 Berlin
    inside = datetime(2030, 1, 7, 10, 0, tzinfo=UTC)
    assert schedule.send_time(weekdays_9_to_17, inside) == inside
    assert schedule.send_time(_step(), friday_evening) == friday_evening
    assert schedule.due_after(_step(delay_minutes=90), inside) == datetime(
        2030, 1, 7, 11, 30, tzinfo=UTC)
