from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models

from capture.models import Lead, Stage


class StageTransition(models.Model):
    """One move of a lead between lifecycle stages: the source for funnel, velocity and
    conversion figures. Written only by pipeline.services.lead_change_stage."""

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="transitions")
    from_stage = models.CharField(max_length=20, choices=Stage.choices)
    to_stage = models.CharField(max_length=20, choices=Stage.choices)
    by_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # What moved it when no person did ("scoring", "api", "import"), or how a person did.
    by_system = models.CharField(max_length=50, blank=True)
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # For moves into MQL (a hand-off to sales): who it was handed to, and when a person
    # first worked it after that. Speed-to-lead figures per rep read these, so a later
    # reassignment or a later hand-off does not rewrite an earlier one's wait.
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                              on_delete=models.SET_NULL, related_name="+")
    first_touch_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["lead", "-created_at"], name="pipeline_tr_lead_idx"),
            models.Index(fields=["to_stage", "created_at"], name="pipeline_tr_to_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(from_stage=models.F("to_stage")),
                name="pipeline_tr_changes_stage",
            )
        ]

    def __str__(self) -> str:
        return f"{self.lead_id}: {self.from_stage} → {self.to_stage}"

    @property
    def by_label(self) -> str:
        if self.by_user_id:
            return self.by_user.display_name
        return self.by_system or "system"


# The funnel stages a LeadMilestone times, with their columns, in funnel order.
MILESTONE_FIELDS = {
    Stage.MQL: "mql_at",
    Stage.SQL: "sql_at",
    Stage.OPPORTUNITY: "opportunity_at",
    Stage.CUSTOMER: "customer_at",
}


class LeadMilestone(models.Model):
    """When a lead first moved into each funnel stage: the earliest StageTransition into
    it (NULL: never). One row per lead that has ever changed stage, written with each
    move by pipeline.services.lead_change_stage (an upsert that keeps a time already
    there: going back and forth moves nothing), so the funnel dashboard's cohort and
    velocity read one narrow row per lead instead of its transitions and the lead table.
    Derived data: the transitions stay the record (migration 0006 backfilled the rows
    from them, with the same statement bench.data uses).

    Exact moves, not "reached or beyond": a lead moved straight from Lead to SQL has an
    sql_at and no mql_at (the cohort counts it as having passed MQL; velocity does not
    time a step it skipped).

    ``lead_created_at`` and ``source`` are copies of the lead's, taken at its first move:
    LeadHub sets both when it creates a lead and nothing changes them afterwards (read
    only in the API, the admin and the form upsert), so the dashboard's period and
    source filters need no join to the lead table. The owner changes, so it is not
    copied: the owner filter reads the lead table."""

    lead = models.OneToOneField(Lead, on_delete=models.CASCADE, primary_key=True,
                                related_name="milestone")
    lead_created_at = models.DateTimeField()
    source = models.CharField(max_length=200, blank=True)
    mql_at = models.DateTimeField(null=True, blank=True)
    sql_at = models.DateTimeField(null=True, blank=True)
    opportunity_at = models.DateTimeField(null=True, blank=True)
    customer_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            # The cohort: leads created in a period.
            models.Index(fields=["lead_created_at"], name="pipeline_ms_created_idx"),
            # Velocity's range scans: leads that first reached MQL, SQL or customer in a
            # period (partial: most rows lack most milestones).
            models.Index(fields=["mql_at"], name="pipeline_ms_mql_idx",
                         condition=models.Q(mql_at__isnull=False)),
            models.Index(fields=["sql_at"], name="pipeline_ms_sql_idx",
                         condition=models.Q(sql_at__isnull=False)),
            models.Index(fields=["customer_at"], name="pipeline_ms_customer_idx",
                         condition=models.Q(customer_at__isnull=False)),
        ]

    def __str__(self) -> str:
        return f"Milestones of lead {self.lead_id}"


# --- Deal and qualification (one row per lead, made when first needed) --------------------


class Bant(models.TextChoices):
    UNKNOWN = "unknown", "Unknown"
    YES = "yes", "Yes"
    NO = "no", "No"


