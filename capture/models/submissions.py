"""Every form post LeadHub answered 2xx, exactly as it arrived (nothing a visitor sends
is lost, spam included)."""

from django.db import models
from django.db.models import Q


class Channel(models.TextChoices):
    HOSTED = "hosted", "Hosted page"
    HTML = "html", "HTML form"
    EMBED = "embed", "JS embed"
    API = "api", "JSON API"


class Submission(models.Model):
    # The (form, created_at) and (lead, created_at) indexes in Meta serve every lookup by
    # form or by lead: indexes of the foreign keys' own would be two more for every
    # submission to keep.
    form = models.ForeignKey(
        "capture.Form", on_delete=models.PROTECT, related_name="submissions", db_index=False
    )
    variant = models.ForeignKey(
        "capture.LandingPageVariant",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="submissions",
    )
    # Empty for spam (which creates no lead) until someone marks it "not spam".
    # Deleting a lead deletes its submissions: they hold the same personal data.
    lead = models.ForeignKey(
        "capture.Lead", null=True, blank=True, on_delete=models.CASCADE,
        related_name="submissions", db_index=False,
    )
    channel = models.CharField(max_length=10, choices=Channel.choices)
    # The form's fields as posted (trimmed and length-capped), by field name.
    data = models.JSONField(default=dict, blank=True)
    # Names posted that are not fields of the form: never written anywhere else.
    ignored_fields = models.JSONField(default=list, blank=True)
    # utm_* parameters, referrer and URL of the page the form sat on.
    attribution = models.JSONField(default=dict, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=500, blank=True)

    consent_given = models.BooleanField(default=False)
    consent_text = models.TextField(blank=True)
    consent_version = models.PositiveIntegerField(default=0)

    is_spam = models.BooleanField(default=False)
    spam_reason = models.CharField(max_length=200, blank=True)
    # The lead id a post filed as spam was answered with: taken from the lead table's id
    # sequence and never used by any lead (capture.services.submissions._decoy_lead_id).
    decoy_lead_id = models.BigIntegerField(null=True, blank=True, editable=False)

    # A client's Idempotency-Key: a retry with the same key gets the first answer. NULL,
    # not "", when absent: the unique (form, key) constraint skips NULLs.
    idempotency_key = models.CharField(max_length=200, null=True, blank=True)  # noqa: DJ001
    # With an Idempotency-Key: SHA-256 of the post's fields as parsed, canonically, to
    # tell a retry from a different post reusing the key (request_fingerprint).
    request_hash = models.CharField(max_length=64, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["form", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="capture_submission_idem_uniq",
            )
        ]
        indexes = [
            models.Index(fields=["form", "-created_at"], name="capture_sub_form_idx"),
            models.Index(fields=["is_spam", "-created_at"], name="capture_sub_spam_idx"),
            models.Index(fields=["lead", "-created_at"], name="capture_sub_lead_idx"),
        ]

    def __str__(self) -> str:
        return f"Submission {self.pk} to form {self.form_id}"
