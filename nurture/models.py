"""Drip sequences, who is enrolled in them, and every email they sent.

State lives in the database, not in Celery: an enrollment's next due time is a column
the dispatcher claims with ``SELECT … FOR UPDATE SKIP LOCKED`` (nurture.services.dispatch),
and each send is an ``EmailMessage`` row whose unique (enrollment, step) makes a second
send of a step impossible.
"""

from functools import cache
from zoneinfo import available_timezones

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone

from capture.models import Form, Lead, Segment, Stage

# Stages in funnel order, for "exit when the lead reaches SQL or later". Disqualified is
# off the funnel and does not count as "later".
STAGE_ORDER = [Stage.LEAD, Stage.MQL, Stage.SQL, Stage.OPPORTUNITY, Stage.CUSTOMER]


def stage_reached(stage: str, threshold: str) -> bool:
    """True when ``stage`` is ``threshold`` or further along the funnel."""
    if not threshold or stage not in STAGE_ORDER or threshold not in STAGE_ORDER:
        return False
    return STAGE_ORDER.index(stage) >= STAGE_ORDER.index(threshold)


class SequenceStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    ACTIVE = "active", "Active"
    PAUSED = "paused", "Paused"


class Reenrollment(models.TextChoices):
    NEVER = "never", "Never"
    AFTER_FINISHED = "after_finished", "After the previous run finished"


class Sequence(models.Model):
    name = models.CharField(max_length=200)
    status = models.CharField(
        max_length=10, choices=SequenceStatus.choices, default=SequenceStatus.DRAFT
    )
    reenrollment = models.CharField(
        max_length=20, choices=Reenrollment.choices, default=Reenrollment.NEVER
    )
    # "" = never exit on stage.
    exit_on_stage = models.CharField(
        max_length=20, choices=Stage.choices, blank=True, default=Stage.SQL
    )
    goal_kind = models.CharField(
        max_length=64, blank=True, help_text="An activity kind that ends the sequence."
    )
    tracking = models.BooleanField(default=True, help_text="Open pixel and tracked links.")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=SequenceStatus.values), name="nurture_seq_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class TriggerType(models.TextChoices):
    FORM_SUBMITTED = "form_submitted", "A form is submitted"
    LEAD_MAGNET = "lead_magnet", "A lead magnet is downloaded"
    CUSTOM_EVENT = "custom_event", "A custom event arrives"
    GRADE_REACHED = "grade_reached", "A lead reaches a grade"
    SCORE_REACHED = "score_reached", "A lead reaches a score"
    STAGE_ENTERED = "stage_entered", "A lead enters a stage"
    # Sales rejected an MQL: its stage went from MQL back to Lead (stage_changed
    # {"from": "mql", "to": "lead"}), not any lead entering Lead.
    MQL_REJECTED = "mql_rejected", "An MQL is rejected (back to Lead)"
    SEGMENT = "segment", "A lead comes to match a segment"
    MANUAL = "manual", "Added by hand"
    API = "api", "Added through the API"


class Trigger(models.Model):
    """One way into a sequence. ``params`` holds the type's setting: ``event`` (custom
    event name), ``grade``, ``score``, ``stage``, ``page`` (landing page id of a lead
    magnet, or none for any). ``segment``: the saved segment a ``segment`` trigger
    watches (its SegmentWatch remembers which of the segment's leads it has seen)."""

    sequence = models.ForeignKey(Sequence, on_delete=models.CASCADE, related_name="triggers")
    type = models.CharField(max_length=20, choices=TriggerType.choices)
    # Null: any form.
    form = models.ForeignKey(Form, null=True, blank=True, on_delete=models.CASCADE,
                             related_name="+")
    # A watched segment cannot be deleted from under its sequence: it says which leads
    # the sequence takes in (capture.services.segment_delete refuses, naming why).
    segment = models.ForeignKey(Segment, null=True, blank=True, on_delete=models.PROTECT,
                                related_name="+")
    params = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["type"], name="nurture_trigger_type_idx")]

    def __str__(self) -> str:
        return f"{self.get_type_display()} → {self.sequence_id}"


