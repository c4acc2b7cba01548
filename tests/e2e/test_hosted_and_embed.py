"""Visitors in a real Chromium: a landing page with A/B variants, proof of work and a
lead magnet; and the JS embed on a page from another origin (a tiny http.server on
127.0.0.1 while LeadHub's live server is on localhost), with its inline errors, its
retry after a network failure and its proof of work.

The forms set ``min_seconds=0``: a browser fills a form faster than a person does."""

import re
from urllib.parse import urlsplit

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from playwright.sync_api import expect

from capture.models import Activity, FormViews, Lead, Submission
from capture.services.pages import page_create, variant_create
from tests.factories import FormFactory, FormFieldFactory, LeadFactory
from tests.websites import OtherOriginSite

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

GUIDE = b"%PDF-1.7 The 2026 guide to lead capture"


@pytest.fixture(autouse=True)
def _public(settings, live_server, tmp_path):
    settings.PUBLIC_URL = live_server.url
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def site():
    site = OtherOriginSite()
    yield site
    site.close()


def embed_page(live_server, form, *, with_target: bool = True) -> str:
    """A page with CSS of its own that would wreck a form not isolated from it."""
    target = f'<div data-leadhub-form="{form.key}"></div>' if with_target else ""
    return f"""<!doctype html><html><head><title>Partner site</title>
<style>
  * {{ font-family: "Comic Sans MS", cursive !important; }}
  input, button {{ border: 6px dashed red; background: yellow; width: 50px; }}
  .lh-form, .lh-input {{ display: none; }}
</style></head>
<body><h1>Our ebook</h1>{target}
<script src="{live_server.url}/f/{form.key}/embed.js"></script>
</body></html>"""


def test_a_visitor_signs_up_on_a_landing_page_and_downloads_the_lead_magnet(page, live_server):
    form = FormFactory(name="Guide form", min_seconds=0, proof_of_work=True,
                       thank_you_message="Thanks! Your guide is ready.")
    FormFieldFactory(form=form, name="first_name", maps_to="first_name", label="First name",
                     position=1)
    FormFieldFactory(form=form, name="company", maps_to="company", label="Company", position=2)
    landing = page_create(
        slug="guide-2026", title="The 2026 guide", status="live",
        meta_description="How to capture leads",
        lead_magnet=SimpleUploadedFile("guide.pdf", GUIDE), lead_magnet_name="The 2026 guide",
        variant={"headline": "Get the 2026 guide", "body_markdown": "Learn **everything**.",
                 "form": form},
    )
    variant_create(page=landing, name="B", headline="Download the 2026 guide", form=form)

    page.goto("/p/guide-2026/?utm_source=google&utm_campaign=spring")
    expect(page).to_have_title("The 2026 guide")
    headline = page.get_by_test_id("headline").inner_text()
    assert headline in ("Get the 2026 guide", "Download the 2026 guide")
    page.get_by_label("Email").fill("ann.novak@example")
    page.get_by_label("First name").fill("Ann")
    page.get_by_role("button", name="Submit").click()
    # Back on the same variant with the error, the value kept and the field focused.
    expect(page.get_by_text("Enter a valid email address.")).to_be_visible()
    expect(page.get_by_test_id("headline")).to_have_text(headline)
    expect(page.get_by_label("Email")).to_be_focused()
    expect(page.get_by_label("First name")).to_have_value("Ann")

    page.get_by_label("Email").fill("ann.novak@example.com")
    page.get_by_label("Company").fill("Acme <Ltd>")
    page.get_by_role("button", name="Submit").click()

    expect(page.get_by_test_id("thank-you")).to_have_text("Thanks! Your guide is ready.")
    with page.expect_download() as download_info:
        page.get_by_test_id("magnet-link").click()
    download = download_info.value
    assert download.suggested_filename == "The 2026 guide.pdf"
    with open(download.path(), "rb") as downloaded:
        assert downloaded.read() == GUIDE

    lead = Lead.objects.get()
    assert (lead.email, lead.first_name, lead.company) == ("ann.novak@example.com", "Ann",
                                                           "Acme <Ltd>")
    assert (lead.first_utm_source, lead.first_utm_campaign) == ("google", "spring")
    submission = Submission.objects.get()
    assert not submission.is_spam, submission.spam_reason  # the proof of work was solved
    assert submission.variant.headline == headline
    assert FormViews.objects.get().variant_id == submission.variant_id
    download_activity = Activity.objects.get(kind="lead_magnet_downloaded")
    assert download_activity.lead == lead
    assert download_activity.data["page_slug"] == "guide-2026"


