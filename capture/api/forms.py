"""/api/v1/forms/ and /api/v1/forms/<id>/: forms and their fields, for integrations.

Reading takes what reading leads takes (marketers, reps, admins); writing takes
leadhub.manage_forms (marketers and admins). Serializers check the JSON's shape;
capture.services.forms checks the rules and writes. A form's submissions are at
/api/v1/forms/<id>/submissions/ (capture/api/submissions.py).
"""

from typing import Any

import django_filters
from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.db.models import Prefetch
from django.urls import path, reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import generics, serializers, status
from rest_framework.response import Response

from capture.models import DisposablePolicy, FieldType, Form, FormField, FormStatus
from capture.services import (
    form_create,
    form_delete,
    form_status_set,
    form_update,
)
from capture.services.forms import (
    MAX_FIELDS,
    MAX_MIN_SECONDS,
    MAX_NOTIFY_EMAILS,
    MAX_OPTION_LENGTH,
    MAX_OPTIONS,
    MAX_ORIGINS,
    MAX_TEXT,
)
from leadhub.api import (
    ERRORS_ALWAYS,
    ERRORS_WRITES,
    NOT_FOUND,
    JSONParser,
    nested_errors_response,
    read_write_permission,
)

MANAGE_FORMS = "leadhub.manage_forms"

FORM_ERRORS = nested_errors_response(
    ('Messages per setting, e.g. {"redirect_url": ["…"]}; for fields, per field '
     'index and attribute, e.g. {"fields": {"3": {"options": ["…"]}}} (and '
     '{"fields": {"non_field_errors": ["…"]}} about the list as a whole); '
     '"detail" for unreadable JSON.'),
    "Invalid input, per setting and per field.",
)


# Read: capture.view_lead. Write: that and leadhub.manage_forms.
FormPermission = read_write_permission(
    MANAGE_FORMS, "Changing forms needs the “manage forms” permission (marketers and admins).")


class NullableURLField(serializers.CharField):
    """A URL or null (stored as ""); "" comes back as null."""

    def to_representation(self, value):
        return value or None


class FormFieldSpecSerializer(serializers.Serializer):
    """One field of a form, in the order visitors see it."""

    name = serializers.CharField(
        max_length=64, help_text="The input's name in posts: letters, digits, _ and -."
    )
    type = serializers.ChoiceField(choices=FieldType.choices, required=False,
                                   help_text="Default: text.")
    label = serializers.CharField(max_length=200, required=False, allow_blank=True)
    placeholder = serializers.CharField(max_length=200, required=False, allow_blank=True)
    help_text = serializers.CharField(max_length=500, required=False, allow_blank=True)
    required = serializers.BooleanField(
        required=False, help_text="Default: false (true, and always, for the email field)."
    )
    default = serializers.CharField(max_length=500, required=False, allow_blank=True)
    options = serializers.ListField(
        child=serializers.CharField(max_length=MAX_OPTION_LENGTH, allow_blank=True,
                                    trim_whitespace=False),
        max_length=MAX_OPTIONS,
        required=False,
        help_text="The choices of select, multiselect and checkboxes fields.",
    )
    maps_to = serializers.CharField(
        max_length=110,
        required=False,
        allow_blank=True,
        allow_null=True,
        help_text='A lead field (email, first_name, company, …), "attributes.<name>" '
        'for a custom attribute, or "" / null to keep the value on the submission only.',
    )


