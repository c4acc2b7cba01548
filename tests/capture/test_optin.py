"""Double opt-in: the confirmation email (through a real SMTP server), at most one per
address per hour, the link page that only a POST confirms, and bad or old links."""

import json
import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
import time_machine
from django.core import signing
from django.utils import timezone

from capture.models import Activity, ActivityKind, Lead
from capture.services import optin
from capture.services.optin import awaiting_confirmation_q, lead_awaiting_confirmation
from capture.tasks import optin_confirmation_send
from tests.brokers import release_broker_pools
from tests.factories import FormFactory, LeadFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_broker_pool_left_behind():
    # This module's eager tasks open Celery's pool for the test broker; tests/capture/
    # test_outbox.py closes pools without unregistering them, which breaks later
    # publishes if one was left open (see tests.brokers.release_broker_pools).
    yield
    release_broker_pools()

LINK = re.compile(r"https://leadhub\.example\.org(/confirm/[^/\s\"]+/)")


@pytest.fixture(autouse=True)
def only_capture_handlers(settings):
    settings.ACTIVITY_HANDLERS = ["capture.handlers.form_submitted_follow_up"]
    settings.PUBLIC_URL = "https://leadhub.example.org"


@pytest.fixture
def form():
    return FormFactory(with_fields=True, name="Newsletter", double_opt_in=True)


def submit(client, form, body, callbacks):
    with callbacks(execute=True):
        response = client.post(f"/api/v1/forms/{form.key}/submissions/", json.dumps(body),
                               content_type="application/json")
    assert response.status_code == 201, response.content
    return response.json()


def link_in(message) -> str:
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    path = LINK.search(text).group(1)
    assert f'href="https://leadhub.example.org{path}"' in html
    return path


def test_it_emails_a_confirmation_link_that_works(
    client, form, smtp_server, django_capture_on_commit_callbacks
):
    answer = submit(client, form, {"email": "Ann@Example.com", "first_name": "Ann"},
                    django_capture_on_commit_callbacks)

    assert len(smtp_server.messages) == 1
    message = smtp_server.messages[0]
    assert smtp_server.envelopes[0][1] == ["Ann@example.com"]  # as the lead stores it
    assert message["Subject"] == "Please confirm your email address"
    assert "Hello Ann" in message.get_body(preferencelist=("plain",)).get_content()
    path = link_in(message)
    lead = Lead.objects.get(pk=answer["lead"])
    assert lead.confirmation_sent_at is not None
    assert lead.confirmed_at is None

    page = client.get(path)
    assert page.status_code == 200
    assert b'data-testid="confirm"' in page.content
    done = client.post(path)

    assert done.status_code == 200
    assert b"is confirmed" in done.content
    lead.refresh_from_db()
    assert lead.confirmed_at is not None
    confirmed = Activity.objects.get(lead=lead, kind=ActivityKind.CONFIRMED)
    assert confirmed.data == {"form": form.pk}


def test_opening_the_link_does_not_confirm(client, form, smtp_server,
                                           django_capture_on_commit_callbacks):
    submit(client, form, {"email": "ann@example.com"}, django_capture_on_commit_callbacks)
    path = link_in(smtp_server.messages[0])

    for _ in range(3):  # a mail scanner, a link preview, the person
        assert client.get(path).status_code == 200
        assert client.head(path).status_code == 200

    lead = Lead.objects.get()
    assert lead.confirmed_at is None
    assert not Activity.objects.filter(kind=ActivityKind.CONFIRMED).exists()


def test_confirming_twice_confirms_once(client, form, smtp_server,
                                        django_capture_on_commit_callbacks):
    submit(client, form, {"email": "ann@example.com"}, django_capture_on_commit_callbacks)
    path = link_in(smtp_server.messages[0])
    client.post(path)
    first = Lead.objects.get().confirmed_at

    again = client.post(path)
    shown_later = client.get(path)

    assert again.status_code == 200
    assert Lead.objects.get().confirmed_at == first
    assert Activity.objects.filter(kind=ActivityKind.CONFIRMED).count() == 1
    assert b"already confirmed" in shown_later.content