def test_the_embed_on_another_site_shows_errors_inline_then_submits(page, live_server, site):
    form = FormFactory(with_fields=True, min_seconds=0, allowed_origins=[site.origin],
                       thank_you_message="Thanks — we'll be in touch!")
    site.html = embed_page(live_server, form)

    page.goto(site.origin + "/")
    email = page.get_by_label("Email")
    expect(email).to_be_visible()
    # The partner's CSS does not reach into the form.
    assert email.evaluate("e => getComputedStyle(e).borderTopStyle") == "solid"
    assert "Comic" not in email.evaluate("e => getComputedStyle(e).fontFamily")
    expect(page.get_by_label("Topic")).to_have_js_property("tagName", "SELECT")

    email.fill("not-an-email")
    page.get_by_label("Company").fill("Acme")
    page.get_by_role("button", name="Submit").click()
    expect(page.get_by_text("Enter a valid email address.")).to_be_visible()
    expect(email).to_have_attribute("aria-invalid", "true")
    expect(email).to_have_attribute("aria-describedby", re.compile(r"-email-err$"))
    expect(email).to_be_focused()
    assert not Submission.objects.exists()

    email.fill("ann@example.com")
    page.get_by_role("button", name="Submit").click()
    expect(page.get_by_text("Thanks — we'll be in touch!")).to_be_visible()

    submission = Submission.objects.get()
    assert submission.channel == "embed"
    assert not submission.is_spam, submission.spam_reason
    assert submission.data["company"] == "Acme"
    assert submission.attribution["landing_url"] == site.origin + "/"
    assert Lead.objects.get().email == "ann@example.com"
    assert FormViews.objects.get(form=form).views == 1


def test_the_embed_retries_a_failed_post_with_the_same_key_and_solves_proof_of_work(
    page, live_server, site
):
    form = FormFactory(min_seconds=0, allowed_origins=[site.origin], proof_of_work=True)
    site.html = embed_page(live_server, form, with_target=False)
    posts: list[str] = []

    def flaky(route, request):
        if request.method != "POST":
            return route.continue_()
        posts.append(request.headers.get("idempotency-key", ""))
        if len(posts) == 1:
            return route.abort("connectionreset")  # the first try never arrives
        if len(posts) == 2:
            # The second arrives but its answer is lost: the third must be a replay.
            route.fetch()
            return route.abort("connectionreset")
        return route.continue_()

    page.route(f"{live_server.url}/api/v1/forms/{form.key}/submissions/", flaky)
    page.goto(site.origin + "/")
    page.get_by_label("Email").fill("bob@example.com")
    page.get_by_role("button", name="Submit").click()

    expect(page.get_by_role("status").filter(has_text="Thank you")).to_be_visible(timeout=20_000)
    assert len(posts) == 3
    assert len(set(posts)) == 1 and posts[0]  # one Idempotency-Key for the one fill
    submission = Submission.objects.get()
    assert not submission.is_spam, submission.spam_reason
    # Inserted before the script tag, since the page had no placeholder for it.
    assert page.evaluate(
        "() => document.querySelector('script[src*=embed]').previousElementSibling"
        ".hasAttribute('data-lh-rendered')"
    )
    assert urlsplit(submission.attribution["landing_url"]).netloc == urlsplit(site.origin).netloc


