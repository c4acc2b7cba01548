"""The JSON shapes of nurture's API. Serializers check the shape; nurture.services checks
the rules (merge-field templates, forms that exist, …) and writes."""

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from capture.models import Grade, Stage
from nurture.models import (
    EmailMessage,
    Enrollment,
    Reenrollment,
    Sequence,
    SequenceStatus,
    TriggerType,
)
from nurture.services.sequences import MAX_BODY, MAX_DELAY_MINUTES, MAX_STEPS, MAX_TRIGGERS

_datetime = serializers.DateTimeField()


def _when(value) -> str | None:
    return _datetime.to_representation(value) if value else None


# Inline in the schema: a named enum component would collide with forms' field "type".
@extend_schema_field({"type": "string", "enum": TriggerType.values})
class TriggerTypeField(serializers.ChoiceField):
    def __init__(self, **kwargs):
        super().__init__(choices=TriggerType.choices, **kwargs)


class TriggerSerializer(serializers.Serializer):
    """How leads get in. The other keys depend on `type`: `form` (form_submitted; null
    or absent: any form), `page` (lead_magnet), `event` (custom_event), `grade`
    (grade_reached), `score` (score_reached), `stage` (stage_entered), `segment`
    (segment: the saved segment's id; leads that come to match it after the sequence is
    live are enrolled, those already in it then are not). `mql_rejected` (an MQL sent
    back to lead) and `manual` / `api` take nothing else."""

    type = TriggerTypeField()
    form = serializers.IntegerField(required=False, allow_null=True)
    page = serializers.IntegerField(required=False, allow_null=True)
    event = serializers.CharField(max_length=64, required=False)
    grade = serializers.ChoiceField(choices=Grade.choices, required=False)
    score = serializers.IntegerField(required=False, min_value=-1_000_000,
                                     max_value=1_000_000)
    stage = serializers.ChoiceField(choices=Stage.choices, required=False)
    segment = serializers.IntegerField(required=False, allow_null=True, min_value=1,
                                       max_value=2**63 - 1,
                                       help_text="segment triggers: the saved segment's id.")


class StepSerializer(serializers.Serializer):
    """One email, in order. `body` is Markdown; subject, preheader and body may use merge
    fields such as {{ first_name|default:"there" }} (nurture/merge.py). On a change, send
    a step's `id` back to keep that step (and who was sent it) wherever it now is in the
    list; a step without `id` is new (unless an existing step left out has the same
    subject and body); steps left out are deleted."""

    id = serializers.IntegerField(
        required=False, allow_null=True,
        help_text="The step's id, as read. On create: ignored. On change: the existing "
        "step this item is; absent or null: a new step.")
    position = serializers.IntegerField(read_only=True)
    subject = serializers.CharField(max_length=200)
    preheader = serializers.CharField(max_length=200, required=False, allow_blank=True)
    body = serializers.CharField(max_length=MAX_BODY, trim_whitespace=False)
    delay_minutes = serializers.IntegerField(min_value=0, max_value=MAX_DELAY_MINUTES,
                                             required=False, help_text="After the previous "
                                             "step (the first: after enrolment). Default 0.")
    send_days = serializers.ListField(
        child=serializers.IntegerField(min_value=0, max_value=6), max_length=7,
        required=False, help_text="Weekdays it may go out, 0 = Monday; empty: any day.")
    send_hour_start = serializers.IntegerField(min_value=0, max_value=23, required=False,
                                               allow_null=True)
    send_hour_end = serializers.IntegerField(min_value=1, max_value=24, required=False,
                                             allow_null=True,
                                             help_text="Exclusive, in the account's time zone "
                                             "(the sending settings').")


class SequenceSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(max_length=200)
    status = serializers.ChoiceField(choices=SequenceStatus.choices, required=False,
                                     help_text="Default: draft.")
    reenrollment = serializers.ChoiceField(choices=Reenrollment.choices, required=False,
                                           help_text="Default: never.")
    exit_on_stage = serializers.ChoiceField(
        choices=Stage.choices, required=False, allow_null=True, allow_blank=True,
        help_text="Leads leave the sequence on reaching this stage or later (default sql; "
        "null: never).")
    goal_kind = serializers.CharField(max_length=64, required=False, allow_blank=True,
                                      help_text="An activity kind that ends the sequence.")
    tracking = serializers.BooleanField(required=False, help_text="Open and click tracking.")
    triggers = TriggerSerializer(many=True, required=False, max_length=MAX_TRIGGERS)
    steps = StepSerializer(many=True, required=False, max_length=MAX_STEPS)
    stats = serializers.DictField(read_only=True, child=serializers.IntegerField())
    created_at = serializers.DateTimeField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)

    def to_representation(self, sequence: Sequence) -> dict[str, Any]:
        return {
            "id": sequence.pk,
            "name": sequence.name,
            "status": sequence.status,
            "reenrollment": sequence.reenrollment,
            "exit_on_stage": sequence.exit_on_stage or None,
            "goal_kind": sequence.goal_kind,
            "tracking": sequence.tracking,
            "triggers": [
                {"type": t.type, **({"form": t.form_id} if t.type == "form_submitted" else {}),
                 **({"segment": t.segment_id} if t.type == TriggerType.SEGMENT else {}),
                 **(t.params or {})}
                for t in sequence.triggers.all()
            ],
            "steps": [
                {"id": s.pk, "position": s.position, "subject": s.subject,
                 "preheader": s.preheader, "body": s.body, "delay_minutes": s.delay_minutes,
                 "send_days": s.send_days, "send_hour_start": s.send_hour_start,
                 "send_hour_end": s.send_hour_end}
                for s in sequence.steps.all()
            ],
            "stats": getattr(sequence, "stats", {}),
            "created_at": _when(sequence.created_at),
            "updated_at": _when(sequence.updated_at),
        }


class EnrollmentCreateSerializer(serializers.Serializer):
    lead = serializers.IntegerField(help_text="The lead's id.")


class EnrollmentSerializer(serializers.ModelSerializer):
    next_step = serializers.IntegerField(source="next_step.position", read_only=True,
                                         allow_null=True, default=None,
                                         help_text="Position of the next step, if any.")

    class Meta:
        model = Enrollment
        fields = ["id", "sequence", "lead", "state", "exit_reason", "source", "next_step",
                  "next_due_at", "enrolled_at", "finished_at"]
        read_only_fields = fields


class EmailMessageSerializer(serializers.ModelSerializer):
    step = serializers.IntegerField(source="step.position", read_only=True, allow_null=True,
                                    default=None, help_text="The step's position.")
    sequence_name = serializers.CharField(source="sequence.name", read_only=True)

    class Meta:
        model = EmailMessage
        fields = ["id", "sequence", "sequence_name", "enrollment", "step", "to_email",
                  "subject", "status", "error", "attempts", "created_at", "sent_at",
                  "failed_at", "opened_at", "clicked_at"]
        read_only_fields = fields
