"""/api/v1/sequences/…: drip sequences and their enrollments; /api/v1/leads/<id>/emails/:
what nurture sent a lead.

Anyone who reads leads may read sequences and enrollments; creating, changing, deleting
and enrolling take leadhub.manage_nurture (marketers and admins; others get 403). A
lead's emails take what reading the lead takes. Serializers check the
JSON's shape; nurture.services checks the rules and writes.
"""

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Count, Prefetch, Q
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import generics, permissions, status
from rest_framework.response import Response

from capture.models import Lead
from leadhub.api import (
    BAD_REQUEST,
    ERRORS_ALWAYS,
    ERRORS_WRITES,
    NOT_FOUND,
    JSONParser,
    nested_errors_response,
    read_write_permission,
)
from nurture.models import (
    EmailMessage,
    Enrollment,
    EnrollmentState,
    MessageStatus,
    Sequence,
    SequenceStatus,
    Step,
    TriggerType,
)
from nurture.serializers import (
    EmailMessageSerializer,
    EnrollmentCreateSerializer,
    EnrollmentSerializer,
    SequenceSerializer,
)
from nurture.services import enrollment_create, enrollment_exit
from nurture.services.sequences import sequence_create, sequence_delete, sequence_update

MANAGE_NURTURE = "leadhub.manage_nurture"

SEQUENCE_ERRORS = nested_errors_response(
    ('Messages per setting, e.g. {"name": ["…"]}; for steps and triggers, per '
     'index and field, e.g. {"steps": {"1": {"body": ["…"]}}}; "detail" for '
     "unreadable JSON."),
    "Invalid input, per setting, step and trigger.",
)


# Read: anyone who reads leads (as forms and rules). Write: marketers and admins.
ManageNurture = read_write_permission(
    MANAGE_NURTURE,
    "Changing sequences needs the “manage nurture” permission (marketers and admins).",
)


class ReadLeads(permissions.BasePermission):
    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.has_perm("capture.view_lead"))


def _list_errors(detail: Any) -> Any:
    """DRF's errors, with list errors keyed by index like the services'."""
    if isinstance(detail, dict):
        detail = dict(detail)
        for name in ("steps", "triggers"):
            if isinstance(detail.get(name), list):
                detail[name] = {str(i): e for i, e in enumerate(detail[name]) if e}
    return detail


def _service_errors(exc: DjangoValidationError) -> dict[str, Any]:
    """The services' keys ("steps.3.body") as nested JSON."""
    if not hasattr(exc, "error_dict"):
        return {"non_field_errors": exc.messages}
    result: dict[str, Any] = {}
    for key, errors in exc.error_dict.items():
        messages = DjangoValidationError(errors).messages
        parts = key.split(".")
        if parts[0] in ("steps", "triggers") and len(parts) == 3:
            result.setdefault(parts[0], {}).setdefault(parts[1], {})[parts[2]] = messages
        elif parts[0] in ("steps", "triggers") and len(parts) == 2:
            result.setdefault(parts[0], {})[parts[1]] = {"non_field_errors": messages}
        elif key in ("steps", "triggers"):
            result.setdefault(key, {})["non_field_errors"] = messages
        elif key == "__all__":
            result["non_field_errors"] = messages
        else:
            result[key] = messages
    return result


def _values(data: dict[str, Any]) -> dict[str, Any]:
    values = dict(data)
    if "exit_on_stage" in values and values["exit_on_stage"] is None:
        values["exit_on_stage"] = ""
    for name in ("triggers", "steps"):
        if name in values:
            values[name] = [dict(item) for item in values[name]]
    return values


def _with_stats(queryset):
    return queryset.annotate(
        n_enrolled=Count("enrollments", distinct=True),
        n_active=Count("enrollments", filter=Q(enrollments__state=EnrollmentState.ACTIVE),
                       distinct=True),
        n_completed=Count("enrollments",
                          filter=Q(enrollments__state=EnrollmentState.COMPLETED),
                          distinct=True),
        n_exited=Count("enrollments", filter=Q(enrollments__state=EnrollmentState.EXITED),
                       distinct=True),
    )