class Step(models.Model):
    sequence = models.ForeignKey(Sequence, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveIntegerField()
    subject = models.CharField(max_length=200)
    preheader = models.CharField(max_length=200, blank=True)
    body = models.TextField(help_text="Markdown with merge fields such as {{ first_name }}.")
    delay_minutes = models.PositiveIntegerField(
        default=0, help_text="After the previous step (the first: after enrolment)."
    )
    # Optional send window in the sending settings' time zone: weekdays (0 = Monday) and
    # hours [start, end). Empty / null: any time.
    send_days = models.JSONField(default=list, blank=True)
    send_hour_start = models.PositiveSmallIntegerField(null=True, blank=True)
    send_hour_end = models.PositiveSmallIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["sequence", "position"]
        constraints = [
            models.UniqueConstraint(fields=["sequence", "position"], name="nurture_step_pos_uniq"),
        ]

    def __str__(self) -> str:
        return f"{self.sequence_id}#{self.position}: {self.subject}"


class EnrollmentState(models.TextChoices):
    ACTIVE = "active", "Active"
    COMPLETED = "completed", "Completed"
    EXITED = "exited", "Exited"


class Enrollment(models.Model):
    sequence = models.ForeignKey(Sequence, on_delete=models.CASCADE, related_name="enrollments")
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="enrollments")
    state = models.CharField(
        max_length=10, choices=EnrollmentState.choices, default=EnrollmentState.ACTIVE
    )
    exit_reason = models.CharField(max_length=100, blank=True)
    source = models.CharField(max_length=20, choices=TriggerType.choices,
                              default=TriggerType.MANUAL)
    # The activity that triggered it, so a handler run twice enrolls once.
    trigger_activity_id = models.BigIntegerField(null=True, blank=True)
    # The step it waits for: due at ``next_due_at``, or, while ``next_due_at`` is null,
    # in flight (its email is queued; the step after it becomes due only once this one
    # was sent or failed for good). Which step that is follows from what was sent: the
    # first step, in the current order, after the last one sent (services.dispatch).
    next_step = models.ForeignKey(Step, null=True, blank=True, on_delete=models.SET_NULL,
                                  related_name="+")
    next_due_at = models.DateTimeField(null=True, blank=True)
    # Set while the lead's double opt-in is pending: its ``confirmed`` activity makes the
    # step due at once.
    held_for_optin = models.BooleanField(default=False)
    enrolled_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-enrolled_at", "-id"]
        constraints = [
            # At most one running enrollment per lead and sequence, whatever races.
            models.UniqueConstraint(
                fields=["sequence", "lead"],
                condition=Q(state="active"),
                name="nurture_enrollment_one_active",
            ),
        ]
        indexes = [
            # The dispatcher's claim: active rows by due time; the partial index holds
            # only what may still be sent.
            models.Index(
                fields=["next_due_at"],
                condition=Q(state="active", next_due_at__isnull=False),
                name="nurture_enrollment_due_idx",
            ),
            models.Index(fields=["lead", "state"], name="nurture_enrollment_lead_idx"),
            models.Index(fields=["sequence", "state"], name="nurture_enrollment_seq_idx"),
        ]

    def __str__(self) -> str:
        return f"lead {self.lead_id} in sequence {self.sequence_id} ({self.state})"

    def is_due(self, now) -> bool:
        return (self.state == EnrollmentState.ACTIVE and self.next_due_at is not None
                and self.next_due_at <= now)


class SegmentWatch(models.Model):
    """A sequence watching a segment (a ``segment`` trigger): which of the segment's
    leads it has seen are its SegmentMatch rows, so a lead enters when it *comes to*
    match, not on every evaluation while it matches (and, under "after the previous run
    finished", again only after it left the segment and came back).

    Kept while any trigger of the sequence names the segment: triggers are replaced on
    every save of the sequence, this is not (nurture.services.sequences). The leads that
    match at the first evaluation while the sequence is active are recorded, not
    enrolled (``primed_at`` says it happened): the trigger is about leads that come to
    match from then on. Adding the ones already in it is "Add to sequence…" on the
    leads list."""

    sequence = models.ForeignKey(Sequence, on_delete=models.CASCADE,
                                 related_name="segment_watches")
    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="+")
    primed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["sequence", "segment"],
                                    name="nurture_segment_watch_uniq"),
        ]

    def __str__(self) -> str:
        return f"sequence {self.sequence_id} watches segment {self.segment_id}"


class SegmentMatch(models.Model):
    """A lead its watch has seen in the segment (enrolled or not: refused, or there when
    the watch was primed). Deleted once the lead no longer matches."""

    watch = models.ForeignKey(SegmentWatch, on_delete=models.CASCADE, related_name="matches")
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="+")
    matched_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        constraints = [
            # Also the index of "which leads has this watch seen" (the anti-join).
            models.UniqueConstraint(fields=["watch", "lead"], name="nurture_segment_match_uniq"),
        ]
        indexes = [models.Index(fields=["lead"], name="nurture_segment_match_lead_idx")]

    def __str__(self) -> str:
        return f"lead {self.lead_id} seen by watch {self.watch_id}"


class MessageStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class EmailMessage(models.Model):
    """One step's email to one enrollment: created (queued) before it is sent, marked
    sent only once the mail server accepted it."""

    enrollment = models.ForeignKey(Enrollment, on_delete=models.CASCADE, related_name="messages")
    step = models.ForeignKey(Step, null=True, on_delete=models.SET_NULL, related_name="messages")
    sequence = models.ForeignKey(Sequence, on_delete=models.CASCADE, related_name="messages")
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="emails")
    to_email = models.EmailField(max_length=254)
    to_domain = models.CharField(max_length=254, blank=True)
    subject = models.CharField(max_length=200, blank=True)
    status = models.CharField(
        max_length=10, choices=MessageStatus.choices, default=MessageStatus.QUEUED
    )
    error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    # A queued message is (re)tried from this time on (the dispatcher's clock: a retry's
    # backoff).
    next_attempt_at = models.DateTimeField(default=timezone.now)
    # Held by a sender until then, on the DATABASE's clock (now() + the lease, compared
    # with now()), so hosts whose clocks disagree never take over each other's messages;
    # a worker that dies mid-batch leaves its messages to be taken over once it ends.
    leased_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    message_id = models.CharField(max_length=255, blank=True)
    opened_at = models.DateTimeField(null=True, blank=True)
    clicked_at = models.DateTimeField(null=True, blank=True)
    # Its outcome is recorded: the email_sent / email_failed activity is written and the
    # enrollment moved on to its next step. Marking a message sent is one statement right
    # after the server accepted it; the rest follows in a group with others' (one
    # transaction), and a sweep does it for those a dead worker left behind.
    recorded = models.BooleanField(default=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # The at-most-one-send invariant (DESIGN.md): enforced by the database.
            models.UniqueConstraint(fields=["enrollment", "step"], name="nurture_message_once"),
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status="queued"),
                name="nurture_message_queued_idx",
            ),
            models.Index(fields=["lead", "-created_at", "-id"], name="nurture_message_lead_idx"),
            models.Index(fields=["to_domain", "created_at"], name="nurture_message_domain_idx"),
            models.Index(fields=["sequence", "status"], name="nurture_message_seq_idx"),
            models.Index(
                fields=["sent_at"],
                condition=Q(status="sent", recorded=False),
                name="nurture_message_unrecorded_idx",
            ),
            models.Index(
                fields=["failed_at"],
                condition=Q(status="failed", recorded=False),
                name="nurture_message_unrec_fail_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.subject} → {self.to_email} ({self.status})"


class EmailClick(models.Model):
    """A click on a tracked link, kept until its ``email_clicked`` activity is written.

    The activity waits until no other click can still join this one's burst
    (services.tracking): then whether it was a scanner is known for every click of the
    burst, the first included, before scoring ever sees it."""

    message = models.ForeignKey(EmailMessage, on_delete=models.CASCADE, related_name="clicks")
    url = models.TextField()
    clicked_at = models.DateTimeField(default=timezone.now)
    # Automated by its own look: a scanner's user agent, or within seconds of the send.
    agent_automated = models.BooleanField(default=False)
    automated = models.BooleanField(default=False)
    # Its email_clicked activity, once written.
    activity_id = models.BigIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["clicked_at", "id"]
        indexes = [
            models.Index(fields=["message", "clicked_at"], name="nurture_click_message_idx"),
            models.Index(fields=["clicked_at"], condition=Q(activity_id__isnull=True),
                         name="nurture_click_pending_idx"),
        ]

    def __str__(self) -> str:
        return f"click on {self.url} in message {self.message_id}"


class SuppressionReason(models.TextChoices):
    HARD_BOUNCE = "hard_bounce", "Hard bounce"
    COMPLAINT = "complaint", "Complaint"
    MANUAL = "manual", "Added by hand"


class Suppression(models.Model):
    """Addresses no sequence may mail again. Stored lower-cased."""

    email = models.EmailField(max_length=254)
    reason = models.CharField(max_length=20, choices=SuppressionReason.choices)
    detail = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(Lower("email"), name="nurture_suppression_email_uniq"),
        ]

    def __str__(self) -> str:
        return self.email


@cache
def time_zone_names() -> frozenset[str]:
    """The IANA time zones this system knows (read from disk once per process)."""
    return frozenset(available_timezones())


def validate_time_zone(value: str) -> None:
    if value not in time_zone_names():
        raise ValidationError("Choose a time zone such as Europe/Berlin or America/New_York.")


def default_time_zone() -> str:
    return settings.TIME_ZONE


class SendingSettings(models.Model):
    """The one row (id 1): who nurture mail is from, the footer's postal address, and the
    time zone steps' send windows are in."""

    from_name = models.CharField(max_length=200, blank=True)
    from_email = models.EmailField(max_length=254, blank=True)
    reply_to = models.EmailField(max_length=254, blank=True)
    postal_address = models.TextField(blank=True)
    time_zone = models.CharField(max_length=64, default=default_time_zone,
                                 validators=[validate_time_zone],
                                 help_text="Send windows (weekdays and hours) are in this "
                                           "time zone.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "sending settings"
        constraints = [
            models.CheckConstraint(condition=Q(id=1), name="nurture_sending_settings_one_row"),
        ]

    def __str__(self) -> str:
        return "Sending settings"

    @classmethod
    def load(cls) -> "SendingSettings":
        obj, _ = cls.objects.get_or_create(pk=1)
        return obj
