"""The landing pages section of the app (/forms/pages/…): everyone with a role reads,
only people who manage forms change anything."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from capture.models import FormViews, LandingPage, LandingPageVariant
from capture.services.pages import form_view_count, page_create
from tests.factories import (
    FormFactory,
    LandingPageFactory,
    LandingPageVariantFactory,
    SubmissionFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def form():
    return FormFactory(with_fields=True, name="Ebook form")


@pytest.fixture
def page(form):
    return page_create(slug="guide", title="The guide", status="live",
                       variant={"headline": "Get the guide", "body_markdown": "Hi", "form": form})


def test_it_sends_anonymous_visitors_to_the_login_page(client):
    response = client.get(reverse("capture:page_list"))

    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_users_without_a_role_see_nothing(client, outsider, page):
    client.force_login(outsider)

    assert client.get(reverse("capture:page_list")).status_code == 403
    assert client.get(reverse("capture:page_detail", args=[page.pk])).status_code == 403


def test_reps_read_pages_but_cannot_change_them(client, rep, page, form):
    client.force_login(rep)
    variant = page.variants.get()

    listing = client.get(reverse("capture:page_list"))
    detail = client.get(reverse("capture:page_detail", args=[page.pk]))

    assert listing.status_code == detail.status_code == 200
    assert "The guide" in listing.content.decode()
    assert "New landing page" not in listing.content.decode()
    assert "Edit settings" not in detail.content.decode()
    for url in (reverse("capture:page_create"),
                reverse("capture:page_update", args=[page.pk]),
                reverse("capture:variant_create", args=[page.pk]),
                reverse("capture:variant_update", args=[page.pk, variant.pk]),
                reverse("capture:variant_delete", args=[page.pk, variant.pk])):
        assert client.get(url).status_code == 403
        assert client.post(url, {"title": "x", "slug": "x", "headline": "x"}).status_code == 403
    assert client.post(reverse("capture:page_markdown_preview"),
                       {"body_markdown": "x"}).status_code == 403
    assert LandingPage.objects.count() == 1 and LandingPageVariant.objects.count() == 1


def test_the_list_shows_each_pages_figures(client, marketer, page, form):
    variant = page.variants.get()
    for _ in range(8):
        form_view_count(form_id=form.pk, variant_id=variant.pk)
    SubmissionFactory(form=form, variant=variant)
    SubmissionFactory(form=form, variant=variant)
    SubmissionFactory(form=form, variant=variant, is_spam=True, lead=None)
    client.force_login(marketer)

    html = client.get(reverse("capture:page_list")).content.decode()

    row = html[html.index('data-testid="page-row"'):]
    row = row[:row.index("</tr>")]
    cells = [c.split("</td>")[0].strip() for c in row.split("<td")[1:]]
    assert "/p/guide/" in cells[1]
    assert "Live" in cells[2]
    assert [c.split(">")[-1] for c in cells[3:6]] == ["1", "8", "2"]
    assert "25.0 %" in cells[6]


def test_the_list_searches_and_paginates_in_a_fixed_number_of_queries(
    client, marketer, django_assert_max_num_queries
):
    for i in range(30):
        LandingPageVariantFactory(page=LandingPageFactory(title=f"Page {i:02}", slug=f"p{i}"))
    client.force_login(marketer)

    with django_assert_max_num_queries(8):
        first = client.get(reverse("capture:page_list"))
    second = client.get(reverse("capture:page_list") + "?page=2")
    found = client.get(reverse("capture:page_list") + "?q=page 07")

    assert first.content.decode().count('data-testid="page-row"') == 25
    assert second.content.decode().count('data-testid="page-row"') == 5
    assert found.content.decode().count('data-testid="page-row"') == 1


def test_the_detail_page_shows_views_submissions_and_conversion_per_variant(
    client, marketer, page, form
):
    a = page.variants.get()
    b = LandingPageVariantFactory(page=page, name="B", form=form, headline="Other")
    for _ in range(10):
        form_view_count(form_id=form.pk, variant_id=a.pk)
    for _ in range(4):
        form_view_count(form_id=form.pk, variant_id=b.pk)
    SubmissionFactory(form=form, variant=a)
    client.force_login(marketer)

    html = client.get(reverse("capture:page_detail", args=[page.pk])).content.decode()

    rows = html.split('data-testid="variant-row"')[1:]
    assert 'data-testid="variant-views">10<' in rows[0]
    assert 'data-testid="variant-submissions">1<' in rows[0]
    assert 'data-testid="variant-conversion">10.0 %<' in rows[0]
    assert 'data-testid="variant-views">4<' in rows[1]
    assert 'data-testid="variant-conversion">0.0 %<' in rows[1]
    assert 'data-testid="total-views">14<' in html


def test_a_marketer_creates_a_page_with_its_first_variant_and_a_lead_magnet(
    client, marketer, form
):
    client.force_login(marketer)

    response = client.post(reverse("capture:page_create"), {
        "title": "Webinar", "slug": "Webinar-June", "status": "live",
        "meta_description": "Join us", "social_title": "", "social_image_url": "",
        "lead_magnet": SimpleUploadedFile("slides.pptx", b"PK\x03\x04 slides"),
        "lead_magnet_name": "The slides",
        "variant-headline": "Join the webinar", "variant-body_markdown": "# Agenda",
        "variant-form": form.pk,
    })

    page = LandingPage.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("capture:page_detail", args=[page.pk])
    assert (page.slug, page.status, page.created_by) == ("webinar-june", "live", marketer)
    assert page.lead_magnet.name.endswith(".pptx")
    variant = page.variants.get()
    assert (variant.name, variant.headline, variant.body_html) == (
        "A", "Join the webinar", "<h1>Agenda</h1>")


def test_a_bad_page_comes_back_with_errors_and_nothing_saved(client, marketer, page, form):
    client.force_login(marketer)

    response = client.post(reverse("capture:page_create"), {
        "title": "Again", "slug": "guide", "status": "draft",
        "lead_magnet": SimpleUploadedFile("run.exe", b"MZ"),
        "variant-headline": "", "variant-form": form.pk,
    })

    html = response.content.decode()
    assert response.status_code == 400
    assert "Upload a pdf" in html
    assert 'data-testid="form-errors"' in html
    assert LandingPage.objects.count() == 1


def test_a_taken_slug_is_a_field_error(client, marketer, page, form):
    client.force_login(marketer)

    response = client.post(reverse("capture:page_create"), {
        "title": "Again", "slug": "GUIDE", "status": "draft",
        "variant-headline": "H", "variant-form": form.pk,
    })

    assert response.status_code == 400
    assert "Another landing page already uses this address." in response.content.decode()


def test_only_live_forms_can_be_chosen(client, marketer):
    FormFactory(name="Live one")
    FormFactory(name="Draft one", status="draft")
    client.force_login(marketer)

    html = client.get(reverse("capture:page_create")).content.decode()

    assert "Live one" in html
    assert "Draft one" not in html


def test_a_marketer_edits_settings_and_removes_the_lead_magnet(client, marketer, form):
    page = page_create(slug="guide", title="Guide", lead_magnet=SimpleUploadedFile("g.pdf", b"x"),
                       variant={"headline": "H", "form": form})
    client.force_login(marketer)
    url = reverse("capture:page_update", args=[page.pk])

    shown = client.get(url).content.decode()
    response = client.post(url, {"title": "Guide 2", "slug": "guide-2", "status": "live",
                                 "remove_lead_magnet": "on", "lead_magnet_name": ""})

    assert "g.pdf" in shown  # the current file, named…
    assert "/media/" not in shown  # …but not linked: it has no public URL
    assert response.status_code == 302
    page.refresh_from_db()
    assert (page.title, page.slug, page.status, page.lead_magnet.name) == (
        "Guide 2", "guide-2", "live", "")


def test_a_marketer_adds_edits_and_deletes_variants(client, marketer, page, form):
    client.force_login(marketer)
    other_form = FormFactory(name="Other form")

    start = client.get(reverse("capture:variant_create", args=[page.pk])).content.decode()
    added = client.post(reverse("capture:variant_create", args=[page.pk]), {
        "name": "", "headline": "Shorter", "body_markdown": "*B*", "form": other_form.pk,
        "active": "on"})
    b = page.variants.get(name="B")
    edited = client.post(reverse("capture:variant_update", args=[page.pk, b.pk]), {
        "name": "B", "headline": "Shortest", "body_markdown": "**B**", "form": other_form.pk})
    b.refresh_from_db()

    assert 'value="B"' in start and "Get the guide" in start  # next name, copy of A
    assert added.status_code == edited.status_code == 302
    assert (b.headline, b.body_html, b.active, b.form) == (
        "Shortest", "<p><strong>B</strong></p>", False, other_form)

    deleted = client.post(reverse("capture:variant_delete", args=[page.pk, b.pk]))
    assert deleted.status_code == 302
    assert list(page.variants.values_list("name", flat=True)) == ["A"]


def test_a_variant_with_submissions_is_not_deleted(client, marketer, page, form):
    variant = page.variants.get()
    SubmissionFactory(form=form, variant=variant)
    client.force_login(marketer)

    confirm = client.get(reverse("capture:variant_delete", args=[page.pk, variant.pk]))
    response = client.post(reverse("capture:variant_delete", args=[page.pk, variant.pk]),
                           follow=True)

    assert "Switch it off instead" in confirm.content.decode()
    assert "switch it off instead" in response.content.decode()
    assert page.variants.count() == 1


def test_a_variant_of_another_page_is_404(client, marketer, page, form):
    elsewhere = LandingPageVariantFactory(form=form)
    client.force_login(marketer)

    url = reverse("capture:variant_update", args=[page.pk, elsewhere.pk])
    assert client.get(url).status_code == 404


def test_the_markdown_preview_is_sanitised(client, marketer):
    client.force_login(marketer)

    response = client.post(reverse("capture:page_markdown_preview"), {
        "headline": "<b>Big</b>", "body_markdown": "**ok** <script>alert(1)</script>"})

    html = response.content.decode()
    assert "<strong>ok</strong>" in html
    assert "<script>" not in html and "alert(1)" not in html
    assert "&lt;b&gt;Big&lt;/b&gt;" in html


def test_the_preview_shows_draft_pages_counts_no_view_and_cannot_be_sent(client, rep, form):
    variant = LandingPageVariantFactory(page=LandingPageFactory(status="draft"), form=form,
                                        headline="Draft headline", active=False)
    client.force_login(rep)

    response = client.get(reverse("capture:variant_preview", args=[variant.page_id, variant.pk]))

    html = response.content.decode()
    assert response.status_code == 200
    assert "Draft headline" in html
    assert 'data-testid="preview-banner"' in html
    assert 'noindex' in html
    assert "disabled" in html.split('type="submit"')[1].split(">")[0]
    assert not FormViews.objects.exists()