class SequenceAPIMixin:
    serializer_class = SequenceSerializer
    permission_classes = [ManageNurture]
    parser_classes = [JSONParser]
    orderings = {
        "-created_at": ("-created_at", "-id"),
        "created_at": ("created_at", "id"),
        "name": ("name", "id"),
    }
    default_ordering = "-created_at"

    def get_queryset(self):
        return Sequence.objects.prefetch_related(
     "triggers", Prefetch("steps", queryset=Step.objects.order_by("position"))
        )

    def _stats(self, sequences: list[Sequence]) -> list[Sequence]:
        ids = [s.pk for s in sequences]
        counts = {row["pk"]: row for row in _with_stats(Sequence.objects.filter(pk__in=ids))
                  .values("pk", "n_enrolled", "n_active", "n_completed", "n_exited")}
        emails = {row["sequence_id"]: row for row in (
            EmailMessage.objects.filter(sequence_id__in=ids, status=MessageStatus.SENT)
            .order_by().values("sequence_id")
            .annotate(sent=Count("id"), opened=Count("opened_at"), clicked=Count("clicked_at"))
        )}
        for sequence in sequences:
            row = counts.get(sequence.pk, {})
            sequence.stats = {
                "enrolled": row.get("n_enrolled", 0), "active": row.get("n_active", 0),
                "completed": row.get("n_completed", 0), "exited": row.get("n_exited", 0),
                **{k: emails.get(sequence.pk, {}).get(k, 0)
                   for k in ("sent", "opened", "clicked")},
            }
        return sequences

    def _respond(self, sequence: Sequence, code=status.HTTP_200_OK, headers=None):
        sequence = self._stats([self.get_queryset().get(pk=sequence.pk)])[0]
        return Response(self.get_serializer(sequence).data, status=code, headers=headers)


SEQUENCE_UPDATE_RULES = (
    "Settings not sent keep their values. `triggers` and `steps`, when sent, replace the "
    "whole list. A step sent with its `id` keeps its identity (who was sent it) at its "
    "new place; a step without `id` is new, unless an existing step left out has the same "
    "subject and body; steps left out are deleted. Enrolled leads go on with the first "
    "step, in the new order, after the last one they were sent: an edit never sends a "
    "lead a step again and never skips one that follows."
)


@extend_schema_view(
    get=extend_schema(summary="List sequences",
                      responses={200: SequenceSerializer(many=True), 400: BAD_REQUEST,
                                 404: NOT_FOUND,
                                 **ERRORS_ALWAYS}),
    post=extend_schema(
        summary="Create a sequence",
        description="Takes the settings, `triggers` and ordered `steps`. Templates with "
        "anything but merge fields are refused (400), with the reason per step.",
        responses={201: SequenceSerializer, 400: SEQUENCE_ERRORS, **ERRORS_WRITES},
    ),
)
class SequenceListCreate(SequenceAPIMixin, generics.ListCreateAPIView):
    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(self.get_serializer(self._stats(page), many=True).data)

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        if not serializer.is_valid():
            return Response(_list_errors(serializer.errors), status=status.HTTP_400_BAD_REQUEST)
        values = _values(serializer.validated_data)
        values.setdefault("status", SequenceStatus.DRAFT)
        try:
            sequence = sequence_create(**values)
        except DjangoValidationError as exc:
            return Response(_service_errors(exc), status=status.HTTP_400_BAD_REQUEST)
        location = request.build_absolute_uri(reverse("sequence-detail", args=[sequence.pk]))
        return self._respond(sequence, status.HTTP_201_CREATED, {"Location": location})


