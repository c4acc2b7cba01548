"""Scoring and grading: the rules marketers edit, the settings that turn numbers into
grades and MQLs, and what the engine stores so every score explains itself.

- ``Rule`` is one table for both kinds (``BehaviorRule`` and ``FitRule`` are proxies over
  it), so the API has one resource, rule ids are one id space and contributions point at
  one table. Behaviour rules turn activities into points (per category); fit rules turn a
  lead's fields into a fit score, which the grade bands turn into A–F.
- ``ScoreContribution`` is one matching (activity, rule) pair: what it earned (0 when a cap
  or a count rule kept it from earning) and when the points expire. Unique per
  (activity, rule), so a retried task never counts an activity twice. A lead's score is
  the sum of its unexpired contributions.
- ``LeadScore`` caches per lead what Lead has no column for (category subtotals, the fit
  score, whether it meets the MQL threshold, the next expiry the decay task waits for).
  ``Lead.score`` and ``Lead.grade`` stay the only lead columns scoring writes.

Everything here is written by ``scoring.services`` only.
"""

import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q

from capture.models import Activity, Grade, Lead


def new_rules_stamp() -> str:
    return secrets.token_hex(8)


class ScoreCategory(models.Model):
    """A bucket of behaviour points (engagement, intent, product usage, …). ``key`` is
    what score_changed activities, LeadScore.categories and thresholds name it by."""

    key = models.SlugField(max_length=50, unique=True, help_text="Never changes once made.")
    name = models.CharField(max_length=100, unique=True)
    position = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["position", "id"]
        verbose_name_plural = "score categories"

    def __str__(self) -> str:
        return self.name


class RuleKind(models.TextChoices):
    BEHAVIOR = "behavior", "Behaviour (activities → points)"
    FIT = "fit", "Fit (lead fields → grade)"


class RuleQuerySet(models.QuerySet):
    def active(self) -> "RuleQuerySet":
        return self.filter(active=True)


class RuleManager(models.Manager.from_queryset(RuleQuerySet)):
    """The rules that exist: not those deleted and waiting for the rescore that takes
    their points off (``Rule.all_objects`` has those too, for the engine)."""

    def get_queryset(self):
        return super().get_queryset().filter(deleted_at__isnull=True)