def test_the_hosted_page_asks_which_fields_a_typed_email_still_needs(page, live_server):
    """public-form.js, as the embed does: an email that is a known lead's shows the
    fields that lead has not answered, hiding the rest (they post nothing)."""
    form = FormFactory(with_fields=True, min_seconds=0, progressive_profiling=True,
                       max_fields=2)
    FormFieldFactory(form=form, name="job", maps_to="job_title", label="Job", position=4)
    LeadFactory(email="ann@example.com", first_name="Ann", company="Acme", job_title="")

    page.goto(f"/f/{form.key}/")
    expect(page.get_by_label("First name")).to_be_visible()
    expect(page.get_by_label("Topic")).to_be_hidden()
    page.get_by_label("Email").fill("ann@example.com")
    page.get_by_label("Email").blur()  # "change"

    expect(page.get_by_label("Topic")).to_be_visible()
    expect(page.get_by_label("Job")).to_be_hidden()  # max_fields: email and one more
    expect(page.get_by_label("First name")).to_be_hidden()
    expect(page.get_by_label("Company")).to_be_hidden()
    page.get_by_label("Topic").select_option("b")
    page.get_by_role("button", name="Submit").click()

    expect(page.get_by_test_id("thank-you")).to_be_visible()
    submission = Submission.objects.get()
    assert submission.data["first_name"] == ""  # hidden, so disabled: nothing posted
    lead = Lead.objects.get()
    assert (lead.first_name, lead.company, lead.attributes) == ("Ann", "Acme", {"topic": "b"})
    # LeadHub's own cookie now knows this browser: the next visit starts from there.
    cookie = next(c for c in page.context.cookies() if c["name"] == "lh_vid")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    page.goto(f"/f/{form.key}/")
    expect(page.get_by_label("Topic")).to_be_hidden()  # answered now
    expect(page.get_by_label("Job")).to_be_visible()
    expect(page.get_by_label("First name")).to_be_hidden()


def test_the_plain_snippet_tells_leadhub_the_page_and_its_utm_parameters(
    page, live_server, site
):
    from capture.views.forms import html_snippet

    form = FormFactory(with_fields=True, allowed_origins=[site.origin],
                       thank_you_message="Thanks from the snippet!")
    FormFieldFactory(form=form, name="utm_source", type="hidden", default="website",
                     maps_to="attributes.utm_source", position=5)
    site.html = ("<!doctype html><html><head><title>Partner</title></head><body>"
                 f"{html_snippet(form, form.fields.all())}</body></html>")

    page.goto(site.origin + "/ebook?utm_source=news&utm_campaign=spring")
    page.get_by_label("Email").fill("ann@example.com")
    page.get_by_role("button", name="Submit").click()

    expect(page.get_by_text("Thanks from the snippet!")).to_be_visible()
    lead = Lead.objects.get()
    assert (lead.first_utm_source, lead.first_utm_campaign) == ("news", "spring")
    assert lead.first_landing_url == site.origin + "/ebook?utm_source=news&utm_campaign=spring"
    assert lead.attributes == {"utm_source": "news"}  # the hidden field, from the page
    assert Submission.objects.get().channel == "html"


def test_the_embed_thanks_a_visitor_whose_post_was_filed_as_spam(page, live_server, site):
    form = FormFactory(min_seconds=3600, allowed_origins=[site.origin],
                       thank_you_message="Thanks — we'll be in touch!")
    site.html = embed_page(live_server, form)

    page.goto(site.origin + "/")
    page.get_by_label("Email").fill("bot@example.com")
    page.get_by_role("button", name="Submit").click()

    expect(page.get_by_text("Thanks — we'll be in touch!")).to_be_visible()
    submission = Submission.objects.get()
    assert submission.is_spam and "after the form was shown" in submission.spam_reason
    assert not Lead.objects.exists()
