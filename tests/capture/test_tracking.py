"""The tracking snippet (GET /t.js), visitor ids, and the marketer's tracking sites
(/forms/sites/)."""

import uuid
from datetime import timedelta

import pytest

from capture.models import TrackingSite, Visitor, VisitorEvent
from capture.services.tracking import (
    MAX_LINKED_EVENTS,
    page_view_record,
    visitor_link,
    visitor_sign,
    visitor_unsign,
)
from tests.factories import LeadFactory, TrackingSiteFactory

pytestmark = pytest.mark.django_db


# --- GET /t.js ------------------------------------------------------------------------------


def test_it_serves_the_snippet_as_a_small_script(client):
    response = client.get("/t.js")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/javascript; charset=utf-8"
    assert len(response.content) < 5 * 1024
    assert b"/api/v1/events/" in response.content
    assert b"lh_vid" in response.content
    assert b"data-respect-dnt" in response.content
    assert "max-age=" in response["Cache-Control"]
    assert response["Cross-Origin-Resource-Policy"] == "cross-origin"


def test_it_answers_a_revalidation_with_304(client):
    etag = client.get("/t.js")["ETag"]

    response = client.get("/t.js", HTTP_IF_NONE_MATCH=etag)

    assert response.status_code == 304
    assert response.content == b""


def test_it_needs_no_login_and_refuses_posts(client):
    assert client.head("/t.js").status_code == 200
    assert client.post("/t.js").status_code == 405


# --- Visitor ids ------------------------------------------------------------------------------


def test_a_visitor_id_is_signed_and_checked():
    visitor_id = uuid.uuid4()
    signed = visitor_sign(visitor_id)

    assert signed.startswith(f"{visitor_id}:")
    assert visitor_unsign(signed) == visitor_id
    for bad in (str(visitor_id), signed + "x", f"{uuid.uuid4()}:{signed.split(':')[1]}", None,
                42, "", "x" * 500):
        assert visitor_unsign(bad) is None


def test_the_form_pages_read_the_same_visitor_ids():
    # capture.views.public recognises returning visitors by the same cookie and salt.
    from capture.views import public

    lead = LeadFactory()
    visitor = Visitor.objects.create(lead=lead)

    assert public.visitor_lead(visitor_sign(visitor.pk)) == lead


def test_linking_keeps_only_the_latest_page_views_of_a_busy_visitor():
    site = TrackingSiteFactory()
    signed = page_view_record(site=site, visitor="", url="https://www.example.com/0",
                              title="", referrer="").visitor
    visitor, latest = Visitor.objects.get(), VisitorEvent.objects.get().occurred_at
    VisitorEvent.objects.bulk_create(
        VisitorEvent(visitor=visitor, site=site, kind="page_viewed",
                     data={"url": f"https://www.example.com/{n}", "title": "", "referrer": ""},
                     occurred_at=latest - timedelta(minutes=n))
        for n in range(1, MAX_LINKED_EVENTS + 20)
    )
    lead = LeadFactory()

    linked = visitor_link(visitor=signed, lead=lead)

    assert linked == MAX_LINKED_EVENTS
    assert lead.activities.filter(kind="page_viewed").count() == MAX_LINKED_EVENTS
    urls = set(lead.activities.values_list("data__url", flat=True))
    assert "https://www.example.com/0" in urls  # the newest are kept…
    assert f"https://www.example.com/{MAX_LINKED_EVENTS + 5}" not in urls  # …the oldest not
    assert not VisitorEvent.objects.exists()


# --- /forms/sites/ ------------------------------------------------------------------------------


def test_a_marketer_adds_a_site_and_gets_the_snippet(client, marketer, settings):
    settings.PUBLIC_URL = "https://leadhub.example.org"
    client.force_login(marketer)

    response = client.post("/forms/sites/new/", {
        "name": "Main website",
        "allowed_origins": "https://www.example.com/\nhttp://LOCALHOST:3000\n\n",
    })

    site = TrackingSite.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/forms/sites/{site.pk}/"
    assert site.name == "Main website"
    assert site.allowed_origins == ["https://www.example.com", "http://localhost:3000"]
    page = client.get(response["Location"])
    snippet = (f'&lt;script src=&quot;https://leadhub.example.org/t.js&quot; '
               f'data-site=&quot;{site.key}&quot; async&gt;&lt;/script&gt;')
    assert snippet in page.content.decode()