class Rule(models.Model):
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=10, choices=RuleKind.choices)
    # Behaviour rules only: the activity kind they react to and the category their points
    # count towards. Fit rules have neither.
    activity_kind = models.CharField(max_length=64, blank=True)
    category = models.ForeignKey(
        ScoreCategory, null=True, blank=True, on_delete=models.PROTECT, related_name="rules"
    )
    # [{"field": …, "op": …, "value": …}, …], all of which must hold (scoring.conditions).
    conditions = models.JSONField(default=list, blank=True)
    points = models.IntegerField(help_text="Added when the rule applies; negative subtracts.")
    # Behaviour options. max_times: the first N times per lead earn points (null: every
    # time). expires_after_days: points stop counting after D days (decay).
    # count + window_days: the rule fires once when the count-th matching activity within
    # window_days arrives ("5 email opens in a week").
    max_times = models.PositiveIntegerField(null=True, blank=True)
    expires_after_days = models.PositiveIntegerField(null=True, blank=True)
    count = models.PositiveIntegerField(null=True, blank=True)
    window_days = models.PositiveIntegerField(null=True, blank=True)
    active = models.BooleanField(default=True)
    position = models.IntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Set when a marketer deletes the rule. The row and its contributions stay until a
    # rescore has taken its points off every lead (recorded as that rescore's change);
    # deleting them at once would let the next unrelated activity record the drop as
    # its own. Deleted rules are inactive and hidden from ``Rule.objects``.
    deleted_at = models.DateTimeField(null=True, blank=True)
    # Set by every save (creating, changing, deleting the rule, through LeadHub or not):
    # its contributions may no longer be what it gives. A rescore after rule changes
    # rematches only the rules so marked (RescoreJob.full); the job that did clears it.
    needs_rematch = models.BooleanField(default=True, editable=False)

    objects = RuleManager()
    all_objects = RuleQuerySet.as_manager()

    class Meta:
        ordering = ["position", "id"]
        indexes = [models.Index(fields=["kind", "active", "activity_kind"],
                                name="scoring_rule_kind_idx")]
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=RuleKind.values),
                                   name="scoring_rule_kind_valid"),
            models.CheckConstraint(
                condition=Q(kind=RuleKind.FIT, activity_kind="", category__isnull=True,
                            max_times__isnull=True, expires_after_days__isnull=True,
                            count__isnull=True, window_days__isnull=True)
                | (Q(kind=RuleKind.BEHAVIOR, category__isnull=False) & ~Q(activity_kind="")),
                name="scoring_rule_kind_fields",
            ),
            models.CheckConstraint(
                condition=Q(count__isnull=True, window_days__isnull=True)
                | Q(count__gte=2, window_days__gte=1),
                name="scoring_rule_count_window",
            ),
            models.CheckConstraint(condition=~Q(points=0), name="scoring_rule_points_nonzero"),
            models.CheckConstraint(
                condition=Q(max_times__isnull=True) | Q(max_times__gte=1),
                name="scoring_rule_max_times_positive",
            ),
            models.CheckConstraint(
                condition=Q(expires_after_days__isnull=True) | Q(expires_after_days__gte=1),
                name="scoring_rule_expiry_positive",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs):
        self.needs_rematch = True
        if kwargs.get("update_fields") is not None:
            kwargs["update_fields"] = {*kwargs["update_fields"], "needs_rematch"}
        super().save(*args, **kwargs)

    @property
    def is_behavior(self) -> bool:
        return self.kind == RuleKind.BEHAVIOR


class BehaviorRuleManager(RuleManager):
    def get_queryset(self):
        return super().get_queryset().filter(kind=RuleKind.BEHAVIOR)


class FitRuleManager(RuleManager):
    def get_queryset(self):
        return super().get_queryset().filter(kind=RuleKind.FIT)


class BehaviorRule(Rule):
    """Behaviour rules: when an activity of ``activity_kind`` matches the conditions,
    add ``points`` to the lead's score (in ``category``)."""

    objects = BehaviorRuleManager()

    class Meta:
        proxy = True


class FitRule(Rule):
    """Fit rules: when the lead's fields match the conditions, add ``points`` to its fit
    score; the grade bands turn the fit score into A–F."""

    objects = FitRuleManager()

    class Meta:
        proxy = True


GRADE_ORDER = [Grade.A, Grade.B, Grade.C, Grade.D, Grade.F]