def test_the_page_shows_the_address_masked_and_never_caches(client, form, smtp_server,
                                                            django_capture_on_commit_callbacks):
    submit(client, form, {"email": "annabel@example.com"}, django_capture_on_commit_callbacks)
    response = client.get(link_in(smtp_server.messages[0]))

    assert "a••••••@example.com" in response.content.decode()
    assert b"annabel@" not in response.content
    assert "no-store" in response["Cache-Control"]
    assert response["Referrer-Policy"] == "no-referrer"


def test_at_most_one_link_per_address_per_hour(client, form, smtp_server,
                                               django_capture_on_commit_callbacks):
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        submit(client, form, {"email": "ann@example.com"}, django_capture_on_commit_callbacks)
        traveller.shift(timedelta(minutes=30))
        submit(client, form, {"email": "ANN@example.com"}, django_capture_on_commit_callbacks)
        other = FormFactory(double_opt_in=True)
        submit(client, other, {"email": "ann@example.com"}, django_capture_on_commit_callbacks)
        assert len(smtp_server.messages) == 1

        traveller.shift(timedelta(minutes=31))
        submit(client, form, {"email": "ann@example.com"}, django_capture_on_commit_callbacks)

    assert len(smtp_server.messages) == 2
    outcomes = [a.data["followup"]["confirmation"]["outcome"]
                for a in Activity.objects.filter(kind=ActivityKind.FORM_SUBMITTED)
                .order_by("id")]
    assert outcomes == ["sent", "throttled", "throttled", "sent"]


def test_the_hourly_limit_is_one_conditional_update(django_assert_num_queries):
    lead = LeadFactory()
    now = timezone.now()

    with django_assert_num_queries(1):
        assert optin.confirmation_claim(lead_id=lead.pk, now=now) is True
    assert optin.confirmation_claim(lead_id=lead.pk, now=now + timedelta(minutes=59)) is False
    assert optin.confirmation_claim(lead_id=lead.pk, now=now + timedelta(minutes=61)) is True


def test_a_second_run_of_the_task_sends_no_second_link(client, form, smtp_server,
                                                       django_capture_on_commit_callbacks):
    submit(client, form, {"email": "ann@example.com"}, django_capture_on_commit_callbacks)
    activity = Activity.objects.get(kind=ActivityKind.FORM_SUBMITTED)

    # Even hours later, when the hourly limit would let a new link through.
    with time_machine.travel(timezone.now() + timedelta(hours=5)):
        optin_confirmation_send(activity.pk)

    assert len(smtp_server.messages) == 1


def test_a_failed_send_leaves_the_hourly_limit_untouched(
    client, form, smtp_server, django_capture_on_commit_callbacks, settings
):
    from capture.services import notify

    settings.ACTIVITY_HANDLERS = []
    submit(client, form, {"email": "ann@example.com"}, django_capture_on_commit_callbacks)
    activity = Activity.objects.get(kind=ActivityKind.FORM_SUBMITTED)

    async def busy(server, session, envelope):
        return "421 4.7.0 Try again later"

    smtp_server.handle_DATA = busy
    with pytest.raises(notify.MailDeferred):
        notify.confirmation_email_send(activity_id=activity.pk)
    assert Lead.objects.get().confirmation_sent_at is None  # rolled back with the send

    del smtp_server.handle_DATA
    assert notify.confirmation_email_send(activity_id=activity.pk)["outcome"] == "sent"
    assert len(smtp_server.messages) == 1


def test_no_link_for_a_lead_already_confirmed(client, form, smtp_server,
                                              django_capture_on_commit_callbacks):
    LeadFactory(email="ann@example.com", confirmed_at=timezone.now())

    submit(client, form, {"email": "ann@example.com"}, django_capture_on_commit_callbacks)

    assert smtp_server.messages == []