def test_an_origin_with_a_path_is_refused(client, marketer):
    client.force_login(marketer)

    response = client.post("/forms/sites/new/", {
        "name": "Main website", "allowed_origins": "https://www.example.com/pricing"})

    assert response.status_code == 400
    assert "is not an origin" in response.content.decode()
    assert not TrackingSite.objects.exists()


def test_a_marketer_edits_and_deletes_a_site(client, marketer):
    site = TrackingSiteFactory(name="Old", allowed_origins=["https://old.example.com"])
    client.force_login(marketer)

    assert client.get(f"/forms/sites/{site.pk}/edit/").status_code == 200
    edited = client.post(f"/forms/sites/{site.pk}/edit/", {
        "name": "Blog", "allowed_origins": "https://blog.example.com"})
    site.refresh_from_db()
    assert edited.status_code == 302
    assert (site.name, site.allowed_origins) == ("Blog", ["https://blog.example.com"])

    assert client.get(f"/forms/sites/{site.pk}/delete/").status_code == 200
    deleted = client.post(f"/forms/sites/{site.pk}/delete/")
    assert deleted.status_code == 302
    assert not TrackingSite.objects.exists()


def test_the_list_shows_sites_with_their_waiting_page_views(client, marketer):
    site = TrackingSiteFactory(name="<b>Shop</b>")
    page_view_record(site=site, visitor="", url="https://www.example.com/", title="",
                     referrer="")
    client.force_login(marketer)

    response = client.get("/forms/sites/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "&lt;b&gt;Shop&lt;/b&gt;" in html and "<b>Shop</b>" not in html
    assert response.context["sites"][0].waiting == 1
    assert 'href="/forms/sites/new/"' in html


def test_a_rep_sees_the_sites_but_cannot_change_them(client, rep):
    site = TrackingSiteFactory()
    client.force_login(rep)

    listing = client.get("/forms/sites/")
    assert listing.status_code == 200
    assert 'href="/forms/sites/new/"' not in listing.content.decode()
    assert client.get(f"/forms/sites/{site.pk}/").status_code == 200
    assert client.get("/forms/sites/new/").status_code == 403
    assert client.post("/forms/sites/new/", {"name": "X"}).status_code == 403
    assert client.post(f"/forms/sites/{site.pk}/edit/", {"name": "X"}).status_code == 403
    assert client.post(f"/forms/sites/{site.pk}/delete/").status_code == 403
    assert TrackingSite.objects.get().name == site.name


def test_an_outsider_is_refused_and_a_stranger_sent_to_log_in(client, outsider):
    assert client.get("/forms/sites/")["Location"].startswith("/accounts/login/")
    client.force_login(outsider)
    assert client.get("/forms/sites/").status_code == 403


def test_an_unknown_site_is_404(client, marketer):
    client.force_login(marketer)
    assert client.get("/forms/sites/999/").status_code == 404
    assert client.post("/forms/sites/999/edit/", {"name": "X"}).status_code == 404


# --- Retention ----------------------------------------------------------------------------------


def test_the_daily_prune_forgets_old_anonymous_browsing_only(settings):
    from django.utils import timezone

    from capture.tasks import visitors_prune

    settings.VISITOR_RETENTION_DAYS = 180
    site = TrackingSiteFactory()
    now = timezone.now()
    old_visitor = page_view_record(site=site, visitor="", url="https://www.example.com/old",
                                   title="", referrer="", now=now - timedelta(days=200)).visitor
    page_view_record(site=site, visitor="", url="https://www.example.com/new", title="",
                     referrer="", now=now - timedelta(days=2))
    lead = LeadFactory()
    known = Visitor.objects.create(lead=lead)
    Visitor.objects.filter(pk__in=[visitor_unsign(old_visitor), known.pk]).update(
        last_seen_at=now - timedelta(days=200))

    assert visitors_prune() == 1

    assert list(VisitorEvent.objects.values_list("data__url", flat=True)) == [
        "https://www.example.com/new"]
    assert not Visitor.objects.filter(pk=visitor_unsign(old_visitor)).exists()
    assert Visitor.objects.filter(pk=known.pk).exists()  # linked to a lead: kept
    assert Visitor.objects.count() == 2
