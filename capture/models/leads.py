"""Leads and their timeline.

``capture`` owns these rows, but not every field on them: only ``scoring`` sets
``score``/``grade``, only ``pipeline`` sets ``stage``/``owner`` (through its services),
and ``nurture`` sets ``unsubscribed_at``. The stage and grade vocabularies live here
because the model needs them and ``capture`` imports no other app.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone


class Stage(models.TextChoices):
    LEAD = "lead", "Lead"
    MQL = "mql", "MQL"
    SQL = "sql", "SQL"
    OPPORTUNITY = "opportunity", "Opportunity"
    CUSTOMER = "customer", "Customer"
    DISQUALIFIED = "disqualified", "Disqualified"


class Grade(models.TextChoices):
    A = "A", "A"
    B = "B", "B"
    C = "C", "C"
    D = "D", "D"
    F = "F", "F"


def normalize_email(email: str) -> str:
    """The form an email is compared in: trimmed and lower-cased (whole address).

    The local part is case-sensitive by RFC 5321, but no real mailbox provider treats
    it so, and two leads for ``Ann@x.com`` and ``ann@x.com`` are always one person.
    """
    return (email or "").strip().lower()


class LeadQuerySet(models.QuerySet):
    def visible_to(self, user) -> "LeadQuerySet":
        """Every list, search, export and API reads leads through this."""
        if user.is_authenticated and user.is_active and user.has_perm("capture.view_lead"):
            return self
        return self.none()

    def with_email(self, email: str) -> "LeadQuerySet":
        # Compares lower(email) so Postgres and SQLite use the unique lower(email) index
        # (``email__iexact`` compiles to UPPER(...) on Postgres, which that index can't serve).
        return self.alias(email_lower=Lower("email")).filter(email_lower=normalize_email(email))


class Lead(models.Model):
    email = models.EmailField(max_length=254)
    first_name = models.CharField(max_length=150, blank=True)
    last_name = models.CharField(max_length=150, blank=True)
    company = models.CharField(max_length=200, blank=True)
    job_title = models.CharField(max_length=200, blank=True)
    phone = models.CharField(max_length=50, blank=True)
    website = models.URLField(max_length=500, blank=True)
    country = models.CharField(max_length=100, blank=True)
    industry = models.CharField(max_length=100, blank=True)
    company_size = models.PositiveIntegerField(
        null=True, blank=True, help_text="Number of employees."
    )

    # Owned by pipeline.services.
    stage = models.CharField(max_length=20, choices=Stage.choices, default=Stage.LEAD)
    stage_changed_at = models.DateTimeField(default=timezone.now)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_leads",
        # capture_lead_owner_stage_idx (owner, stage) serves every lookup by owner; a
        # second index would be one more for every lead write to keep (a 10 % slower
        # UPDATE of 20,000 scores, most owners being NULL).
        db_index=False,
    )
    # Owned by scoring.services.
    score = models.IntegerField(default=0)
    grade = models.CharField(max_length=1, choices=Grade.choices, blank=True)

    # Where the lead came from: the first touch's utm_source, or the channel that
    # created it ("manual", "api", "import") when there was no campaign.
    source = models.CharField(max_length=200, blank=True)
    first_utm_source = models.CharField(max_length=200, blank=True)
    first_utm_medium = models.CharField(max_length=200, blank=True)
    first_utm_campaign = models.CharField(max_length=200, blank=True)
    first_utm_term = models.CharField(max_length=200, blank=True)
    first_utm_content = models.CharField(max_length=200, blank=True)
    first_referrer = models.CharField(max_length=2000, blank=True)
    first_landing_url = models.CharField(max_length=2000, blank=True)
    last_utm_source = models.CharField(max_length=200, blank=True)
    last_utm_medium = models.CharField(max_length=200, blank=True)
    last_utm_campaign = models.CharField(max_length=200, blank=True)
    last_utm_term = models.CharField(max_length=200, blank=True)
    last_utm_content = models.CharField(max_length=200, blank=True)
    last_referrer = models.CharField(max_length=2000, blank=True)
    last_landing_url = models.CharField(max_length=2000, blank=True)

    attributes = models.JSONField(default=dict, blank=True)

    marketing_consent = models.BooleanField(default=False)
    consent_at = models.DateTimeField(null=True, blank=True)
    consent_text = models.TextField(
        blank=True, help_text="The consent wording the lead agreed to, as shown to them."
    )
    # Double opt-in: when the lead followed the confirmation link (no nurture email goes
    # out before it on forms that ask for it), and when the last link was sent (at most
    # one an hour, so a form cannot flood someone's inbox).
    confirmed_at = models.DateTimeField(null=True, blank=True)
    confirmation_sent_at = models.DateTimeField(null=True, blank=True)
    # Owned by nurture.services.
    unsubscribed_at = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    # Never empty (a lead's creation is its first activity), so keyset pagination and
    # "sort by last activity" need no NULL handling.
    last_activity_at = models.DateTimeField(default=timezone.now)

    objects = LeadQuerySet.as_manager()

    ATTRIBUTION_FIELDS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content",
                          "referrer", "landing_url")

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                Lower("email"),
                name="capture_lead_email_lower_uniq",
                violation_error_message="A lead with this email already exists.",
            ),
            models.CheckConstraint(
                condition=Q(stage__in=Stage.values), name="capture_lead_stage_valid"
            ),
            models.CheckConstraint(
                condition=Q(grade__in=[*Grade.values, ""]), name="capture_lead_grade_valid"
            ),
        ]
        indexes = [
            # Leads list sorts (each also serves the reverse direction).
            models.Index(fields=["created_at", "id"], name="capture_lead_created_idx"),
            models.Index(fields=["score", "id"], name="capture_lead_score_idx"),
            models.Index(fields=["last_activity_at", "id"], name="capture_lead_last_act_idx"),
            # Filters, and the board's columns (stage, then by score or time in stage).
            models.Index(fields=["stage", "score", "id"], name="capture_lead_stage_score_idx"),
            models.Index(fields=["stage", "stage_changed_at"], name="capture_lead_stage_time_idx"),
            models.Index(fields=["owner", "stage"], name="capture_lead_owner_stage_idx"),
            models.Index(fields=["grade"], name="capture_lead_grade_idx"),
            models.Index(fields=["source"], name="capture_lead_source_idx"),
        ]

    def __str__(self) -> str:
        return self.full_name or self.email

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    @property
    def is_mql(self) -> bool:
        return self.stage == Stage.MQL

    def attribution(self, touch: str) -> dict[str, str]:
        """First- or last-touch attribution as a dict: ``touch`` is "first" or "last"."""
        return {f: getattr(self, f"{touch}_{f}") for f in self.ATTRIBUTION_FIELDS}


class ActivityKind(models.TextChoices):
    """Kinds LeadHub itself records. Custom events from a product use their own names."""

    LEAD_CREATED = "lead_created", "Lead created"
    LEAD_UPDATED = "lead_updated", "Lead updated"
    FORM_SUBMITTED = "form_submitted", "Form submitted"
    PAGE_VIEWED = "page_viewed", "Page viewed"
    EMAIL_SENT = "email_sent", "Email sent"
    EMAIL_OPENED = "email_opened", "Email opened"
    EMAIL_CLICKED = "email_clicked", "Email clicked"
    UNSUBSCRIBED = "unsubscribed", "Unsubscribed"
    SCORE_CHANGED = "score_changed", "Score changed"
    GRADE_CHANGED = "grade_changed", "Grade changed"
    STAGE_CHANGED = "stage_changed", "Stage changed"
    OWNER_CHANGED = "owner_changed", "Owner changed"
    NOTE_ADDED = "note_added", "Note added"
    CONFIRMED = "confirmed", "Confirmed their email"


class Activity(models.Model):
    """One append-only row of a lead's timeline, and the outbox for follow-up work.

    ``processed_at`` is set once the follow-up work for this row (scoring, nurture
    triggers) has run; the periodic sweep re-queues rows where it never did.
    """

    # capture_act_timeline_idx (lead, occurred_at, id) serves every lookup by lead (the
    # timeline, deleting a lead's activities); an index of its own would be one more for
    # every activity insert to keep.
    lead = models.ForeignKey(
        Lead, on_delete=models.CASCADE, related_name="activities", db_index=False
    )
    kind = models.CharField(max_length=64)
    data = models.JSONField(default=dict, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The user who did it; empty for visitors, integrations and the system.",
    )
    occurred_at = models.DateTimeField(default=timezone.now)
    created_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "activities"
        ordering = ["-occurred_at", "-id"]
        indexes = [
            models.Index(fields=["lead", "-occurred_at", "-id"], name="capture_act_timeline_idx"),
            models.Index(fields=["kind", "occurred_at"], name="capture_act_kind_time_idx"),
            # The outbox sweep reads only unprocessed rows; a partial index stays tiny.
            models.Index(
                fields=["created_at"],
                condition=Q(processed_at__isnull=True),
                name="capture_act_unprocessed_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} on lead {self.lead_id} at {self.occurred_at:%Y-%m-%d %H:%M}"

    @property
    def kind_label(self) -> str:
        try:
            return ActivityKind(self.kind).label
        except ValueError:
            return self.kind.replace("_", " ").capitalize()