BANT_ITEMS = ("budget", "authority", "need", "timing")


class Deal(models.Model):
    """What sales knows about a lead beyond its contact fields: the deal's value and
    expected close, the BANT checklist, and when a person first touched it.

    One-to-one with Lead and owned by pipeline, so capture's Lead stays capture's; a lead
    without a row simply has no deal value and an all-unknown checklist."""

    lead = models.OneToOneField(Lead, on_delete=models.CASCADE, primary_key=True,
                                related_name="deal")
    value = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True,
                                validators=[MinValueValidator(0)],
                                help_text="Expected deal value.")
    expected_close = models.DateField(null=True, blank=True)
    budget = models.CharField(max_length=10, choices=Bant.choices, default=Bant.UNKNOWN)
    budget_note = models.CharField(max_length=500, blank=True)
    authority = models.CharField(max_length=10, choices=Bant.choices, default=Bant.UNKNOWN)
    authority_note = models.CharField(max_length=500, blank=True)
    need = models.CharField(max_length=10, choices=Bant.choices, default=Bant.UNKNOWN)
    need_note = models.CharField(max_length=500, blank=True)
    timing = models.CharField(max_length=10, choices=Bant.choices, default=Bant.UNKNOWN)
    timing_note = models.CharField(max_length=500, blank=True)
    # The first note, task or stage change by a person after the lead became an MQL:
    # speed-to-lead is measured to here.
    first_touch_at = models.DateTimeField(null=True, blank=True)
    # When the speed-to-lead alert went out for the current MQL hand-off (an alert older
    # than the lead's last stage change belongs to an earlier one).
    sla_alerted_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(value__gte=0) | models.Q(value=None),
                                   name="pipeline_deal_value_not_negative"),
        ]

    def __str__(self) -> str:
        return f"Deal for lead {self.lead_id}"

    def bant_missing(self, required: list[str]) -> list[str]:
        """The required BANT items not confirmed ("yes") on this deal."""
        return [item for item in BANT_ITEMS if item in required and getattr(self, item) != Bant.YES]


class PipelineSettings(models.Model):
    """The pipeline's admin settings: one row (pk=1), edited in the Django admin."""

    # BANT items that must be "yes" before a lead may move on to SQL or beyond.
    require_budget = models.BooleanField(default=False)
    require_authority = models.BooleanField(default=False)
    require_need = models.BooleanField(default=False)
    require_timing = models.BooleanField(default=False)
    sla_minutes = models.PositiveIntegerField(
        default=5, help_text="Speed-to-lead: minutes an MQL may wait for its first touch."
    )
    reps_move_others_leads = models.BooleanField(
        default=False,
        help_text="Sales reps may move and reassign leads owned by another rep.",
    )

    class Meta:
        verbose_name = verbose_name_plural = "pipeline settings"

    def __str__(self) -> str:
        return "Pipeline settings"

    @classmethod
    def load(cls) -> "PipelineSettings":
        return cls.objects.get_or_create(pk=1)[0]

    @property
    def required_bant(self) -> list[str]:
        return [item for item in BANT_ITEMS if getattr(self, f"require_{item}")]


class StageLimit(models.Model):
    """How long a lead may sit in a stage before its card is marked as going stale."""

    stage = models.CharField(max_length=20, choices=Stage.choices, unique=True)
    stale_after_days = models.PositiveIntegerField()

    class Meta:
        ordering = ["stage"]

    def __str__(self) -> str:
        return f"{self.get_stage_display()}: {self.stale_after_days} days"


class ReasonKind(models.TextChoices):
    DISQUALIFY = "disqualify", "Disqualify"
    REJECT = "reject", "Reject an MQL"


class StageReason(models.Model):
    """The editable list of reasons offered when disqualifying a lead or rejecting an MQL."""

    kind = models.CharField(max_length=20, choices=ReasonKind.choices)
    label = models.CharField(max_length=200)
    position = models.PositiveIntegerField(default=0)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["kind", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "label"], name="pipeline_reason_uniq"),
        ]

    def __str__(self) -> str:
        return self.label


# --- Notes and tasks ----------------------------------------------------------------------