class FormSerializer(serializers.ModelSerializer):
    """A form with its settings and fields. Setting `fields` replaces the whole list (in
    that order); every form keeps exactly one email field, required, filling the lead's
    email."""

    fields = FormFieldSpecSerializer(many=True, required=False, max_length=MAX_FIELDS)
    status = serializers.ChoiceField(choices=FormStatus.choices, required=False,
                                     help_text="Default: draft.")
    redirect_url = NullableURLField(
        max_length=2000, required=False, allow_blank=True, allow_null=True,
        help_text="An https URL on one of the allowed origins' hosts, or null for the "
        "thank-you message.",
    )
    allowed_origins = serializers.ListField(
        child=serializers.CharField(max_length=300), max_length=MAX_ORIGINS, required=False,
        help_text="Origins (scheme://host[:port]) whose pages may post the form.",
    )
    notify_emails = serializers.ListField(
        child=serializers.CharField(max_length=254), max_length=MAX_NOTIFY_EMAILS,
        required=False,
    )
    thank_you_message = serializers.CharField(max_length=MAX_TEXT, required=False,
                                              allow_blank=True)
    consent_text = serializers.CharField(max_length=MAX_TEXT, required=False, allow_blank=True)
    max_fields = serializers.IntegerField(min_value=1, max_value=MAX_FIELDS, required=False,
                                          allow_null=True)
    min_seconds = serializers.IntegerField(min_value=0, max_value=MAX_MIN_SECONDS,
                                           required=False)
    disposable_emails = serializers.ChoiceField(choices=DisposablePolicy.choices,
                                                required=False)
    hosted_url = serializers.SerializerMethodField(
        help_text="The form's own page; plain HTML forms post here too."
    )

    class Meta:
        model = Form
        fields = [
     "id", "key", "name", "status", "thank_you_message", "redirect_url",
     "allowed_origins", "consent_text", "consent_version", "double_opt_in",
     "notify_emails", "progressive_profiling", "max_fields", "disposable_emails",
     "proof_of_work", "min_seconds", "fields", "hosted_url", "created_at",
     "updated_at",
        ]
        read_only_fields = ["id", "key", "consent_version", "created_at", "updated_at"]

    def get_hosted_url(self, form: Form) -> str:
        return f"{settings.PUBLIC_URL}{reverse('capture-public:form_post', args=[form.key])}"


def _settings(data: dict[str, Any]) -> dict[str, Any]:
    data = dict(data)
    data.pop("status", None)
    data.pop("fields", None)
    if "redirect_url" in data and data["redirect_url"] is None:
        data["redirect_url"] = ""
    return data


def _field_specs(fields: list[dict] | None) -> list[dict] | None:
    if fields is None:
        return None
    return [dict(field) for field in fields]


def _nested_errors(detail: Any) -> Any:
    """DRF's errors, with the fields' list errors keyed by index like the services'."""
    if isinstance(detail, dict) and isinstance(detail.get("fields"), list):
        detail = dict(detail)
        detail["fields"] = {str(i): e for i, e in enumerate(detail["fields"]) if e}
    return detail


def _service_errors(exc: DjangoValidationError) -> dict[str, Any]:
    """The services' ValidationError (keys like "fields.3.options") as nested JSON."""
    if not hasattr(exc, "error_dict"):
        return {"non_field_errors": exc.messages}
    result: dict[str, Any] = {}
    for key, errors in exc.error_dict.items():
        messages = DjangoValidationError(errors).messages
        parts = key.split(".")
        if parts[0] == "fields" and len(parts) == 3:
            result.setdefault("fields", {}).setdefault(parts[1], {})[parts[2]] = messages
        elif parts[0] == "fields" and len(parts) == 2:
            result.setdefault("fields", {})[parts[1]] = {"non_field_errors": messages}
        elif key == "fields":
            result.setdefault("fields", {})["non_field_errors"] = messages
        elif key == "__all__":
            result["non_field_errors"] = messages
        else:
            result[key] = messages
    return result


class FormFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=FormStatus.choices)

    class Meta:
        model = Form
        fields = ["status"]


class FormAPIMixin:
    serializer_class = FormSerializer
    permission_classes = [FormPermission]
    parser_classes = [JSONParser]

    def get_queryset(self):
        return Form.objects.prefetch_related(
            Prefetch("fields", queryset=FormField.objects.order_by("position", "id"))
        )

    def _valid(self, serializer) -> Response | None:
        if serializer.is_valid():
            return None
        return Response(_nested_errors(serializer.errors), status=status.HTTP_400_BAD_REQUEST)

    def _fresh(self, form: Form) -> Form:
        return self.get_queryset().get(pk=form.pk)


