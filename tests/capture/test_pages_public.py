"""GET /p/<slug>/: landing pages for visitors, their A/B split and view counts, posts
from them, and the lead magnet's signed download link (/m/<token>/)."""

import re
from collections import Counter
from datetime import timedelta
from html import unescape

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from capture.models import Activity, FormViews, Submission
from capture.services.pages import lead_magnet_token, page_create, variant_create
from capture.spam import read_render_token
from tests.factories import FormFactory, LandingPageFactory, LandingPageVariantFactory

pytestmark = pytest.mark.django_db

MAGNET_BYTES = b"%PDF-1.7 the guide"


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    settings.PUBLIC_URL = "https://leads.example.com"


@pytest.fixture
def form():
    return FormFactory(with_fields=True, min_seconds=0, thank_you_message="Thanks!")


@pytest.fixture
def page(form):
    page = page_create(
        slug="guide", title="The guide", status="live",
        meta_description="Everything about leads", social_title="Read the guide",
        social_image_url="https://cdn.example.com/cover.png",
        lead_magnet=SimpleUploadedFile("guide.pdf", MAGNET_BYTES),
        lead_magnet_name="The 2026 guide",
        variant={"headline": "Headline A", "body_markdown": "Body **A**", "form": form},
    )
    variant_create(page=page, name="B", headline="Headline B", body_markdown="Body B",
                   form=form)
    return page


def hidden(html: str, name: str) -> str:
    match = re.search(rf'name="{re.escape(name)}" value="([^"]*)"', html)
    assert match, f"no hidden input {name}"
    return unescape(match.group(1))


def headline(response) -> str:
    return re.search(r'data-testid="headline">([^<]*)<', response.content.decode()).group(1)


def test_unknown_and_draft_pages_are_404(client, form):
    draft = LandingPageVariantFactory(page=LandingPageFactory(status="draft"), form=form).page
    no_active = LandingPageVariantFactory(form=form, active=False).page
    draft_form = LandingPageVariantFactory(form=FormFactory(status="draft")).page

    assert client.get("/p/nope/").status_code == 404
    assert client.get(f"/p/{draft.slug}/").status_code == 404
    assert client.get(f"/p/{no_active.slug}/").status_code == 404
    assert client.get(f"/p/{draft_form.slug}/").status_code == 404
    assert not FormViews.objects.exists()


def test_it_shows_the_headline_body_and_form_with_seo_and_social_meta(client, page):
    response = client.get("/p/guide/")

    html = response.content.decode()
    assert response.status_code == 200
    assert "<title>The guide</title>" in html
    assert '<meta name="description" content="Everything about leads">' in html
    assert '<link rel="canonical" href="https://leads.example.com/p/guide/">' in html
    assert '<meta property="og:title" content="Read the guide">' in html
    assert '<meta property="og:description" content="Everything about leads">' in html
    assert '<meta property="og:image" content="https://cdn.example.com/cover.png">' in html
    assert '<meta property="og:url" content="https://leads.example.com/p/guide/">' in html
    assert "noindex" not in html
    assert headline(response) in ("Headline A", "Headline B")
    assert "<strong>A</strong>" in html or "Body B" in html
    for name in ("email", "first_name", "company", "topic", "lh_url", "_lh_token", "_lh_page"):
        assert f'name="{name}"' in html
    assert "private" in response["Cache-Control"] or "no-cache" in response["Cache-Control"]


def test_what_the_marketer_typed_is_escaped_in_meta_and_headline(client, form):
    evil = '"><script>alert(1)</script>'
    page_create(slug="evil", title=evil, status="live", meta_description=evil,
                social_title=evil, variant={"headline": evil, "form": form})

    html = client.get("/p/evil/").content.decode()

    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_the_render_token_carries_the_variant_shown(client, page):
    response = client.get("/p/guide/")

    token = hidden(response.content.decode(), "_lh_token")
    info = read_render_token(token, form_id=page.variants.first().form_id)
    shown = page.variants.get(headline=headline(response))
    assert info.valid and info.variant_id == shown.pk


def test_a_visitor_keeps_their_variant(client, page):
    first = client.get("/p/guide/")
    cookie = first.cookies[f"lh_ab_{page.pk}"]

    seen = {headline(client.get("/p/guide/")) for _ in range(25)}

    assert seen == {headline(first)}
    assert cookie["httponly"] and cookie["path"] == "/p/"


def test_a_forged_variant_cookie_is_ignored(page):
    b = page.variants.get(name="B")
    shown = Counter()
    for _ in range(40):
        visitor = Client()
        visitor.cookies[f"lh_ab_{page.pk}"] = str(b.pk)  # unsigned: a visitor picking B
        response = visitor.get("/p/guide/")
        shown[headline(response)] += 1
        assert f"lh_ab_{page.pk}" in response.cookies  # a properly signed one replaces it

    assert set(shown) == {"Headline A", "Headline B"}


def test_new_visitors_are_split_evenly_and_each_view_is_counted_for_its_variant(page):
    shown = Counter(headline(Client(REMOTE_ADDR=f"10.0.{i // 250}.{i % 250 + 1}").get("/p/guide/"))
                    for i in range(400))

    # 200 expected each; 6 standard deviations (60) either way.
    assert 140 <= shown["Headline A"] <= 260, shown
    views = {row.variant.headline: row.views for row in FormViews.objects.select_related("variant")}
    assert views == dict(shown)


