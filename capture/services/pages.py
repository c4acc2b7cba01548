"""Landing pages (/p/<slug>/), their A/B variants, view counting and lead magnets.

Writes: ``page_create``/``page_update``, ``variant_create``/``variant_update``/
``variant_delete`` (each renders and sanitises the variant's body), ``form_view_record``
(a view, at most once per viewer and window) and ``form_view_count`` (the race-safe
daily counter behind every conversion rate) and
``lead_magnet_download`` (checks a signed link and records the download). Reads that
only these pages need follow at the end: ``variant_choose`` (the A/B split, pure),
``pages_with_stats`` and ``variants_with_stats``.
"""

import hashlib
import ipaddress
import random
import time
from dataclasses import dataclass
from datetime import date
from pathlib import PurePath
from typing import Any

from django.core import signing
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import IntegrityError, transaction
from django.db.models import Count, F, IntegerField, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from capture.cache import cache_add
from capture.markdown import render_markdown
from capture.models import (
    Form,
    FormStatus,
    FormViews,
    LandingPage,
    LandingPageVariant,
    PageStatus,
    Submission,
)
from capture.services.leads import activity_record, text_problem

PAGE_FIELDS = ("slug", "title", "status", "meta_description", "social_title",
               "social_image_url", "lead_magnet", "lead_magnet_name")
VARIANT_FIELDS = ("name", "headline", "body_markdown", "form", "active")

MAGNET_MAX_BYTES = 20 * 1024 * 1024
MAGNET_EXTENSIONS = ("pdf", "zip", "epub", "docx", "xlsx", "pptx", "png", "jpg", "jpeg")
MAGNET_SALT = "capture.magnet"
MAGNET_MAX_AGE = 24 * 3600
MAX_BODY_MARKDOWN = 50_000
SLUG_TAKEN = "Another landing page already uses this address."
NAME_TAKEN = "This page already has a variant with this name."

_web_url = URLValidator(schemes=["https", "http"])


# --- Landing pages ------------------------------------------------------------------------


def lead_magnet_problem(upload) -> str | None:
    """Why an uploaded file cannot be a lead magnet, or None. Checked by name and size:
    the file is only ever sent as an attachment (never shown inline), so a mislabelled
    file cannot run in LeadHub's origin."""
    if upload is None:
        return None
    extension = PurePath(upload.name or "").suffix.lower().lstrip(".")
    if extension not in MAGNET_EXTENSIONS:
        return f"Upload a {', '.join(MAGNET_EXTENSIONS[:-1])} file (not .{extension or '?'})."
    if upload.size is None or upload.size > MAGNET_MAX_BYTES:
        return f"The file may be at most {MAGNET_MAX_BYTES // (1024 * 1024)} MB."
    if upload.size == 0:
        return "The file is empty."
    return None


def _check_fields(fields: dict[str, Any], allowed: tuple[str, ...]) -> None:
    unknown = set(fields) - set(allowed)
    if unknown:
        raise TypeError(f"Not editable through page services: {', '.join(sorted(unknown))}")


def _clean_page(page: LandingPage, *, new_magnet) -> None:
    errors: dict[str, str] = {}
    for name in ("slug", "title", "meta_description", "social_title", "lead_magnet_name"):
        value = getattr(page, name)
        if isinstance(value, str) and (problem := text_problem(value)):
            errors[name] = problem
    if page.social_image_url:
        try:
            _web_url(page.social_image_url)
        except ValidationError:
            errors["social_image_url"] = "Enter an http(s) URL of an image."
    if new_magnet is not None and (problem := lead_magnet_problem(new_magnet)):
        errors["lead_magnet"] = problem
    if page.lead_magnet and not page.lead_magnet_name.strip():
        page.lead_magnet_name = PurePath(page.lead_magnet.name).stem[:200]
    if page.slug and LandingPage.objects.filter(slug=page.slug).exclude(pk=page.pk).exists():
        # A friendly message first; the unique index is the real guard (_save_page).
        errors["slug"] = SLUG_TAKEN
    if errors:
        raise ValidationError(errors)
    page.full_clean(validate_unique=False)


