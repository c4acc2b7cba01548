"""The submissions inbox: per form and overall, the Spam folder with its reasons, search
and filters, the detail page, "Not spam", and escaping of everything a visitor typed."""

import json
import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from capture.models import Activity, ActivityKind, Channel, Lead, Submission
from capture.services import form_create
from tests.factories import FormFactory, LeadFactory, SubmissionFactory

pytestmark = pytest.mark.django_db

EVIL = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


def rows(page: str) -> list[str]:
    return re.findall(r'<tr data-testid="submission-row">(.*?)</tr>', page, re.S)


@pytest.fixture
def form():
    return FormFactory(with_fields=True, name="Ebook")


def test_the_inbox_lists_genuine_submissions_newest_first_with_everything(client, rep, form):
    now = timezone.now()
    lead = LeadFactory(email="ann@example.com")
    SubmissionFactory(form=form, lead=LeadFactory(email="old@example.com"),
                      created_at=now - timedelta(days=2))
    Submission.objects.filter(lead__email="old@example.com").update(
        created_at=now - timedelta(days=2))
    SubmissionFactory(
        form=form, lead=lead, channel=Channel.HOSTED,
        data={"email": "ann@example.com", "first_name": "Ann", "topic": "b"},
        attribution={"utm_source": "newsletter", "utm_campaign": "spring",
                     "referrer": "https://news.example.com/",
                     "landing_url": "https://www.example.com/ebook?utm_source=newsletter"},
        ip="203.0.113.9", user_agent="Mozilla/5.0 (X11; Linux) Firefox/140.0",
    )
    SubmissionFactory(form=form, lead=None, is_spam=True, spam_reason="honeypot field filled")
    client.force_login(rep)

    page = client.get(f"/forms/{form.pk}/submissions/").content.decode()

    found = rows(page)
    assert len(found) == 2  # spam is not in the inbox
    newest = found[0]
    assert f'href="/leads/{lead.pk}/"' in newest
    for text in ("First name", "Ann", "Topic", "newsletter", "spring", "https://news.example.com/",
                 "https://www.example.com/ebook?utm_source=newsletter", "203.0.113.9",
                 "Mozilla/5.0 (X11; Linux) Firefox/140.0", "Hosted page"):
        assert text in newest, text
    assert "old@example.com" in found[1]
    assert re.search(r'data-testid="inbox-count">2<', page)
    assert re.search(r'data-testid="spam-count">1<', page)


def test_the_spam_folder_shows_why_each_was_flagged(client, rep, form):
    SubmissionFactory(form=form, lead=None, is_spam=True, spam_reason="honeypot field filled",
                      data={"email": "bot@example.com"})
    SubmissionFactory(form=form)
    client.force_login(rep)

    page = client.get(f"/forms/{form.pk}/submissions/", {"folder": "spam"}).content.decode()

    found = rows(page)
    assert len(found) == 1
    assert "bot@example.com" in found[0]
    assert re.search(r'data-testid="spam-reason">honeypot field filled<', found[0])
    assert 'data-testid="not-spam"' not in page  # reps can't act on spam
    assert ">Clear</a>" not in page  # the form is the page, not a filter


def test_the_overall_inbox_has_every_form_and_filters_by_form(client, marketer, form):
    other = FormFactory(name="Webinar")
    SubmissionFactory(form=form)
    SubmissionFactory(form=other)
    client.force_login(marketer)

    everything = client.get("/forms/submissions/").content.decode()
    webinar = client.get("/forms/submissions/", {"form": other.pk}).content.decode()

    assert len(rows(everything)) == 2
    assert "Webinar" in everything and "Ebook" in everything
    assert len(rows(webinar)) == 1 and "Webinar" in rows(webinar)[0]


