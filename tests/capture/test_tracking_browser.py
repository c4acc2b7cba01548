"""The tracking snippet in a real Chromium, on a website of another origin (a tiny
http.server on 127.0.0.1 while LeadHub's live server is on localhost): page views on load
and on pushState, the visitor id kept in a first-party cookie, and, once the visitor
submits LeadHub's form embed on that site, those page views on the new lead's timeline."""


import pytest
from playwright.sync_api import expect

from capture.models import Activity, ActivityKind, Lead, Visitor, VisitorEvent
from capture.services.tracking import visitor_unsign
from tests.factories import FormFactory, TrackingSiteFactory
from tests.websites import OtherOriginSite

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def website(settings, live_server):
    settings.PUBLIC_URL = live_server.url
    settings.ACTIVITY_HANDLERS = ["capture.handlers.form_submitted_follow_up"]
    website = OtherOriginSite()
    yield website
    website.close()


def page_html(live_server, site, *, form=None, extra="") -> str:
    embed = (f'<div data-leadhub-form="{form.key}"></div>'
             f'<script src="{live_server.url}/f/{form.key}/embed.js"></script>') if form else ""
    return f"""<!doctype html><html><head><title>Home</title>
<script src="{live_server.url}/t.js" data-site="{site.key}" {extra} async></script>
</head><body><h1>Acme</h1>
<button id="pricing"
  onclick="document.title = 'Pricing'; history.pushState({{}}, '', '/pricing')">Pricing</button>
{embed}</body></html>"""


def is_page_view(response) -> bool:
    return response.url.endswith("/api/v1/events/") and response.request.method == "POST"


# The database is read only after the browser saw the answer: on SQLite the live server
# and the test share one in-memory database, and reading it while the server writes
# fails the server's write ("database table is locked").


def test_page_views_become_the_leads_activities_when_the_visitor_submits_a_form(
    page, live_server, website
):
    site = TrackingSiteFactory(allowed_origins=[website.origin])
    form = FormFactory(with_fields=True, allowed_origins=[website.origin], min_seconds=0)
    website.html = page_html(live_server, site, form=form)

    with page.expect_response(is_page_view) as first:
        page.goto(website.origin + "/")
    assert first.value.status == 201
    page.wait_for_function("document.cookie.includes('lh_vid=')")
    assert VisitorEvent.objects.count() == 1
    cookie = next(c for c in page.context.cookies() if c["name"] == "lh_vid")
    assert cookie["domain"] == "127.0.0.1"  # the website's own domain, not LeadHub's
    visitor = Visitor.objects.get()
    assert visitor_unsign(page.evaluate("decodeURIComponent(document.cookie.split('lh_vid=')[1])"
                                        )) == visitor.pk

    with page.expect_response(is_page_view) as second:
        page.click("#pricing")  # a single-page app's navigation
    assert second.value.status == 201
    assert VisitorEvent.objects.count() == 2
    pricing = VisitorEvent.objects.latest("id")
    assert pricing.visitor_id == visitor.pk  # the same visitor, by its cookie
    assert pricing.data == {"url": website.origin + "/pricing", "title": "Pricing",
                            "referrer": website.origin + "/"}

    page.get_by_label("Email").fill("ann@example.com")
    page.get_by_role("button", name="Submit").click()
    expect(page.get_by_role("status").filter(has_text="Thank")).to_be_visible()

    lead = Lead.objects.get(email="ann@example.com")
    views = Activity.objects.filter(lead=lead, kind=ActivityKind.PAGE_VIEWED).order_by(
        "occurred_at")
    assert [v.data["url"] for v in views] == [website.origin + "/", website.origin + "/pricing"]
    assert not VisitorEvent.objects.exists()
    assert Visitor.objects.get().lead == lead


def test_it_sends_nothing_when_the_browser_asks_not_to_be_tracked(page, live_server, website):
    site = TrackingSiteFactory(allowed_origins=[website.origin])
    website.html = page_html(live_server, site, extra="data-respect-dnt")
    page.add_init_script("Object.defineProperty(navigator, 'globalPrivacyControl', "
                         "{get: () => true})")
    requests = []
    page.on("request", lambda r: requests.append(r.url) if "/api/v1/events/" in r.url else None)

    page.goto(website.origin + "/")
    page.click("#pricing")
    page.wait_for_timeout(500)

    assert requests == []
    assert not Visitor.objects.exists()


def test_without_the_option_it_tracks_whatever_the_browser_says(page, live_server, website):
    site = TrackingSiteFactory(allowed_origins=[website.origin])
    website.html = page_html(live_server, site)
    page.add_init_script("Object.defineProperty(navigator, 'globalPrivacyControl', "
                         "{get: () => true})")

    with page.expect_response(is_page_view) as sent:
        page.goto(website.origin + "/")

    assert sent.value.status == 201
    assert VisitorEvent.objects.count() == 1


def test_a_plain_html_form_to_leadhub_carries_the_visitor_id_from_the_snippet(
    page, live_server, website
):
    # No embed: the copy-paste HTML snippet posts straight to /f/<key>/. t.js adds the
    # visitor id as the form is submitted, so the earlier page views still count.
    site = TrackingSiteFactory(allowed_origins=[website.origin])
    form = FormFactory(with_fields=True, allowed_origins=[website.origin], min_seconds=0)
    plain = (f'<form method="post" action="{live_server.url}/f/{form.key}/">'
             '<label>Email <input type="email" name="email"></label>'
             '<button type="submit">Send</button></form>')
    website.html = page_html(live_server, site, extra="").replace("</body>", plain + "</body>")

    with page.expect_response(is_page_view):
        page.goto(website.origin + "/pricing")
    page.wait_for_function("document.cookie.includes('lh_vid=')")

    page.get_by_label("Email").fill("pia@example.com")
    with page.expect_navigation():
        page.get_by_role("button", name="Send").click()
    expect(page.locator("body")).to_contain_text("Thank")

    lead = Lead.objects.get(email="pia@example.com")
    views = Activity.objects.filter(lead=lead, kind=ActivityKind.PAGE_VIEWED)
    assert [v.data["url"] for v in views] == [website.origin + "/pricing"]
    assert Visitor.objects.get().lead == lead
