"""JSON shapes of the scoring API. They validate input and render output; writes go
through scoring.services, and the rule checks are the services' own (rule_problems)."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from capture.models import Grade
from scoring.models import RescoreJob, Rule, RuleKind, ScoreCategory, ScoringSettings
from scoring.services import RULE_FIELDS, rule_problems, settings_problems
from scoring.services.rules import MAX_DAYS, MAX_POINTS, MAX_TIMES, default_category


class ConditionSerializer(serializers.Serializer):
    """One condition; a rule's conditions must all hold. See scoring/README.md for the
    fields and operators of behaviour and fit rules."""

    field = serializers.CharField(help_text="e.g. url, form, properties.plan (behaviour); "
                                            "job_title, email, company_size, attributes.tier "
                                            "(fit).")
    op = serializers.CharField(help_text="equals, contains, starts_with, in, contains_any, "
                                         "gt, gte, lt, lte, is_empty, domain_in, "
                                         "domain_in_list.")
    value = serializers.JSONField(help_text="Text, a number, true/false, a list, or the "
                                            "name of a built-in list (\"freemail\").")


@extend_schema_field(ConditionSerializer(many=True))
class ConditionsField(serializers.JSONField):
    """Checked as a whole by scoring.conditions, so errors name the condition:
    ``{"conditions": {"0": ["op: …"]}}``."""


class RuleSerializer(serializers.ModelSerializer):
    kind = serializers.ChoiceField(choices=RuleKind.choices)
    category = serializers.SlugRelatedField(
        slug_field="key", queryset=ScoreCategory.objects.all(), allow_null=True,
        required=False,
        help_text="Behaviour rules: the category's key (default “engagement”). Fit: null.",
    )
    activity_kind = serializers.CharField(
        max_length=64, allow_blank=True, required=False,
        help_text="Behaviour rules: the activity kind (page_viewed, form_submitted, "
                  "email_opened, a custom event name…). Fit rules: empty.",
    )
    conditions = ConditionsField(required=False)
    points = serializers.IntegerField(min_value=-MAX_POINTS, max_value=MAX_POINTS)
    max_times = serializers.IntegerField(
        min_value=1, max_value=MAX_TIMES, allow_null=True, required=False,
        help_text="At most this many times per lead (null: every time).")
    expires_after_days = serializers.IntegerField(
        min_value=1, max_value=MAX_DAYS, allow_null=True, required=False,
        help_text="Points stop counting this many days after the activity (null: never).")
    count = serializers.IntegerField(
        min_value=2, max_value=1000, allow_null=True, required=False,
        help_text="With window_days: fire once when the count-th matching activity within "
                  "window_days arrives (e.g. 5 email opens within 7 days).")
    window_days = serializers.IntegerField(min_value=1, max_value=MAX_DAYS, allow_null=True,
                                           required=False)
    position = serializers.IntegerField(min_value=-1_000_000, max_value=1_000_000,
                                        required=False)
    rescore_job = serializers.SerializerMethodField(
        help_text="The rescore this change queued (on writes), else null.")

    class Meta:
        model = Rule
        fields = ["id", "name", "kind", "activity_kind", "category", "conditions", "points",
                  "max_times", "expires_after_days", "count", "window_days", "active",
                  "position", "created_at", "updated_at", "rescore_job"]
        read_only_fields = ["id", "created_at", "updated_at"]
        extra_kwargs = {"name": {"max_length": 200}}

    def get_rescore_job(self, rule) -> int | None:
        return self.context.get("rescore_job")

    def validate(self, attrs):
        if self.instance is not None:
            merged = {f: getattr(self.instance, f) for f in RULE_FIELDS}
            merged.update(attrs)
            if attrs.get("kind") == RuleKind.FIT and self.instance.kind != RuleKind.FIT:
                for field in ("activity_kind", "category", "max_times", "expires_after_days",
                              "count", "window_days"):
                    if field not in attrs:
                        merged[field] = "" if field == "activity_kind" else None
        else:
            merged = {"activity_kind": "", "category": None, "conditions": [],
                      "max_times": None, "expires_after_days": None, "count": None,
                      "window_days": None, "active": True, "position": 0, **attrs}
        if merged.get("kind") == RuleKind.BEHAVIOR and merged.get("category") is None \
                and "category" not in attrs:
            merged["category"] = default_category()
        problems = rule_problems(merged)
        if problems:
            raise serializers.ValidationError(problems)
        return {f: merged[f] for f in RULE_FIELDS if f in merged}


class CategorySerializer(serializers.ModelSerializer):
    key = serializers.SlugField(
        max_length=50, required=False,
        help_text="How thresholds and score_changed activities name it (lower-case "
                  "letters, digits and “_”; default: from the name). Never changes.")

    class Meta:
        model = ScoreCategory
        fields = ["id", "key", "name", "position"]
        read_only_fields = ["id", "position"]
        extra_kwargs = {"name": {"validators": []}}


@extend_schema_field({"type": "string", "pattern": "^[ABCDF]$",
                     "description": "A, B, C, D, F, or empty for any grade."})
class MinGradeField(serializers.ChoiceField):
    """A pattern in the schema, not an enum: the same choices as a lead's grade, whose
    enum already has a component name."""


class BandsSerializer(serializers.Serializer):
    """The lowest fit score of each grade; below D is F."""

    A = serializers.IntegerField(min_value=-1_000_000, max_value=1_000_000)
    B = serializers.IntegerField(min_value=-1_000_000, max_value=1_000_000)
    C = serializers.IntegerField(min_value=-1_000_000, max_value=1_000_000)
    D = serializers.IntegerField(min_value=-1_000_000, max_value=1_000_000)


class ScoringSettingsSerializer(serializers.Serializer):
    bands = BandsSerializer()
    mql_score = serializers.IntegerField(
        min_value=-1_000_000, max_value=1_000_000,
        help_text="A lead becomes an MQL at this score or more…")
    mql_min_grade = MinGradeField(
        choices=Grade.choices, allow_blank=True,
        help_text="…with this grade or better (empty: any grade)…")
    mql_category = serializers.SlugRelatedField(
        slug_field="key", queryset=ScoreCategory.objects.all(), allow_null=True,
        required=False, help_text="…and, if set, this category's subtotal…")
    mql_category_min = serializers.IntegerField(
        min_value=-1_000_000, max_value=1_000_000, allow_null=True, required=False,
        help_text="…at least this.")
    updated_at = serializers.DateTimeField(read_only=True)
    rescore_job = serializers.SerializerMethodField(
        help_text="The rescore this change queued (on writes), else null.")

    def get_rescore_job(self, obj) -> int | None:
        return self.context.get("rescore_job")

    def to_representation(self, instance: ScoringSettings):
        return {
            "bands": instance.bands,
            "mql_score": instance.mql_score,
            "mql_min_grade": instance.mql_min_grade,
            "mql_category": instance.mql_category.key if instance.mql_category_id else None,
            "mql_category_min": instance.mql_category_min,
            "updated_at": serializers.DateTimeField().to_representation(instance.updated_at),
            "rescore_job": self.context.get("rescore_job"),
        }

    def validate(self, attrs):
        current: ScoringSettings = self.instance
        values = {}
        if "bands" in attrs:
            for grade, value in attrs["bands"].items():
                values[f"grade_{grade.lower()}_min"] = value
        for field in ("mql_score", "mql_min_grade", "mql_category", "mql_category_min"):
            if field in attrs:
                values[field] = attrs[field]
        merged = {
            "grade_a_min": current.grade_a_min, "grade_b_min": current.grade_b_min,
            "grade_c_min": current.grade_c_min, "grade_d_min": current.grade_d_min,
            "mql_score": current.mql_score, "mql_min_grade": current.mql_min_grade,
            "mql_category": current.mql_category, "mql_category_min": current.mql_category_min,
            **values,
        }
        problems = settings_problems(merged)
        if problems:
            bands = [problems.pop(f"grade_{g}_min", None) for g in "abcd"]
            if any(bands):
                problems.setdefault("bands", []).extend(m for b in bands if b for m in b)
            raise serializers.ValidationError(problems)
        return values


class RescoreRequestSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=200, required=False, allow_blank=True,
                                   default="", help_text="Why (shown with the job).")


class RescoreJobSerializer(serializers.ModelSerializer):
    percent = serializers.FloatField(read_only=True)
    requested_by = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)
    rematch = serializers.ListField(
        child=serializers.IntegerField(), read_only=True, allow_null=True,
        help_text="The ids of the rules matched again (null: every rule, or not started).")
    scope = serializers.CharField(read_only=True)

    class Meta:
        model = RescoreJob
        fields = ["id", "status", "reason", "full", "rematch", "scope", "total", "done",
                  "percent", "scores_changed",
                  "grades_changed", "promoted", "error", "requested_by", "created_at",
                  "started_at", "finished_at"]
        read_only_fields = fields


# --- Breakdown ---------------------------------------------------------------------------


class ContributionLineSerializer(serializers.Serializer):
    activity = serializers.IntegerField(source="activity_id")
    activity_kind = serializers.CharField()
    occurred_at = serializers.DateTimeField()
    points = serializers.IntegerField()
    expires_at = serializers.DateTimeField(allow_null=True)
    expired = serializers.BooleanField()


class RuleLineSerializer(serializers.Serializer):
    rule = serializers.IntegerField(source="rule_id")
    name = serializers.CharField()
    category = serializers.CharField()
    category_name = serializers.CharField()
    points = serializers.IntegerField(help_text="What the rule adds to the score now.")
    times = serializers.IntegerField(help_text="Activities that earned points (also expired).")
    unearned = serializers.IntegerField(
        help_text="Matching activities that earned nothing: over_cap + short_of_count.")
    over_cap = serializers.IntegerField(
        help_text="Matches that fired the rule after it had earned max_times.")
    short_of_count = serializers.IntegerField(
        help_text="Count rules: matches that did not complete the count within the window.")
    deleted = serializers.BooleanField(
        help_text="The rule was deleted: the rescore that deletion queued takes its points "
                  "off.")
    contributions = ContributionLineSerializer(
        many=True, help_text="The activities that earned points, newest first (at most 50).")


class FitLineSerializer(serializers.Serializer):
    rule = serializers.IntegerField(source="rule_id")
    name = serializers.CharField()
    points = serializers.IntegerField()
    matched = serializers.BooleanField()


class CategoryLineSerializer(serializers.Serializer):
    key = serializers.CharField()
    name = serializers.CharField()
    points = serializers.IntegerField()


class BreakdownSerializer(serializers.Serializer):
    lead = serializers.IntegerField(source="lead_id")
    score = serializers.IntegerField()
    grade = serializers.ChoiceField(choices=Grade.choices, allow_blank=True)
    fit_score = serializers.IntegerField()
    qualified = serializers.BooleanField(help_text="Meets the MQL threshold now.")
    threshold = serializers.CharField()
    categories = CategoryLineSerializer(many=True)
    rules = RuleLineSerializer(many=True)
    fit = FitLineSerializer(many=True)

