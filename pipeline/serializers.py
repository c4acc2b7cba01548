"""JSON shapes of the /api/v1/ leads API. They validate input and render output only;
writes go through capture.services and pipeline.services (see pipeline/api.py)."""


from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from capture.models import Activity, Grade, Lead
from capture.services import EDITABLE_FIELDS, attributes_problem

# Postgres' integer column; SQLite would take more, so the limit is stated here, not
# derived from the database, and the schema is the same on both.
MAX_INT = 2_147_483_647


class AttributionSerializer(serializers.Serializer):
    """Where a lead came from, at its first or latest touch ("" where unknown)."""

    utm_source = serializers.CharField()
    utm_medium = serializers.CharField()
    utm_campaign = serializers.CharField()
    utm_term = serializers.CharField()
    utm_content = serializers.CharField()
    referrer = serializers.CharField()
    landing_url = serializers.CharField()


class LeadSerializer(serializers.ModelSerializer):
    """A lead. Changing `stage` or `owner` needs the work_pipeline permission (sales reps
    and admins); `score`, `grade`, `source` and the attribution are set by LeadHub."""

    # Validation only: the view hands stage and owner to pipeline.services and the rest
    # to capture.services (which also check, e.g. the email is not another lead's).
    owner = serializers.PrimaryKeyRelatedField(
        queryset=get_user_model().objects.filter(is_active=True),
        allow_null=True,
        required=False,
        help_text="The id of the user who owns the lead, or null.",
        error_messages={"does_not_exist": "No active user has the id {pk_value}."},
    )
    stage_reason = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        max_length=2000,
        help_text="Why the stage changes (needed for disqualifying and for MQL → lead).",
    )
    attributes = serializers.DictField(
        required=False, help_text="Custom attributes: an object of name → value."
    )
    # Declared so the schema says "" (not graded yet) is a value, as it is.
    grade = serializers.ChoiceField(choices=Grade.choices, allow_blank=True, read_only=True)
    first_touch = serializers.SerializerMethodField()
    last_touch = serializers.SerializerMethodField()

    class Meta:
        model = Lead
        fields = [
            "id",
            *EDITABLE_FIELDS,  # what capture.services lets callers set
            "consent_at",
            "stage",
            "stage_reason",
            "stage_changed_at",
            "owner",
            "score",
            "grade",
            "source",
            "first_touch",
            "last_touch",
            "unsubscribed_at",
            "last_activity_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "id",
            "consent_at",
            "stage_changed_at",
            "score",
            "grade",
            "source",
            "unsubscribed_at",
            "last_activity_at",
            "created_at",
            "updated_at",
        ]
        extra_kwargs = {"company_size": {"min_value": 0, "max_value": MAX_INT}}

    @extend_schema_field(AttributionSerializer)
    def get_first_touch(self, lead: Lead) -> dict[str, str]:
        return lead.attribution("first")

    @extend_schema_field(AttributionSerializer)
    def get_last_touch(self, lead: Lead) -> dict[str, str]:
        return lead.attribution("last")

    def validate_attributes(self, value: dict) -> dict:
        problem = attributes_problem(value)
        if problem:
            raise serializers.ValidationError(problem)
        return value


class ActivitySerializer(serializers.ModelSerializer):
    """One row of a lead's timeline. `data` depends on `kind`."""

    kind_label = serializers.CharField(read_only=True)
    actor = serializers.PrimaryKeyRelatedField(
        read_only=True,
        allow_null=True,
        help_text="The user who did it; null for visitors and the system.",
    )
    actor_name = serializers.SerializerMethodField()

    class Meta:
        model = Activity
        fields = ["id", "kind", "kind_label", "data", "actor", "actor_name", "occurred_at",
                  "created_at"]
        read_only_fields = fields

    def get_actor_name(self, activity: Activity) -> str:
        return activity.actor.display_name if activity.actor_id else ""


class ActivityQuerySerializer(serializers.Serializer):
    """Query parameters of the activities list."""

    kind = serializers.ListField(
        child=serializers.CharField(max_length=64),
        required=False,
        help_text="Only these kinds (repeat the parameter for several).",
    )