def _save_page(page: LandingPage) -> None:
    try:
        with transaction.atomic():
            page.save()
    except IntegrityError as exc:
        if LandingPage.objects.filter(slug=page.slug).exclude(pk=page.pk).exists():
            raise ValidationError({"slug": SLUG_TAKEN}) from exc
        raise


@transaction.atomic
def page_create(
    *, actor=None, variant: dict[str, Any] | None = None, **fields: Any
) -> LandingPage:
    """A new landing page (draft unless ``status`` says live), with its first variant
    when ``variant`` gives one (name, headline, body_markdown, form, active)."""
    _check_fields(fields, PAGE_FIELDS)
    fields["slug"] = (fields.get("slug") or "").strip().lower()
    magnet = fields.get("lead_magnet") or None
    page = LandingPage(created_by=actor, **fields)
    _clean_page(page, new_magnet=magnet)
    _save_page(page)
    if variant is not None:
        variant_create(page=page, **variant)
    return page


@transaction.atomic
def page_update(*, page: LandingPage, actor=None, **fields: Any) -> LandingPage:
    """Change a page's settings. ``lead_magnet=False`` removes the file; a new upload
    replaces it (the old file is deleted once the change is committed)."""
    _check_fields(fields, PAGE_FIELDS)
    if "slug" in fields:
        fields["slug"] = (fields["slug"] or "").strip().lower()
    old_file = page.lead_magnet.name if page.lead_magnet else ""
    new_magnet = fields.get("lead_magnet") or None
    if fields.get("lead_magnet") is False:
        fields["lead_magnet"] = ""
        fields.setdefault("lead_magnet_name", "")
    saved = {name: getattr(page, name) for name in fields}
    for name, value in fields.items():
        setattr(page, name, value)
    try:
        _clean_page(page, new_magnet=new_magnet)
        _save_page(page)
    except (ValidationError, IntegrityError):
        for name, value in saved.items():
            setattr(page, name, value)
        raise
    new_file = page.lead_magnet.name if page.lead_magnet else ""
    if old_file and old_file != new_file:
        storage = page.lead_magnet.storage
        # After commit: a rolled-back change must still find its file.
        transaction.on_commit(lambda: storage.delete(old_file))
    return page


# --- Variants -----------------------------------------------------------------------------


def _clean_variant(variant: LandingPageVariant) -> None:
    errors: dict[str, str] = {}
    for name in ("name", "headline", "body_markdown"):
        if problem := text_problem(getattr(variant, name) or ""):
            errors[name] = problem
    if len(variant.body_markdown or "") > MAX_BODY_MARKDOWN:
        errors["body_markdown"] = f"At most {MAX_BODY_MARKDOWN:,} characters."
    form = variant.form if variant.form_id else None
    if form is not None and form.status != FormStatus.LIVE:
        errors["form"] = "Choose a live form: visitors cannot post to a draft one."
    taken = LandingPageVariant.objects.filter(page_id=variant.page_id, name=variant.name)
    if variant.name and taken.exclude(pk=variant.pk).exists():
        errors["name"] = NAME_TAKEN
    if errors:
        raise ValidationError(errors)
    variant.full_clean(validate_constraints=False)


def _save_variant(variant: LandingPageVariant) -> None:
    variant.body_html = render_markdown(variant.body_markdown)
    try:
        with transaction.atomic():
            variant.save()
    except IntegrityError as exc:
        taken = LandingPageVariant.objects.filter(page_id=variant.page_id, name=variant.name)
        if taken.exclude(pk=variant.pk).exists():
            raise ValidationError({"name": NAME_TAKEN}) from exc
        raise


def next_variant_name(page: LandingPage) -> str:
    """A, B, … Z, then V27, V28, …: the first name the page does not use."""
    taken = set(page.variants.values_list("name", flat=True))
    for letter in "ABCDEFGHIJKLMNOPQRSTUVWXYZ":
        if letter not in taken:
            return letter
    n = 27
    while f"V{n}" in taken:
        n += 1
    return f"V{n}"