def test_head_requests_count_no_view(client, page):
    client.head("/p/guide/")

    assert not FormViews.objects.exists()


def test_the_hosted_form_page_counts_a_view_without_a_variant(client, form):
    client.get(f"/f/{form.key}/")
    client.get(f"/f/{form.key}/", REMOTE_ADDR="10.0.0.2")

    row = FormViews.objects.get()
    assert (row.form_id, row.variant_id, row.views) == (form.pk, None, 2)


def test_reloading_a_page_counts_one_view(client, page, form):
    for _ in range(10):
        client.get("/p/guide/")
        client.get(f"/f/{form.key}/")

    views = sorted((row.variant_id is None, row.views) for row in FormViews.objects.all())
    assert views == [(False, 1), (True, 1)]  # the page's variant, and the form's own page


def _submit_from_page(client, page, url="/p/guide/?utm_source=google", **values):
    response = client.get(url)
    html = response.content.decode()
    variant = page.variants.get(headline=headline(response))
    data = {"email": "ann@example.com", "company": "Acme", "_lh_token": hidden(html, "_lh_token"),
            "_lh_page": hidden(html, "_lh_page"), "_lh_ref": "", **values}
    return variant, client.post(f"/f/{variant.form.key}/", data)


def test_a_submission_from_the_page_is_attributed_to_its_variant(client, page):
    variant, response = _submit_from_page(client, page)

    assert response.status_code == 303
    submission = Submission.objects.get()
    assert submission.variant == variant
    assert submission.channel == "hosted"
    assert not submission.is_spam
    assert submission.lead.first_utm_source == "google"
    activity = Activity.objects.get(kind="form_submitted")
    assert activity.data["variant"] == variant.pk


def test_a_failed_post_shows_the_landing_page_again_with_the_errors(client, page):
    variant, response = _submit_from_page(client, page, email="not-an-email")

    html = response.content.decode()
    assert response.status_code == 400
    assert headline(response) == variant.headline
    assert "Enter a valid email address." in html
    assert 'value="Acme"' in html
    assert not Submission.objects.exists()


# --- The lead magnet ----------------------------------------------------------------------


def _magnet_link(client, page) -> str:
    _variant, response = _submit_from_page(client, page)
    thanks = client.get(response["Location"])
    html = thanks.content.decode()
    assert "Thanks!" in html
    match = re.search(r'href="(/m/[^"]+/)" data-testid="magnet-link"', html)
    assert match, "no download link on the thank-you page"
    return unescape(match.group(1))


def test_the_thank_you_page_links_the_lead_magnet_and_the_link_downloads_it(client, page):
    link = _magnet_link(client, page)

    response = client.get(link)

    assert response.status_code == 200
    assert b"".join(response.streaming_content) == MAGNET_BYTES
    assert response["Content-Disposition"] == 'attachment; filename="The 2026 guide.pdf"'
    assert "no-store" in response["Cache-Control"]


def test_a_download_is_recorded_on_the_lead(client, page):
    link = _magnet_link(client, page)

    client.get(link)

    submission = Submission.objects.get()
    activity = Activity.objects.get(kind="lead_magnet_downloaded")
    assert activity.lead == submission.lead
    assert activity.data["page"] == page.pk
    assert activity.data["page_slug"] == "guide"
    assert activity.data["file"] == "The 2026 guide"


def test_the_link_expires_after_a_day(client, page):
    # Ticking: with the clock stopped the post would be "0 s after rendering", which the
    # render token's rounding can make a hair below min_seconds = 0.
    with time_machine.travel(timezone.now(), tick=True) as clock:
        link = _magnet_link(client, page)
        clock.shift(timedelta(hours=23))
        assert client.get(link).status_code == 200
        clock.shift(timedelta(hours=2))
        assert client.get(link).status_code == 404
    assert Activity.objects.filter(kind="lead_magnet_downloaded").count() == 1


def test_a_tampered_or_foreign_link_is_404(client, page, form):
    link = _magnet_link(client, page)
    submission = Submission.objects.get()
    other = page_create(slug="other", title="Other", status="live",
                        lead_magnet=SimpleUploadedFile("o.zip", b"other"),
                        variant={"headline": "O", "form": form})

    assert client.get(link[:-3] + "xx/").status_code == 404
    assert client.get("/m/not-a-token/").status_code == 404
    # Signed correctly, but the submission came from another page.
    foreign = lead_magnet_token(page_id=other.pk, submission_id=submission.pk)
    assert client.get(f"/m/{foreign}/").status_code == 404
    assert not Activity.objects.filter(kind="lead_magnet_downloaded").exists()


def test_no_download_link_without_a_lead_magnet_or_from_the_hosted_form(client, form):
    page_create(slug="plain", title="Plain", status="live",
                variant={"headline": "Plain", "form": form})
    plain = LandingPageFactory._meta.model.objects.get(slug="plain")

    _variant, from_page = _submit_from_page(client, plain, url="/p/plain/")
    hosted = client.post(f"/f/{form.key}/", {"email": "bob@example.com"})

    for response in (from_page, hosted):
        assert "magnet-link" not in client.get(response["Location"]).content.decode()
