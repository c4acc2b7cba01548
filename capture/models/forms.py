"""Lead-capture forms: what marketers build, and what websites post to."""

import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q


def new_form_key() -> str:
    """The form's public identifier in URLs (/f/<key>/): unguessable, so a draft or an
    unpublished form cannot be found by counting ids."""
    return secrets.token_urlsafe(12)


class FormStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    LIVE = "live", "Live"
    ARCHIVED = "archived", "Archived"


class DisposablePolicy(models.TextChoices):
    ALLOW = "allow", "Accept them"
    FLAG = "flag", "Accept, but file them as spam"
    BLOCK = "block", "Refuse them (ask for another address)"


class FieldType(models.TextChoices):
    EMAIL = "email", "Email"
    TEXT = "text", "Text"
    TEXTAREA = "textarea", "Paragraph"
    PHONE = "phone", "Phone"
    NUMBER = "number", "Number"
    SELECT = "select", "Drop-down"
    MULTISELECT = "multiselect", "Multi-select"
    CHECKBOXES = "checkboxes", "Checkboxes"
    CHECKBOX = "checkbox", "Single checkbox (consent)"
    COUNTRY = "country", "Country"
    HIDDEN = "hidden", "Hidden"


# Types whose value is a list of the options ticked.
LIST_TYPES = {FieldType.MULTISELECT, FieldType.CHECKBOXES}
# Types that choose from ``options``.
CHOICE_TYPES = {FieldType.SELECT, *LIST_TYPES}

# Lead fields a form field may fill ("attributes.<name>" fills a custom attribute; an
# empty maps_to keeps the value on the submission only).
MAPPABLE_LEAD_FIELDS = {
    "email": "Email",
    "first_name": "First name",
    "last_name": "Last name",
    "company": "Company",
    "job_title": "Job title",
    "phone": "Phone",
    "website": "Website",
    "country": "Country",
    "industry": "Industry",
    "company_size": "Company size",
    "marketing_consent": "Marketing consent",
}
ATTRIBUTE_PREFIX = "attributes."


class Form(models.Model):
    name = models.CharField(max_length=200)
    key = models.CharField(max_length=32, unique=True, default=new_form_key, editable=False)
    status = models.CharField(max_length=10, choices=FormStatus.choices, default=FormStatus.DRAFT)

    thank_you_message = models.TextField(default="Thank you! We'll be in touch soon.")
    # Where to send the visitor after a plain HTML post instead of the thank-you page:
    # https only, on a host of allowed_origins (checked by the form services). Never
    # taken from the request.
    redirect_url = models.URLField(max_length=2000, blank=True)
    # Origins (scheme://host[:port]) whose pages may post to this form from the browser.
    allowed_origins = models.JSONField(default=list, blank=True)

    consent_text = models.TextField(
        blank=True, help_text="Shown beside the consent checkbox; stored with each submission."
    )
    # Goes up by one each time consent_text changes, so a submission records which
    # wording the visitor agreed to.
    consent_version = models.PositiveIntegerField(default=0)
    double_opt_in = models.BooleanField(default=False)
    notify_emails = models.JSONField(
        default=list, blank=True, help_text="People emailed about each submission."
    )

    progressive_profiling = models.BooleanField(
        default=False,
        help_text="Hide fields already known for a returning visitor; show the next ones.",
    )
    max_fields = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="With progressive profiling: fields shown at most."
    )

    disposable_emails = models.CharField(
        max_length=10, choices=DisposablePolicy.choices, default=DisposablePolicy.FLAG
    )
    proof_of_work = models.BooleanField(
        default=False,
        help_text="Require a small computation by the browser before a post is accepted.",
    )
    min_seconds = models.PositiveSmallIntegerField(
        default=3,
        help_text="Posts sooner than this after LeadHub rendered the form count as spam.",
    )

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        indexes = [models.Index(fields=["status", "name"], name="capture_form_status_idx")]

    def __str__(self) -> str:
        return self.name

    @property
    def is_live(self) -> bool:
        return self.status == FormStatus.LIVE


class FormField(models.Model):
    form = models.ForeignKey(Form, on_delete=models.CASCADE, related_name="fields")
    position = models.PositiveIntegerField(default=0)
    name = models.SlugField(
        max_length=64, help_text="The input's name in posts and in the API (letters, digits, _)."
    )
    type = models.CharField(max_length=20, choices=FieldType.choices, default=FieldType.TEXT)
    label = models.CharField(max_length=200, blank=True)
    placeholder = models.CharField(max_length=200, blank=True)
    help_text = models.CharField(max_length=500, blank=True)
    required = models.BooleanField(default=False)
    default = models.CharField(max_length=500, blank=True)
    options = models.JSONField(default=list, blank=True)
    maps_to = models.CharField(
        max_length=110,
        blank=True,
        help_text='A lead field, "attributes.<name>" for a custom attribute, or empty.',
    )

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["form", "name"], name="capture_field_name_uniq"),
        ]

    def __str__(self) -> str:
        return f"{self.form_id}:{self.name}"


class FormViews(models.Model):
    """How often a form was shown, per day (and per landing-page variant): the
    denominator of conversion rates. One row per (form, variant, day), incremented."""

    form = models.ForeignKey(Form, on_delete=models.CASCADE, related_name="view_counts")
    variant = models.ForeignKey(
        "capture.LandingPageVariant",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="view_counts",
    )
    day = models.DateField()
    views = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            # Two partial constraints, since NULL variants are never equal to each other.
            models.UniqueConstraint(
                fields=["form", "day"],
                condition=Q(variant__isnull=True),
                name="capture_formviews_form_day_uniq",
            ),
            models.UniqueConstraint(
                fields=["form", "variant", "day"],
                condition=Q(variant__isnull=False),
                name="capture_formviews_variant_day_uniq",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.form_id} {self.day}: {self.views}"