@transaction.atomic
def variant_create(
    *,
    page: LandingPage,
    headline: str,
    form: Form,
    name: str = "",
    body_markdown: str = "",
    active: bool = True,
) -> LandingPageVariant:
    variant = LandingPageVariant(
        page=page,
        name=(name or "").strip() or next_variant_name(page),
        headline=(headline or "").strip(),
        body_markdown=body_markdown or "",
        form=form,
        active=active,
    )
    _clean_variant(variant)
    _save_variant(variant)
    return variant


@transaction.atomic
def variant_update(*, variant: LandingPageVariant, **fields: Any) -> LandingPageVariant:
    _check_fields(fields, VARIANT_FIELDS)
    for name in ("name", "headline"):
        if name in fields:
            fields[name] = (fields[name] or "").strip()
    saved = {name: getattr(variant, name) for name in fields}
    for name, value in fields.items():
        setattr(variant, name, value)
    try:
        _clean_variant(variant)
        _save_variant(variant)
    except (ValidationError, IntegrityError):
        for name, value in saved.items():
            setattr(variant, name, value)
        raise
    return variant


def variant_delete(*, variant: LandingPageVariant) -> None:
    """Remove a variant nobody has submitted through yet. Once it has submissions its
    figures are history: switch it off instead."""
    if variant.submissions.exists():
        raise ValidationError(
            "This variant has submissions, so its figures are kept: switch it off instead."
        )
    variant.delete()


# --- Views (the denominator of every conversion rate) -------------------------------------

# A viewer's repeated views of one form (reloads, a script fetching embed.js in a loop)
# count once per this many seconds: a visit, as web analytics count them.
FORM_VIEW_WINDOW_SECONDS = 30 * 60


def viewer_of(ip: str | None) -> str:
    """Who a view is from: the client's address (as seen through the trusted proxies),
    an IPv6 one by its /64, since one host commonly holds a whole /64 and a new address
    per request would cost it nothing. Not the visitor cookie: anyone can collect
    signed visitor ids from /api/v1/events/, and a cookie-less request is just as
    cheap."""
    try:
        address = ipaddress.ip_address(ip or "")
    except ValueError:
        return "unknown"
    if address.version == 6:
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def form_view_record(*, form_id: int, variant_id: int | None = None, viewer: str) -> bool:
    """Count a view of a form (or of one landing-page variant) by ``viewer``
    (``viewer_of``) once per FORM_VIEW_WINDOW_SECONDS window of the clock (12:00–12:30,
    12:30–13:00, …); whether it was counted. The windows are kept in the cache; with
    the cache down every view counts (fail open: a missed view skews conversion rates
    for good, an extra one only while Redis is down). Fixed windows named in the key,
    not a key's expiry, decide: the cache server's clock is not the app's."""
    digest = hashlib.sha256(viewer.encode()).hexdigest()[:32]
    window = int(time.time()) // FORM_VIEW_WINDOW_SECONDS
    key = f"form-view:{form_id}:{variant_id or 0}:{digest}:{window}"
    if cache_add(key, 1, FORM_VIEW_WINDOW_SECONDS) is False:
        return False
    form_view_count(form_id=form_id, variant_id=variant_id)
    return True


def form_view_count(*, form_id: int, variant_id: int | None = None,
                    day: date | None = None) -> None:
    """Add one view of a form (as a landing-page variant, or on its own) to today's row.

    One UPDATE ... SET views = views + 1 in the usual case. The first view of a day
    INSERTs the row in a savepoint; when two first views race, the unique (form,
    [variant,] day) constraint lets one INSERT in and the other falls back to the
    UPDATE, so no view is lost and no row is duplicated."""
    day = day or timezone.localdate()
    rows = FormViews.objects.filter(form_id=form_id, variant_id=variant_id, day=day)
    if rows.update(views=F("views") + 1):
        return
    try:
        with transaction.atomic():
            FormViews.objects.create(form_id=form_id, variant_id=variant_id, day=day, views=1)
    except IntegrityError:
        rows.update(views=F("views") + 1)


# --- Lead magnets -------------------------------------------------------------------------


def lead_magnet_token(*, page_id: int, submission_id: int) -> str:
    """The signed part of a lead magnet's download link (/m/<token>/)."""
    return signing.dumps({"p": page_id, "s": submission_id}, salt=MAGNET_SALT)