def test_no_link_from_a_form_without_double_opt_in(client, smtp_server,
                                                   django_capture_on_commit_callbacks):
    submit(client, FormFactory(double_opt_in=False), {"email": "ann@example.com"},
           django_capture_on_commit_callbacks)

    assert smtp_server.messages == []


def test_an_expired_link_gets_a_clear_page(client, form, smtp_server,
                                           django_capture_on_commit_callbacks, settings):
    submit(client, form, {"email": "ann@example.com"}, django_capture_on_commit_callbacks)
    path = link_in(smtp_server.messages[0])

    with time_machine.travel(timezone.now() + timedelta(days=8)):
        shown = client.get(path)
        posted = client.post(path)

    assert shown.status_code == posted.status_code == 400
    assert b"This link has expired" in shown.content
    assert Lead.objects.get().confirmed_at is None


def test_a_tampered_link_is_not_found(client, form, smtp_server,
                                      django_capture_on_commit_callbacks):
    submit(client, form, {"email": "ann@example.com"}, django_capture_on_commit_callbacks)
    path = link_in(smtp_server.messages[0])
    token = path.split("/")[2]
    other_lead = LeadFactory(email="eve@example.com")
    forged = signing.dumps({"l": other_lead.pk, "f": form.pk, "e": "0" * 20}, salt="wrong")

    for bad in (token[:-2] + ("AA" if not token.endswith("AA") else "BB"), forged, "nonsense"):
        response = client.post(f"/confirm/{bad}/")
        assert response.status_code == 404
        assert b"This link does not work" in response.content
    assert not Lead.objects.filter(confirmed_at__isnull=False).exists()


def test_a_link_is_only_good_for_the_address_it_was_sent_to(client, form, smtp_server,
                                                            django_capture_on_commit_callbacks):
    submit(client, form, {"email": "ann@example.com"}, django_capture_on_commit_callbacks)
    path = link_in(smtp_server.messages[0])
    Lead.objects.update(email="someone-else@example.com")

    assert client.post(path).status_code == 404
    assert Lead.objects.get().confirmed_at is None


def test_the_link_is_signed_with_its_own_salt():
    lead = LeadFactory()
    token = optin.confirmation_token(lead=lead, form_id=1)

    with pytest.raises(signing.BadSignature):
        signing.loads(token)  # the default salt: a session or another link won't do
    assert urlsplit(optin.confirmation_url(token)).path == f"/confirm/{token}/"


def test_nurture_can_tell_who_awaits_confirmation(client, form, smtp_server,
                                                  django_capture_on_commit_callbacks):
    submit(client, form, {"email": "ann@example.com"}, django_capture_on_commit_callbacks)
    submit(client, FormFactory(), {"email": "bob@example.com"}, django_capture_on_commit_callbacks)
    ann, bob = Lead.objects.get(email="ann@example.com"), Lead.objects.get(email="bob@example.com")

    assert lead_awaiting_confirmation(ann) is True
    assert lead_awaiting_confirmation(bob) is False
    assert list(Lead.objects.filter(awaiting_confirmation_q())) == [ann]

    client.post(link_in(smtp_server.messages[0]))
    ann.refresh_from_db()
    assert lead_awaiting_confirmation(ann) is False
    assert not Lead.objects.filter(awaiting_confirmation_q()).exists()


def test_a_failed_send_gives_back_the_hourly_claim_as_it_was(
    client, form, smtp_server, django_capture_on_commit_callbacks, settings
):
    from capture.services import notify

    settings.ACTIVITY_HANDLERS = []
    earlier = timezone.now() - timedelta(hours=2)
    LeadFactory(email="ann@example.com", confirmation_sent_at=earlier)
    submit(client, form, {"email": "ann@example.com"}, django_capture_on_commit_callbacks)
    activity = Activity.objects.get(kind=ActivityKind.FORM_SUBMITTED)

    async def down(server, session, envelope):
        return "421 4.3.2 Service not available"

    smtp_server.handle_DATA = down
    with pytest.raises(notify.MailDeferred):
        notify.confirmation_email_send(activity_id=activity.pk)

    assert Lead.objects.get().confirmation_sent_at == earlier
