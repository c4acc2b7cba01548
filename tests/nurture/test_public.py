"""The links in sent emails: the open pixel, the click redirect and the unsubscribe page
(and RFC 8058 one-click), followed from the email that arrived at the SMTP server."""

import re
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from capture.models import Activity, Lead
from nurture.models import EmailMessage, Enrollment, EnrollmentState
from nurture.services.rendering import click_token, open_token
from nurture.services.tracking import BURST, HOLD, clicks_record
from tests.factories import LeadFactory, RuleFactory
from tests.nurture.conftest import dispatch, enroll, make_sequence

pytestmark = pytest.mark.django_db

BROWSER = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/605.1.15 Safari/605.1.15"


@pytest.fixture
def sent(smtp):
    lead = LeadFactory(email="ann@example.com", first_name="Ann")
    enroll(make_sequence(steps=[{"subject": "Hi", "body": "Go [here](https://www.example.com/a)"
                                 " or [there](https://www.example.com/b).",
                                 "delay_minutes": 0},
                                {"subject": "Two", "body": "More.", "delay_minutes": 60}]),
           lead)
    dispatch()
    [mail] = smtp.messages
    html = mail.get_body(preferencelist=("html",)).get_content()
    message = EmailMessage.objects.get()
    # Old enough that a click is not "within seconds of delivery".
    EmailMessage.objects.filter(pk=message.pk).update(sent_at=timezone.now() - timedelta(hours=1))
    message.refresh_from_db()
    return {"mail": mail, "html": html, "message": message, "lead": lead}


def paths(html: str, kind: str) -> list[str]:
    return [m.replace("&amp;", "&") for m in
            re.findall(rf'https://leadhub\.example\.org(/e/{kind}/[^"]+)', html)]


def test_the_open_pixel_records_an_open(client, sent):
    [pixel] = paths(sent["html"], "o")
    response = client.get(pixel, HTTP_USER_AGENT=BROWSER)
    assert response.status_code == 200 and response["Content-Type"] == "image/gif"
    assert "no-store" in response["Cache-Control"]
    opened = Activity.objects.get(kind="email_opened")
    assert opened.data["message"] == sent["message"].pk and opened.data["automated"] is False
    sent["message"].refresh_from_db()
    assert sent["message"].opened_at is not None


def test_opens_by_mail_proxies_are_flagged_automated(client, sent):
    [pixel] = paths(sent["html"], "o")
    client.get(pixel, HTTP_USER_AGENT="Mozilla/5.0 (via ggpht.com GoogleImageProxy)")
    assert Activity.objects.get(kind="email_opened").data["automated"] is True
    sent["message"].refresh_from_db()
    assert sent["message"].opened_at is None


def later(seconds: float = 0):
    """When the clicks of now have left their burst window."""
    return timezone.now() + HOLD + timedelta(seconds=seconds)


def test_a_click_records_it_and_redirects_to_the_link_in_the_email(client, sent):
    first, _second = paths(sent["html"], "c")
    with time_machine.travel(timezone.now(), tick=False) as clock:
        response = client.get(first, HTTP_USER_AGENT=BROWSER)
        assert response.status_code == 302
        assert response["Location"] == "https://www.example.com/a"
        clicked_at = timezone.now()
        # Written once no other click can join its burst, dated when it happened.
        assert clicks_record(now=timezone.now() + BURST) == 0
        assert not Activity.objects.filter(kind="email_clicked").exists()
        clock.shift(HOLD)
        assert dispatch().clicks == 1
    clicked = Activity.objects.get(kind="email_clicked")
    assert clicked.data["url"] == "https://www.example.com/a"
    assert clicked.data["automated"] is False
    assert clicked.occurred_at == clicked_at
    sent["message"].refresh_from_db()
    assert sent["message"].clicked_at == clicked_at
    assert clicks_record(now=later(60)) == 0  # once


def test_clicks_on_every_link_at_once_are_all_automated_the_first_one_too(client, sent):
    first, second = paths(sent["html"], "c")
    with time_machine.travel(timezone.now(), tick=False) as clock:
        client.get(first, HTTP_USER_AGENT=BROWSER)
        clock.shift(timedelta(seconds=1.5))  # a scanner, one link after the other
        client.get(second, HTTP_USER_AGENT=BROWSER)
    clicks_record(now=later(2))
    flags = list(Activity.objects.filter(kind="email_clicked").order_by("occurred_at")
                 .values_list("data__url", "data__automated"))
    assert flags == [("https://www.example.com/a", True), ("https://www.example.com/b", True)]
    sent["message"].refresh_from_db()
    assert sent["message"].clicked_at is None