def test_it_searches_by_email_in_both_folders(client, marketer):
    form = form_create(name="Renamed", status="live", fields=[
        {"name": "work_email", "type": "email"}, {"name": "company"}])
    SubmissionFactory(form=form, lead=LeadFactory(email="ann@acme.example"),
                      data={"work_email": "ann@acme.example"})
    SubmissionFactory(form=form, lead=LeadFactory(email="bob@other.example"),
                      data={"work_email": "bob@other.example"})
    SubmissionFactory(form=form, lead=None, is_spam=True, spam_reason="too fast",
                      data={"work_email": "bot@acme.example"})
    plain = FormFactory()
    SubmissionFactory(form=plain, lead=None, is_spam=True, data={"email": "spam@acme.example"})
    client.force_login(marketer)

    inbox = client.get("/forms/submissions/", {"q": "ACME"}).content.decode()
    spam = client.get("/forms/submissions/", {"q": "acme", "folder": "spam"}).content.decode()

    assert len(rows(inbox)) == 1 and "ann@acme.example" in inbox
    assert len(rows(spam)) == 2
    assert "bot@acme.example" in spam and "spam@acme.example" in spam


def test_it_filters_by_channel_and_date(client, marketer, form):
    now = timezone.now()
    SubmissionFactory(form=form, channel=Channel.API)
    old = SubmissionFactory(form=form, channel=Channel.HTML)
    Submission.objects.filter(pk=old.pk).update(created_at=now - timedelta(days=10))
    client.force_login(marketer)

    api_only = client.get("/forms/submissions/", {"channel": "api"}).content.decode()
    recent = client.get("/forms/submissions/", {
        "date_from": (now - timedelta(days=1)).date().isoformat()}).content.decode()
    older = client.get("/forms/submissions/", {
        "date_to": (now - timedelta(days=5)).date().isoformat()}).content.decode()
    bad = client.get("/forms/submissions/", {"date_from": "soon", "channel": "fax"})

    assert len(rows(api_only)) == 1 and "JSON API" in api_only
    assert len(rows(recent)) == 1 and "JSON API" in rows(recent)[0]
    assert len(rows(older)) == 1 and "HTML form" in rows(older)[0]
    assert bad.status_code == 200
    assert len(rows(bad.content.decode())) == 2  # unreadable filters are left out, and said
    assert "Enter a date as YYYY-MM-DD." in bad.content.decode()


def test_the_inbox_pages_and_costs_the_same_queries_for_more_rows(client, marketer, form):
    client.force_login(marketer)
    SubmissionFactory(form=form)
    client.get("/forms/submissions/")
    with CaptureQueriesContext(connection) as one:
        client.get("/forms/submissions/")
    for other in FormFactory.create_batch(3, with_fields=True):
        SubmissionFactory.create_batch(10, form=other)
    with CaptureQueriesContext(connection) as many:
        first = client.get("/forms/submissions/").content.decode()
    second = client.get("/forms/submissions/", {"page": 2}).content.decode()

    assert len(rows(first)) == 25 and len(rows(second)) == 6
    assert len(many) == len(one)


def test_the_detail_page_shows_one_submission(client, rep, form):
    lead = LeadFactory(email="ann@example.com")
    submission = SubmissionFactory(
        form=form, lead=lead, data={"email": "ann@example.com", "company": "Acme",
                                    "old_field": "from before"},
        ignored_fields=["score"], attribution={"utm_source": "ads"}, ip="198.51.100.7",
        user_agent="TestAgent/1.0", consent_given=True, consent_text="Yes, email me.",
        consent_version=2,
    )
    client.force_login(rep)

    page = client.get(f"/forms/submissions/{submission.pk}/").content.decode()

    for text in ("Acme", "old_field", "from before", "score", "ads", "198.51.100.7",
                 "TestAgent/1.0", "version 2", "Yes, email me.", f'href="/leads/{lead.pk}/"'):
        assert text in page, text