@extend_schema_view(
    get=extend_schema(
        summary="List forms",
        description="Newest first unless `ordering` says otherwise; `?status=` to choose.",
        responses={200: FormSerializer(many=True), 400: FORM_ERRORS, 404: NOT_FOUND,
                   **ERRORS_ALWAYS},
    ),
    post=extend_schema(
        summary="Create a form",
        description=(
     "Takes the settings and the ordered `fields`; without `fields`, the form "
     "gets just its email field. `status: live` publishes it at once. Answers "
     "with the form, including the `key` websites post to at "
     "/api/v1/forms/<key>/submissions/ and /f/<key>/."
        ),
        responses={201: FormSerializer, 400: FORM_ERRORS, **ERRORS_WRITES},
    ),
)
class FormListCreate(FormAPIMixin, generics.ListCreateAPIView):
    filterset_class = FormFilter
    orderings = {
        "-created_at": ("-created_at", "-id"),
        "created_at": ("created_at", "id"),
        "name": ("name", "id"),
    }
    default_ordering = "-created_at"

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        if (invalid := self._valid(serializer)) is not None:
            return invalid
        data = serializer.validated_data
        try:
            form = form_create(
                actor=request.user,
                status=data.get("status", FormStatus.DRAFT),
                fields=_field_specs(data.get("fields")),
                **_settings(data),
            )
        except DjangoValidationError as exc:
            return Response(_service_errors(exc), status=status.HTTP_400_BAD_REQUEST)
        location = reverse("form-detail", kwargs={"pk": form.pk})
        return Response(self.get_serializer(self._fresh(form)).data,
                        status=status.HTTP_201_CREATED,
                        headers={"Location": request.build_absolute_uri(location)})


FORM_UPDATE_RULES = (
    "Settings not sent keep their values. `fields`, when sent, replaces the whole list "
    "(fields keep their identity by name). A `status` change publishes, unpublishes or "
    "archives the form after the other changes are saved."
)


@extend_schema_view(
    get=extend_schema(
        summary="Get a form",
        responses={200: FormSerializer, 404: NOT_FOUND, **ERRORS_ALWAYS},
    ),
    put=extend_schema(
        summary="Change a form",
        description=FORM_UPDATE_RULES,
        responses={200: FormSerializer, 400: FORM_ERRORS, 404: NOT_FOUND, **ERRORS_WRITES},
    ),
    patch=extend_schema(
        summary="Change some of a form's settings",
        description=FORM_UPDATE_RULES,
        responses={200: FormSerializer, 400: FORM_ERRORS, 404: NOT_FOUND, **ERRORS_WRITES},
    ),
    delete=extend_schema(
        summary="Delete a form (or archive it)",
        description=(
     "A form nothing refers to is deleted (204). A form with submissions, or used "
     "by a landing page, is archived instead and returned (200): submissions keep "
     "their form."
        ),
        responses={
            200: OpenApiResponse(FormSerializer, description="Archived, not deleted."),
            204: OpenApiResponse(description="Deleted."),
            404: NOT_FOUND,
            **ERRORS_ALWAYS,
        },
    ),
)
class FormDetail(FormAPIMixin, generics.RetrieveUpdateDestroyAPIView):
    def update(self, request, *args, **kwargs):
        partial = kwargs.pop("partial", False)
        form = self.get_object()
        serializer = self.get_serializer(form, data=request.data, partial=partial)
        if (invalid := self._valid(serializer)) is not None:
            return invalid
        data = serializer.validated_data
        try:
            with transaction.atomic():  # a refused status change keeps the rest unsaved too
                form_update(form=form, fields=_field_specs(data.get("fields")),
                            **_settings(data))
                if "status" in data:
                    form_status_set(form=form, status=data["status"])
        except DjangoValidationError as exc:
            return Response(_service_errors(exc), status=status.HTTP_400_BAD_REQUEST)
        return Response(self.get_serializer(self._fresh(form)).data)

    def destroy(self, request, *args, **kwargs):
        form = self.get_object()
        if form_delete(form=form) == "deleted":
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(self.get_serializer(self._fresh(form)).data)


urlpatterns = [
    path("forms/", FormListCreate.as_view(), name="form-list"),
    path("forms/<id:pk>/", FormDetail.as_view(), name="form-detail"),
]