def test_a_person_clicking_two_links_seconds_apart_or_one_link_twice_is_not_a_scanner(
    client, sent
):
    first, second = paths(sent["html"], "c")
    with time_machine.travel(timezone.now(), tick=False) as clock:
        client.get(first, HTTP_USER_AGENT=BROWSER)
        clock.shift(timedelta(seconds=1))
        client.get(first, HTTP_USER_AGENT=BROWSER)  # the same link again: a double click
        clock.shift(timedelta(seconds=20))
        client.get(second, HTTP_USER_AGENT=BROWSER)
    clicks_record(now=later(30))
    assert list(Activity.objects.filter(kind="email_clicked").values_list(
        "data__automated", flat=True)) == [False, False, False]


def test_clicks_right_after_delivery_or_from_scanners_are_automated(client, sent):
    first, _second = paths(sent["html"], "c")
    client.get(first, HTTP_USER_AGENT="Mozilla/5.0 (compatible; Barracuda link checker)")
    EmailMessage.objects.update(sent_at=timezone.now())
    client.get(first, HTTP_USER_AGENT=BROWSER)
    clicks_record(now=later())
    assert list(Activity.objects.filter(kind="email_clicked").values_list(
        "data__automated", flat=True)) == [True, True]


def test_a_scanners_burst_earns_no_points_and_a_persons_click_does(
    client, sent, django_capture_on_commit_callbacks
):
    RuleFactory(activity_kind="email_clicked", points=5)
    lead = sent["lead"]
    first, second = paths(sent["html"], "c")
    with time_machine.travel(timezone.now(), tick=False) as clock:
        client.get(first, HTTP_USER_AGENT=BROWSER)
        clock.shift(timedelta(seconds=0.5))
        client.get(second, HTTP_USER_AGENT=BROWSER)
        clock.shift(HOLD)
        with django_capture_on_commit_callbacks(execute=True):
            clicks_record()  # the activities, and their follow-up work (scoring)
    lead.refresh_from_db()
    assert lead.score == 0

    with time_machine.travel(timezone.now() + timedelta(minutes=5), tick=False) as clock:
        client.get(first, HTTP_USER_AGENT=BROWSER)
        clock.shift(HOLD)
        with django_capture_on_commit_callbacks(execute=True):
            clicks_record()
    lead.refresh_from_db()
    assert lead.score == 5


def test_bad_tokens_are_404_and_redirects_go_only_to_signed_urls(client, sent):
    message = sent["message"]
    assert client.get("/e/o/1:forged.gif").status_code == 404
    assert client.get(f"/e/o/{open_token(message.pk + 999)}.gif").status_code == 404
    assert client.get("/e/c/not-a-token/").status_code == 404
    token = click_token(message.pk, "https://www.example.com/a")
    tampered = token.replace(token.split(":")[0], click_token(message.pk, "https://evil.test")
                             .split(":")[0])
    assert client.get(f"/e/c/{tampered}/").status_code == 404
    assert client.get(f"/e/c/{click_token(message.pk, 'javascript:alert(1)')}/").status_code \
        == 404
    assert client.get("/e/u/1:forged/").status_code == 404
    clicks_record(now=later())
    assert not Activity.objects.filter(kind__in=["email_opened", "email_clicked"]).exists()


def test_a_plain_get_of_the_unsubscribe_link_does_not_unsubscribe(client, sent):
    [link] = paths(sent["html"], "u")
    response = client.get(link)
    assert response.status_code == 200
    assert b'data-testid="unsubscribe"' in response.content
    assert Lead.objects.get().unsubscribed_at is None


def test_the_unsubscribe_page_unsubscribes_and_stops_the_sequence(client, sent, smtp):
    [link] = paths(sent["html"], "u")
    response = client.post(link)
    assert response.status_code == 200
    assert b'data-testid="unsubscribed"' in response.content
    assert Lead.objects.get().unsubscribed_at is not None
    activity = Activity.objects.get(kind="unsubscribed")
    assert activity.data == {"message": sent["message"].pk, "how": "page"}
    assert Enrollment.objects.get().state == EnrollmentState.EXITED
    dispatch(now=timezone.now() + timedelta(hours=2))
    assert len(smtp.messages) == 1
    assert b"already-unsubscribed" in client.get(link).content


def test_rfc_8058_one_click_unsubscribes_from_the_list_unsubscribe_header(client, sent):
    header = "".join(str(sent["mail"]["List-Unsubscribe"]).split())
    url = header.strip("<>").removeprefix("https://leadhub.example.org")
    response = client.post(url, {"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    assert Lead.objects.get().unsubscribed_at is not None
    assert Activity.objects.get(kind="unsubscribed").data["how"] == "one-click"
    client.post(url, {"List-Unsubscribe": "One-Click"})  # again: nothing more
    assert Activity.objects.filter(kind="unsubscribed").count() == 1


def test_a_replayed_pixel_stops_being_recorded_but_still_answers(client, sent):
    [pixel] = paths(sent["html"], "o")
    for _ in range(35):
        assert client.get(pixel, HTTP_USER_AGENT=BROWSER).status_code == 200
    assert Activity.objects.filter(kind="email_opened").count() == 30