class ScoringSettings(models.Model):
    """The one row of account-wide scoring settings (id 1, made by a migration).

    Grade bands: a fit score of at least ``grade_a_min`` is an A, of at least
    ``grade_b_min`` a B, and so on; below ``grade_d_min`` an F. The MQL threshold: score
    at least ``mql_score``, grade ``mql_min_grade`` or better ("" = any grade), and, when
    ``mql_category`` is set, that category's subtotal at least ``mql_category_min``.
    """

    SINGLETON_ID = 1

    grade_a_min = models.IntegerField(default=30)
    grade_b_min = models.IntegerField(default=20)
    grade_c_min = models.IntegerField(default=10)
    grade_d_min = models.IntegerField(default=0)
    mql_score = models.IntegerField(default=75)
    mql_min_grade = models.CharField(max_length=1, choices=Grade.choices, blank=True)
    mql_category = models.ForeignKey(
        ScoreCategory, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    mql_category_min = models.IntegerField(null=True, blank=True)
    # Changes with every rule or settings change, so each worker knows its cached rules
    # are stale. Random, not a counter: a rolled-back change must not reuse a stamp.
    rules_stamp = models.CharField(max_length=32, default=new_rules_stamp)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        verbose_name_plural = "scoring settings"
        constraints = [
            models.CheckConstraint(condition=Q(id=1), name="scoring_settings_singleton"),
            models.CheckConstraint(
                condition=Q(grade_a_min__gt=models.F("grade_b_min"),
                            grade_b_min__gt=models.F("grade_c_min"),
                            grade_c_min__gt=models.F("grade_d_min")),
                name="scoring_settings_bands_descending",
            ),
            models.CheckConstraint(
                condition=Q(mql_min_grade__in=[*Grade.values, ""]),
                name="scoring_settings_grade_valid",
            ),
            models.CheckConstraint(
                condition=Q(mql_category__isnull=True, mql_category_min__isnull=True)
                | Q(mql_category__isnull=False, mql_category_min__isnull=False),
                name="scoring_settings_category_threshold",
            ),
        ]

    def __str__(self) -> str:
        return "Scoring settings"

    @classmethod
    def load(cls) -> "ScoringSettings":
        obj, _ = cls.objects.get_or_create(pk=cls.SINGLETON_ID)
        return obj

    @property
    def bands(self) -> dict[str, int]:
        return {"A": self.grade_a_min, "B": self.grade_b_min, "C": self.grade_c_min,
                "D": self.grade_d_min}

    def grade_for(self, fit_score: int) -> str:
        for grade, minimum in self.bands.items():
            if fit_score >= minimum:
                return grade
        return Grade.F


class ScoreContribution(models.Model):
    """One (activity, rule) match and what it earned. Written by scoring.services only."""

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="+",
                             db_index=False)
    # CASCADE only when a rule's row is purged, after a rescore took its points off
    # (scoring.services.rules.rule_delete marks it deleted; the rescore removes these).
    rule = models.ForeignKey(Rule, on_delete=models.CASCADE, related_name="contributions",
                             db_index=False)
    activity = models.ForeignKey(Activity, on_delete=models.CASCADE, related_name="+",
                                 db_index=False)
    # 0 when the match earned nothing: over the rule's cap, or a count rule's match that
    # did not complete the count. Kept, because a late (older) activity can move the cap
    # or complete a count, and the engine re-decides from the stored matches.
    points = models.IntegerField()
    occurred_at = models.DateTimeField(help_text="The activity's time.")
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["activity", "rule"],
                                    name="scoring_contrib_activity_rule_uniq"),
        ]
        indexes = [
            # Per lead (totals, breakdown) and per (lead, rule) in match order (caps,
            # count windows).
            models.Index(fields=["lead", "rule", "occurred_at", "activity"],
                         name="scoring_contrib_lead_idx"),
            # Per rule (effectiveness, impact preview).
            models.Index(fields=["rule", "lead"], name="scoring_contrib_rule_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.points:+d} for lead {self.lead_id} by rule {self.rule_id}"


class LeadScore(models.Model):
    """Per-lead scoring state that has no column on Lead."""

    lead = models.OneToOneField(Lead, primary_key=True, on_delete=models.CASCADE,
                                related_name="scoring_state")
    fit_score = models.IntegerField(default=0)
    # {category key: subtotal of unexpired points}, non-zero subtotals only.
    categories = models.JSONField(default=dict, blank=True)
    # Met the MQL threshold when last scored: promotion happens when this turns true, so
    # an MQL that sales sent back is not re-promoted until it drops below and crosses again.
    qualified = models.BooleanField(default=False)
    # When the earliest unexpired points expire: the decay task rescores the lead then.
    next_expiry = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            models.Index(fields=["next_expiry"], condition=Q(next_expiry__isnull=False),
                         name="scoring_leadscore_expiry_idx"),
        ]

    def __str__(self) -> str:
        return f"Scoring state of lead {self.lead_id}"


def rescore_redispatch_after() -> timedelta:
    """How long a queued rescore's tasks may wait to be picked up before they are sent
    again: long enough for busy workers to reach them (a run takes up to
    SCORING_RESCORE_TASK_SECONDS), short enough that lost tasks are not waited on long."""
    return timedelta(seconds=settings.SCORING_RESCORE_REDISPATCH_SECONDS)


class RescoreStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class RescoreJob(models.Model):
    """A full rescore of every lead, cut into batches of lead ids (RescoreBatch) that
    workers claim one at a time: it reports progress, several workers can share it, and
    a worker killed mid-batch leaves that batch to be done again.

    Its status follows the batches: done when every batch is done (whatever a worker
    that gave up said), failed when a worker gave up and left batches undone with no
    other worker on the job. A failed job is resumed by any run of it (``manage.py
    rescore --job``, a task still queued for it), which makes it running again."""

    status = models.CharField(max_length=10, choices=RescoreStatus.choices,
                              default=RescoreStatus.QUEUED)
    reason = models.CharField(max_length=200, blank=True)
    total = models.PositiveIntegerField(default=0, help_text="Leads to rescore.")
    done = models.PositiveIntegerField(default=0, help_text="Leads rescored so far.")
    # Leads created after the job started (ids above last_lead_id) are scored as they
    # arrive, by the activity handler.
    last_lead_id = models.BigIntegerField(default=0)
    # The rules the job started with: if they changed while it ran, another job follows.
    rules_stamp = models.CharField(max_length=32, blank=True)
    # What the job matches against the activities again. Full: every rule (manage.py
    # rescore, "Rescore now"). Otherwise (after rule and settings changes) only the rules
    # marked needs_rematch when it started, listed in ``rematch``; the other rules'
    # stored contributions are kept, and every lead's score, grade and MQL check are
    # recomputed from the contributions either way.
    full = models.BooleanField(default=True)
    rematch = models.JSONField(null=True, blank=True, editable=False)
    scores_changed = models.PositiveIntegerField(default=0)
    grades_changed = models.PositiveIntegerField(default=0)
    promoted = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # When its Celery tasks were last handed to the broker (None: never, e.g. the broker
    # was down). A queued job is sent again when this is None or old: see dispatch_due.
    dispatched_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status"], name="scoring_rescore_status_idx")]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=RescoreStatus.values),
                                   name="scoring_rescore_status_valid"),
        ]

    def __str__(self) -> str:
        return f"Rescore #{self.pk} ({self.status})"

    @property
    def scope(self) -> str:
        """What the job matches against the activities again, in words."""
        if self.full:
            return "every rule matched again"
        if self.rematch is None:  # not started: the rules are read when it starts
            return "changed rules matched again"
        count = len(self.rematch)
        if not count:
            return "scores and grades recomputed, no rule matched again"
        return f"{count} changed rule{'' if count == 1 else 's'} matched again"

    @property
    def percent(self) -> float:
        if self.status == RescoreStatus.DONE:
            return 100.0
        if not self.total:
            return 0.0
        return round(min(100.0, 100.0 * self.done / self.total), 1)

    @property
    def is_finished(self) -> bool:
        return self.status in (RescoreStatus.DONE, RescoreStatus.FAILED)

    def dispatch_due(self, now: datetime) -> bool:
        """Queued, and its tasks never reached the broker or have waited so long that
        they were probably lost: they should be sent (again)."""
        return self.status == RescoreStatus.QUEUED and (
            self.dispatched_at is None or self.dispatched_at <= now - rescore_redispatch_after())


class RescoreBatch(models.Model):
    """Leads ``lo``…``hi`` of a rescore job. A worker claims a pending batch with
    SELECT … FOR UPDATE SKIP LOCKED and marks it done in the transaction that rescored
    it: a worker that dies leaves it pending (and unlocked) for another."""

    job = models.ForeignKey(RescoreJob, on_delete=models.CASCADE, related_name="batches")
    lo = models.BigIntegerField()
    hi = models.BigIntegerField()
    done = models.BooleanField(default=False)
    leads = models.PositiveIntegerField(default=0)
    seconds = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["job", "lo"]
        indexes = [models.Index(fields=["job", "done", "lo"], name="scoring_batch_claim_idx")]

    def __str__(self) -> str:
        return f"Rescore #{self.job_id} leads {self.lo}–{self.hi}"
