"""capture.services.pages: landing pages, variants, view counting, the A/B choice and
the figures the pages list shows."""

import random
import threading
from datetime import date

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.utils import timezone

from capture.models import FormViews, LandingPage, PageStatus
from capture.services.pages import (
    MAGNET_MAX_BYTES,
    conversion_rate,
    form_view_count,
    page_create,
    page_update,
    pages_with_stats,
    variant_choose,
    variant_create,
    variant_delete,
    variant_update,
    variants_with_stats,
)
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
    return FormFactory(with_fields=True)


def test_it_creates_a_page_with_its_first_variant_and_renders_the_body(marketer, form):
    page = page_create(
        actor=marketer, slug="Ebook-2026", title="The ebook", status=PageStatus.LIVE,
        variant={"headline": "Get it", "body_markdown": "**Free** <script>x()</script>",
                 "form": form},
    )

    page.refresh_from_db()
    assert page.slug == "ebook-2026"
    assert page.created_by == marketer
    variant = page.variants.get()
    assert variant.name == "A"
    assert variant.body_html == "<p><strong>Free</strong> </p>"


def test_it_refuses_a_slug_already_taken_or_not_a_slug(form):
    LandingPageFactory(slug="taken")

    with pytest.raises(ValidationError) as taken:
        page_create(slug="TAKEN", title="Other")
    with pytest.raises(ValidationError) as bad:
        page_create(slug="no spaces/please", title="Other")

    assert "slug" in taken.value.message_dict
    assert "slug" in bad.value.message_dict
    assert LandingPage.objects.count() == 1


def test_a_refused_first_variant_leaves_no_page_behind():
    draft = FormFactory(status="draft")

    with pytest.raises(ValidationError) as exc:
        page_create(slug="p", title="P", variant={"headline": "H", "form": draft})

    assert "form" in exc.value.message_dict
    assert not LandingPage.objects.exists()


def test_it_accepts_a_lead_magnet_and_names_it_after_the_file():
    upload = SimpleUploadedFile("guide-2026.pdf", b"%PDF-1.7 ...", content_type="application/pdf")

    page = page_create(slug="guide", title="Guide", lead_magnet=upload)

    assert page.lead_magnet.name.endswith(".pdf")
    assert page.lead_magnet_name == "guide-2026"


@pytest.mark.parametrize(("name", "size"), [
    ("evil.html", 10), ("run.exe", 10), ("noextension", 10), ("big.pdf", MAGNET_MAX_BYTES + 1),
    ("empty.pdf", 0),
])
def test_it_refuses_lead_magnets_of_the_wrong_type_or_size(name, size):
    class Upload(SimpleUploadedFile):
        pass

    upload = Upload(name, b"x" * min(size, 10))
    upload.size = size

    with pytest.raises(ValidationError) as exc:
        page_create(slug="guide", title="Guide", lead_magnet=upload)

    assert "lead_magnet" in exc.value.message_dict


def test_it_replaces_and_removes_the_lead_magnet(django_capture_on_commit_callbacks):
    page = page_create(slug="guide", title="Guide",
                       lead_magnet=SimpleUploadedFile("a.pdf", b"one"))
    storage, first = page.lead_magnet.storage, page.lead_magnet.name

    with django_capture_on_commit_callbacks(execute=True):
        page_update(page=page, lead_magnet=SimpleUploadedFile("b.zip", b"two"))
    second = page.lead_magnet.name
    assert second.endswith(".zip")
    assert not storage.exists(first)

    with django_capture_on_commit_callbacks(execute=True):
        page_update(page=page, lead_magnet=False)
    page.refresh_from_db()
    assert not page.lead_magnet
    assert page.lead_magnet_name == ""
    assert not storage.exists(second)


def test_a_refused_update_leaves_the_page_object_as_it_was():
    LandingPageFactory(slug="taken")
    page = LandingPageFactory(slug="mine", title="Mine")

    with pytest.raises(ValidationError):
        page_update(page=page, slug="taken", title="Changed")

    assert (page.slug, page.title) == ("mine", "Mine")


def test_variants_are_named_a_b_c_and_names_are_unique_per_page(form):
    page = LandingPageFactory()
    a = variant_create(page=page, headline="One", form=form)
    b = variant_create(page=page, headline="Two", form=form)

    with pytest.raises(ValidationError) as exc:
        variant_create(page=page, name="A", headline="Three", form=form)

    assert (a.name, b.name) == ("A", "B")
    assert "name" in exc.value.message_dict
    other_page_a = variant_create(page=LandingPageFactory(), name="A", headline="x", form=form)
    assert other_page_a.name == "A"