def test_not_spam_processes_the_submission_like_an_accepted_one(client, marketer, form):
    spam = SubmissionFactory(form=form, lead=None, is_spam=True, spam_reason="too fast",
                             data={"email": "ann@example.com", "company": "Acme",
                                   "topic": "a"},
                             attribution={"utm_source": "newsletter"})
    client.force_login(marketer)

    response = client.post(f"/forms/submissions/{spam.pk}/not-spam/",
                           {"next": f"/forms/{form.pk}/submissions/?folder=spam"})

    assert response.status_code == 302
    assert response["Location"] == f"/forms/{form.pk}/submissions/?folder=spam"
    spam.refresh_from_db()
    lead = Lead.objects.get()
    assert (spam.is_spam, spam.lead_id) == (False, lead.pk)
    assert (lead.email, lead.company, lead.attributes) == ("ann@example.com", "Acme",
                                                           {"topic": "a"})
    assert lead.last_utm_source == "newsletter"
    activity = Activity.objects.get(kind=ActivityKind.FORM_SUBMITTED)
    assert (activity.lead_id, activity.data["submission"]) == (lead.pk, spam.pk)
    assert "marked not spam by mia" in spam.spam_reason


def test_not_spam_never_redirects_off_site(client, marketer, form):
    spam = SubmissionFactory(form=form, lead=None, is_spam=True, data={"email": "a@example.com"})
    client.force_login(marketer)

    response = client.post(f"/forms/submissions/{spam.pk}/not-spam/",
                           {"next": "https://evil.example.net/"})

    assert response["Location"] == f"/forms/submissions/{spam.pk}/"


def test_not_spam_says_so_when_the_values_no_longer_fit_the_form(client, marketer, form):
    spam = SubmissionFactory(form=form, lead=None, is_spam=True,
                             data={"email": "ann@example.com", "topic": "gone"})
    client.force_login(marketer)

    response = client.post(f"/forms/submissions/{spam.pk}/not-spam/", follow=True)

    assert "no longer fits the form" in response.content.decode()
    spam.refresh_from_db()
    assert spam.is_spam and not Lead.objects.exists()


def test_reps_may_not_mark_submissions_not_spam(client, rep, form):
    spam = SubmissionFactory(form=form, lead=None, is_spam=True, data={"email": "a@example.com"})
    client.force_login(rep)

    assert client.post(f"/forms/submissions/{spam.pk}/not-spam/").status_code == 403
    assert client.get(f"/forms/submissions/{spam.pk}/not-spam/").status_code == 403
    spam.refresh_from_db()
    assert spam.is_spam


def test_everything_a_visitor_typed_is_escaped(client, marketer):
    """Posted through the public endpoint, a script in every field, in the page URL's
    UTM parameters, the referrer, the user agent and even the email's quoted local part."""
    form = form_create(name="Contact", status="live", fields=[
        {"name": "email", "type": "email"},
        {"name": "first_name", "maps_to": "first_name"},
        {"name": "company", "maps_to": "company"},
        {"name": "message", "type": "textarea", "maps_to": "attributes.message"},
        {"name": "note"},
    ])
    email = f'"{EVIL}"@example.com'
    body = {
        "email": email, "first_name": EVIL, "company": EVIL, "message": EVIL, "note": EVIL,
        EVIL: EVIL,  # an unknown field: ignored, and its name reported
        "_lh_page": "https://www.example.com/?utm_source=%3Cscript%3Ealert(1)%3C/script%3E",
        "_lh_ref": f"https://ref.example.com/{EVIL}",
    }
    genuine = client.post(f"/api/v1/forms/{form.key}/submissions/", json.dumps(body),
                          content_type="application/json", HTTP_USER_AGENT=EVIL)
    spam = client.post(f"/api/v1/forms/{form.key}/submissions/",
                       json.dumps({**body, "lh_url": EVIL}),
                       content_type="application/json", HTTP_USER_AGENT=EVIL)
    assert genuine.status_code == 201 and spam.status_code == 201, genuine.content
    lead = Lead.objects.get()
    assert lead.first_name == EVIL and lead.last_utm_source == EVIL
    client.force_login(marketer)

    pages = [
        "/forms/submissions/", "/forms/submissions/?folder=spam",
        f"/forms/{form.pk}/submissions/", f"/forms/{form.pk}/submissions/?folder=spam",
        f"/forms/submissions/{genuine.json()['submission']}/",
        f"/forms/submissions/{spam.json()['submission']}/",
        f"/leads/{lead.pk}/",
    ]
    for url in pages:
        page = client.get(url).content.decode()
        assert EVIL not in page, url
        assert ESCAPED in page, url