@extend_schema_view(
    get=extend_schema(summary="Get a sequence",
                      responses={200: SequenceSerializer, 404: NOT_FOUND, **ERRORS_ALWAYS}),
    put=extend_schema(summary="Change a sequence", description=SEQUENCE_UPDATE_RULES,
                      responses={200: SequenceSerializer, 400: SEQUENCE_ERRORS, 404: NOT_FOUND,
                                 **ERRORS_WRITES}),
    patch=extend_schema(summary="Change some of a sequence", description=SEQUENCE_UPDATE_RULES,
                        responses={200: SequenceSerializer, 400: SEQUENCE_ERRORS,
                                   404: NOT_FOUND, **ERRORS_WRITES}),
    delete=extend_schema(summary="Delete a sequence, its enrollments and its email records",
                         responses={204: OpenApiResponse(description="Deleted."),
                                    404: NOT_FOUND, **ERRORS_ALWAYS}),
)
class SequenceDetail(SequenceAPIMixin, generics.RetrieveUpdateDestroyAPIView):
    def retrieve(self, request, *args, **kwargs):
        return self._respond(self.get_object())

    def update(self, request, *args, **kwargs):
        partial = kwargs.pop("partial", False)
        sequence = self.get_object()
        serializer = self.get_serializer(sequence, data=request.data, partial=partial)
        if not serializer.is_valid():
            return Response(_list_errors(serializer.errors), status=status.HTTP_400_BAD_REQUEST)
        try:
            sequence_update(sequence=sequence, **_values(serializer.validated_data))
        except DjangoValidationError as exc:
            return Response(_service_errors(exc), status=status.HTTP_400_BAD_REQUEST)
        return self._respond(sequence)

    def destroy(self, request, *args, **kwargs):
        sequence_delete(sequence=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema_view(
    get=extend_schema(summary="List a sequence's enrollments",
                      description="Newest first; `?state=active|completed|exited`.",
                      responses={200: EnrollmentSerializer(many=True), 400: BAD_REQUEST,
                                 404: NOT_FOUND,
                                 **ERRORS_ALWAYS}),
    post=extend_schema(
        summary="Enroll a lead by hand",
        request=EnrollmentCreateSerializer,
        description="400 when the lead may not be enrolled (already in it, unsubscribed, "
        "suppressed, past the exit stage, a draft sequence), with the reason.",
        responses={201: EnrollmentSerializer, 400: SEQUENCE_ERRORS, 404: NOT_FOUND,
                   **ERRORS_WRITES},
    ),
)
class EnrollmentListCreate(generics.ListCreateAPIView):
    serializer_class = EnrollmentSerializer
    permission_classes = [ManageNurture]
    parser_classes = [JSONParser]
    orderings = {"-enrolled_at": ("-enrolled_at", "-id")}

    def _sequence(self) -> Sequence:
        return get_object_or_404(Sequence, pk=self.kwargs["pk"])

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # drf-spectacular reading the model
            return Enrollment.objects.none()
        qs = Enrollment.objects.filter(sequence=self._sequence()).select_related("next_step")
        state = self.request.query_params.get("state")
        if state:
            qs = qs.filter(state=state) if state in EnrollmentState.values else qs.none()
        return qs

    def create(self, request, *args, **kwargs):
        sequence = self._sequence()
        serializer = EnrollmentCreateSerializer(data=request.data)
        if not serializer.is_valid():
            return Response(serializer.errors, status=status.HTTP_400_BAD_REQUEST)
        lead = Lead.objects.visible_to(request.user).filter(
            pk=serializer.validated_data["lead"]).first()
        if lead is None:
            return Response({"lead": ["No lead with this id."]},
                            status=status.HTTP_400_BAD_REQUEST)
        try:
            enrollment = enrollment_create(sequence=sequence, lead=lead,
                                           source=TriggerType.API, actor=request.user)
        except DjangoValidationError as exc:
            return Response(_service_errors(exc), status=status.HTTP_400_BAD_REQUEST)
        return Response(EnrollmentSerializer(enrollment).data, status=status.HTTP_201_CREATED)


@extend_schema_view(
    get=extend_schema(summary="Get an enrollment",
                      responses={200: EnrollmentSerializer, 404: NOT_FOUND, **ERRORS_ALWAYS}),
    delete=extend_schema(summary="Remove the lead from the sequence (exit by hand)",
                         responses={200: EnrollmentSerializer, 404: NOT_FOUND,
                                    **ERRORS_ALWAYS}),
)
class EnrollmentDetail(generics.RetrieveDestroyAPIView):
    serializer_class = EnrollmentSerializer
    permission_classes = [ManageNurture]

    def get_object(self):
        return get_object_or_404(
            Enrollment.objects.select_related("lead", "next_step"),
            pk=self.kwargs["enrollment_id"], sequence_id=self.kwargs["pk"],
        )

    def destroy(self, request, *args, **kwargs):
        enrollment = self.get_object()
        enrollment_exit(enrollment=enrollment, reason="removed by hand", actor=request.user)
        enrollment.refresh_from_db()
        return Response(EnrollmentSerializer(enrollment).data)


@extend_schema_view(
    get=extend_schema(summary="Emails nurture sent (or queued) to a lead",
                      description="Newest first, with their status and opens and clicks.",
                      responses={200: EmailMessageSerializer(many=True), 400: BAD_REQUEST,
                                 404: NOT_FOUND,
                                 **ERRORS_ALWAYS}),
)
class LeadEmailList(generics.ListAPIView):
    serializer_class = EmailMessageSerializer
    permission_classes = [ReadLeads]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # drf-spectacular reading the model
            return EmailMessage.objects.none()
        lead = get_object_or_404(Lead.objects.visible_to(self.request.user),
                                 pk=self.kwargs["lead_id"])
        return EmailMessage.objects.filter(lead=lead).select_related("step", "sequence")


urlpatterns = [
    path("sequences/", SequenceListCreate.as_view(), name="sequence-list"),
    path("sequences/<id:pk>/", SequenceDetail.as_view(), name="sequence-detail"),
    path("sequences/<id:pk>/enrollments/", EnrollmentListCreate.as_view(),
         name="sequence-enrollments"),
    path("sequences/<id:pk>/enrollments/<id:enrollment_id>/", EnrollmentDetail.as_view(),
         name="sequence-enrollment-detail"),
    path("leads/<id:lead_id>/emails/", LeadEmailList.as_view(), name="lead-emails"),
]