def test_updating_a_variant_renders_its_body_again(form):
    variant = LandingPageVariantFactory(form=form)

    variant_update(variant=variant, body_markdown="## New <img src=x onerror=alert(1)>")

    variant.refresh_from_db()
    assert variant.body_html == "<h2>New <img></h2>"


def test_a_variant_with_submissions_is_switched_off_not_deleted(form):
    used = LandingPageVariantFactory(form=form, name="A")
    unused = LandingPageVariantFactory(form=form, page=used.page, name="B")
    SubmissionFactory(form=form, variant=used)

    with pytest.raises(ValidationError):
        variant_delete(variant=used)
    variant_delete(variant=unused)

    assert list(used.page.variants.all()) == [used]


# --- View counting ------------------------------------------------------------------------


def test_each_view_adds_one_to_todays_row_per_form_and_variant(form):
    variant = LandingPageVariantFactory(form=form)

    for _ in range(3):
        form_view_count(form_id=form.pk, variant_id=variant.pk)
    form_view_count(form_id=form.pk)
    form_view_count(form_id=form.pk, day=date(2026, 1, 1))

    today = timezone.localdate()
    rows = {(r.variant_id, r.day): r.views for r in FormViews.objects.all()}
    assert rows == {(variant.pk, today): 3, (None, today): 1, (None, date(2026, 1, 1)): 1}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_20_concurrent_first_views_of_the_day_count_20_in_one_row():
    form = FormFactory()
    variant = LandingPageVariantFactory(form=form)
    barrier = threading.Barrier(20)
    errors: list[BaseException] = []

    def view() -> None:
        try:
            barrier.wait(timeout=10)
            form_view_count(form_id=form.pk, variant_id=variant.pk)
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=view) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    row = FormViews.objects.get()
    assert row.views == 20


# --- The A/B choice -----------------------------------------------------------------------


def test_a_visitor_keeps_the_variant_they_saw(form):
    a = LandingPageVariantFactory(form=form, name="A")
    b = LandingPageVariantFactory(form=form, page=a.page, name="B")

    assert all(variant_choose([a, b], sticky_id=b.pk) == b for _ in range(50))


def test_a_visitor_whose_variant_is_gone_gets_another(form):
    a = LandingPageVariantFactory(form=form, name="A")

    assert variant_choose([a], sticky_id=999_999) == a
    assert variant_choose([], sticky_id=None) is None


def test_new_visitors_are_split_evenly():
    variants = [type("V", (), {"pk": i})() for i in range(3)]
    rng = random.Random(1234)

    counts = {v.pk: 0 for v in variants}
    for _ in range(3000):
        counts[variant_choose(variants, sticky_id=None, rng=rng).pk] += 1

    # 1,000 expected each; 6 standard deviations (≈ 26) either way is 845–1,155.
    assert all(845 <= n <= 1155 for n in counts.values()), counts


# --- Figures --------------------------------------------------------------------------------


def test_the_figures_count_views_and_genuine_submissions_per_variant_and_page(form):
    a = LandingPageVariantFactory(form=form, name="A")
    b = LandingPageVariantFactory(form=form, page=a.page, name="B")
    other = LandingPageVariantFactory(form=form)
    for _ in range(4):
        form_view_count(form_id=form.pk, variant_id=a.pk)
    form_view_count(form_id=form.pk, variant_id=a.pk, day=date(2020, 1, 1))
    form_view_count(form_id=form.pk, variant_id=b.pk)
    form_view_count(form_id=form.pk, variant_id=other.pk)
    SubmissionFactory(form=form, variant=a)
    SubmissionFactory(form=form, variant=a, is_spam=True, lead=None)
    SubmissionFactory(form=form, variant=b)

    figures = {v.name: (v.view_total, v.submission_total) for v in variants_with_stats(a.page)}
    page = pages_with_stats().get(pk=a.page.pk)

    assert figures == {"A": (5, 1), "B": (1, 1)}
    assert (page.variant_count, page.view_total, page.submission_total) == (2, 6, 2)
    assert conversion_rate(views=5, submissions=1) == 20.0
    assert conversion_rate(views=0, submissions=0) is None


def test_the_list_searches_titles_and_slugs():
    LandingPageFactory(title="Pricing guide", slug="pricing")
    LandingPageFactory(title="Webinar", slug="webinar-june")

    assert [p.title for p in pages_with_stats(search="GUIDE")] == ["Pricing guide"]
    assert [p.title for p in pages_with_stats(search="june")] == ["Webinar"]