@dataclass(frozen=True)
class MagnetDownload:
    page: LandingPage
    submission: Submission


def lead_magnet_download(*, token: str) -> MagnetDownload | None:
    """The page whose file a download link grants (None when the link is forged,
    expired, or its page has no file any more), recording a ``lead_magnet_downloaded``
    activity on the submission's lead. Spam submissions have no lead: they get the
    file (bots learn nothing) and nothing is recorded."""
    try:
        payload = signing.loads(token, salt=MAGNET_SALT, max_age=MAGNET_MAX_AGE)
    except (signing.BadSignature, ValueError, TypeError):
        return None
    if not isinstance(payload, dict):
        return None
    page_id, submission_id = payload.get("p"), payload.get("s")
    if not isinstance(page_id, int) or not isinstance(submission_id, int):
        return None
    submission = (
        Submission.objects.select_related("lead", "variant__page")
        .filter(pk=submission_id, variant__page_id=page_id)
        .first()
    )
    if submission is None or not submission.variant.page.lead_magnet:
        return None
    page = submission.variant.page
    if submission.lead is not None:
        activity_record(
            lead=submission.lead,
            kind="lead_magnet_downloaded",
            data={
                "page": page.pk,
                "page_slug": page.slug,
                "file": page.lead_magnet_name or PurePath(page.lead_magnet.name).name,
                "submission": submission.pk,
            },
        )
    return MagnetDownload(page=page, submission=submission)


# --- Reads --------------------------------------------------------------------------------


def variant_choose(variants: list, *, sticky_id: int | None,
                   rng: random.Random | None = None):
    """The variant a visitor sees: the one they saw before (``sticky_id``) while it is
    still active, otherwise one of ``variants`` at random, each equally likely (an even
    split over many visitors). None when there is none."""
    if not variants:
        return None
    for variant in variants:
        if variant.pk == sticky_id:
            return variant
    # Not security: which of the marketer's variants a visitor sees.
    return (rng or random).choice(variants)


def _sum_subquery(queryset, outer: str, value: str, aggregate) -> Coalesce:
    subquery = (
        queryset.filter(**{outer: OuterRef("pk")})
        .order_by()
        .values(outer)
        .annotate(total=aggregate(value))
        .values("total")
    )
    return Coalesce(Subquery(subquery, output_field=IntegerField()), Value(0))


def pages_with_stats(*, search: str = ""):
    """Landing pages with ``variant_count``, ``view_total`` and ``submission_total``
    (genuine, spam left out) over all their variants: one query, whatever the number of pages."""
    pages = LandingPage.objects.all()
    if search := search.strip():
        pages = pages.filter(Q(title__icontains=search) | Q(slug__icontains=search))
    return pages.annotate(
        variant_count=_sum_subquery(LandingPageVariant.objects, "page", "pk", Count),
        view_total=_sum_subquery(FormViews.objects, "variant__page", "views", Sum),
        submission_total=_sum_subquery(
            Submission.objects.filter(is_spam=False), "variant__page", "pk", Count
        ),
    ).order_by("title", "id")


def variants_with_stats(page: LandingPage):
    """The page's variants with their form, ``view_total`` and ``submission_total``
    (genuine submissions)."""
    return (
        page.variants.select_related("form")
        .annotate(
            view_total=_sum_subquery(FormViews.objects, "variant", "views", Sum),
            submission_total=_sum_subquery(
                Submission.objects.filter(is_spam=False), "variant", "pk", Count
            ),
        )
        .order_by("name", "id")
    )


def conversion_rate(*, views: int, submissions: int) -> float | None:
    """Submissions per view, in percent; None before the first view."""
    return round(100 * submissions / views, 1) if views else None


def live_page(slug: str) -> LandingPage | None:
    if not slug or len(slug) > 100:
        return None
    return LandingPage.objects.filter(slug=slug, status=PageStatus.LIVE).first()


def page_variants_showable(page: LandingPage) -> list[LandingPageVariant]:
    """Active variants whose form is live: the ones a visitor may be shown."""
    return list(
        page.variants.filter(active=True, form__status=FormStatus.LIVE)
        .select_related("form")
        .order_by("name", "id")
    )