class NoteKind(models.TextChoices):
    """What a note records: a thought, or a call, email or meeting that happened outside
    LeadHub. Each is a touch for speed-to-lead."""

    NOTE = "note", "Note"
    CALL = "call", "Call"
    EMAIL = "email", "Email"
    MEETING = "meeting", "Meeting"


class Note(models.Model):
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL,
                               related_name="+")
    kind = models.CharField(max_length=10, choices=NoteKind.choices, default=NoteKind.NOTE)
    text = models.TextField(max_length=10_000)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["lead", "-created_at"], name="pipeline_note_lead_idx")]

    def __str__(self) -> str:
        return f"Note {self.pk} on lead {self.lead_id}"


class Task(models.Model):
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="tasks")
    title = models.CharField(max_length=300)
    due_at = models.DateTimeField()
    assignee = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                                 related_name="pipeline_tasks")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL,
                                   related_name="+")
    done_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["due_at", "id"]
        indexes = [
            models.Index(fields=["assignee", "done_at", "due_at"], name="pipeline_task_mine_idx"),
            models.Index(fields=["lead", "due_at"], name="pipeline_task_lead_idx"),
        ]

    def __str__(self) -> str:
        return self.title

    def is_overdue(self, now) -> bool:
        return self.done_at is None and self.due_at < now


# --- Assignment rules ------------------------------------------------------------------------


class AssignmentRule(models.Model):
    """Who gets a new MQL: the first active rule (by position) whose conditions all match
    the lead gives it to the next of its members in turn (round-robin). A rule with no
    conditions matches every lead: put it last, as the fallback."""

    name = models.CharField(max_length=200)
    position = models.PositiveIntegerField(default=0)
    active = models.BooleanField(default=True)
    # Conditions; empty means "any". Lists are comma-separated, compared ignoring case.
    countries = models.CharField(max_length=500, blank=True, help_text="e.g. DE, AT, CH")
    industries = models.CharField(max_length=500, blank=True)
    sources = models.CharField(max_length=500, blank=True)
    min_company_size = models.PositiveIntegerField(null=True, blank=True)
    max_company_size = models.PositiveIntegerField(null=True, blank=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="+",
                                     help_text="The team the rule deals leads to, in turn.")
    manager = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                on_delete=models.SET_NULL, related_name="+",
                                help_text="Also alerted when the team misses speed to lead.")
    # How many leads this rule has dealt: the next goes to members[dealt % len(members)].
    dealt = models.PositiveIntegerField(default=0, editable=False)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.name

    @staticmethod
    def _words(text: str) -> set[str]:
        return {w.strip().lower() for w in text.split(",") if w.strip()}

    def matches(self, lead: Lead) -> bool:
        for text, value in ((self.countries, lead.country), (self.industries, lead.industry),
                            (self.sources, lead.source)):
            words = self._words(text)
            if words and (value or "").strip().lower() not in words:
                return False
        size = lead.company_size
        if self.min_company_size is not None and (size is None or size < self.min_company_size):
            return False
        return not (
            self.max_company_size is not None and (size is None or size > self.max_company_size)
        )


# --- In-app notifications -------------------------------------------------------------------


class NotificationKind(models.TextChoices):
    MQL_ASSIGNED = "mql_assigned", "New MQL assigned to you"
    SLA_BREACHED = "sla_breached", "Speed-to-lead missed"
    TASK_ASSIGNED = "task_assigned", "Task assigned to you"


class Notification(models.Model):
    """Something a person should see the next time they look at LeadHub, on whatever
    page: the bell in the navigation bar counts the unread ones. Emails say the same."""

    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                                  related_name="notifications")
    lead = models.ForeignKey(Lead, null=True, blank=True, on_delete=models.CASCADE,
                             related_name="+")
    kind = models.CharField(max_length=20, choices=NotificationKind.choices)
    text = models.CharField(max_length=300)
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # The bell's unread count and the newest-first list, per person.
            models.Index(fields=["recipient", "read_at", "-created_at"],
                         name="pipeline_notif_inbox_idx"),
        ]

    def __str__(self) -> str:
        return self.text
