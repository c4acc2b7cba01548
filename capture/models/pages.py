"""Hosted landing pages (/p/<slug>/) and their A/B variants."""

from django.conf import settings
from django.db import models


class PageStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    LIVE = "live", "Live"


class LandingPage(models.Model):
    slug = models.SlugField(max_length=100, unique=True)
    title = models.CharField(max_length=200, help_text="The browser tab and search result title.")
    status = models.CharField(max_length=10, choices=PageStatus.choices, default=PageStatus.DRAFT)
    meta_description = models.CharField(max_length=300, blank=True)
    social_title = models.CharField(max_length=200, blank=True)
    social_image_url = models.URLField(max_length=2000, blank=True)
    # Delivered after a submission by a signed link that expires.
    lead_magnet = models.FileField(upload_to="lead-magnets/%Y/%m/", blank=True)
    lead_magnet_name = models.CharField(
        max_length=200, blank=True, help_text="What the visitor downloads, e.g. “The 2026 guide”."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["title", "id"]

    def __str__(self) -> str:
        return self.title

    @property
    def is_live(self) -> bool:
        return self.status == PageStatus.LIVE


class LandingPageVariant(models.Model):
    """One version of a page's headline, body and form. Live pages split their traffic
    evenly between active variants; a visitor keeps seeing the one they got."""

    page = models.ForeignKey(LandingPage, on_delete=models.CASCADE, related_name="variants")
    name = models.CharField(max_length=20, default="A")
    headline = models.CharField(max_length=300)
    body_markdown = models.TextField(blank=True)
    # body_markdown rendered and sanitised (capture.markdown), kept so each view does
    # not re-render it.
    body_html = models.TextField(blank=True, editable=False)
    form = models.ForeignKey("capture.Form", on_delete=models.PROTECT, related_name="variants")
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["page", "name"]
        constraints = [
            models.UniqueConstraint(fields=["page", "name"], name="capture_variant_name_uniq")
        ]

    def __str__(self) -> str:
        return f"{self.page} — {self.name}"
