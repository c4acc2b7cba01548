"""The /api/v1/ leads API: ``leads/`` and ``leads/<id>/activities/``.

Thin adapters: serializers validate, capture.services writes contact fields,
pipeline.services moves stage and owner, all of one request in one transaction.
Authentication, throttling and pagination come from settings.REST_FRAMEWORK.
"""

from django.db import transaction
from django.shortcuts import get_object_or_404
from django.urls import path
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import generics, status, viewsets
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.routers import SimpleRouter

from capture.models import Activity, Lead, Stage
from capture.services import lead_create, lead_delete, lead_update
from leadhub.api import (
    BAD_REQUEST,
    ERRORS_ALWAYS,
    ERRORS_WRITES,
    NOT_FOUND,
    JSONParser,
    has_capability,
)
from leadhub.converters import ID_PATTERN
from pipeline.selectors import (
    DEFAULT_LEAD_ORDERING,
    LEAD_ORDERINGS,
    PIPELINE_PERMISSION,
    LeadFilter,
    lead_timeline,
    move_refusal,
)
from pipeline.serializers import ActivityQuerySerializer, ActivitySerializer, LeadSerializer
from pipeline.services import lead_assign_owner, lead_change_stage


def _require_pipeline_permission(user, *, stage: bool, owner: bool, lead: Lead | None = None
                                 ) -> None:
    """403 unless ``user`` may make these changes (to ``lead``, when it exists already:
    the board's rule about other reps' leads holds here too)."""
    if not (stage or owner):
        return
    if not user.has_perm(PIPELINE_PERMISSION):
        what = " and ".join(name for name, asked in (("stage", stage), ("owner", owner))
                            if asked)
        raise PermissionDenied(
            f"Changing a lead's {what} needs the “{PIPELINE_PERMISSION}” permission "
            "(sales reps and admins)."
        )
    if lead is not None and (refusal := move_refusal(user, lead)):
        raise PermissionDenied(refusal)


STAGE_OWNER_RULES = (
    "Changing `stage` or `owner` needs the work_pipeline permission, and a sales rep may "
    "change them on another rep's lead only where the pipeline settings allow it (403 "
    "otherwise); a stage move the pipeline does not allow is a 400 on `stage`, and "
    "nothing is changed."
)


@extend_schema_view(
    list=extend_schema(
        summary="List leads",
        description=(
            "The leads you can see, with the leads list's filters, newest first unless "
            "`ordering` says otherwise. Follow `next`/`previous` to page."
        ),
        responses={
            200: LeadSerializer(many=True), 400: BAD_REQUEST, 404: NOT_FOUND, **ERRORS_ALWAYS
        },
    ),
    create=extend_schema(
        summary="Create a lead",
        description=(
            "Creates a lead with source `api`. Setting `stage` (other than `lead`) or "
            "`owner` needs the work_pipeline permission. An email that matches an existing "
            "lead's, ignoring case and surrounding spaces, is a 400."
        ),
        responses={201: LeadSerializer, 400: BAD_REQUEST, **ERRORS_WRITES},
    ),
    retrieve=extend_schema(
        summary="Get a lead",
        responses={200: LeadSerializer, 400: BAD_REQUEST, 404: NOT_FOUND, **ERRORS_ALWAYS},
    ),
    update=extend_schema(
        summary="Replace a lead's fields",
        description=STAGE_OWNER_RULES,
        responses={200: LeadSerializer, 400: BAD_REQUEST, 404: NOT_FOUND, **ERRORS_WRITES},
    ),
    partial_update=extend_schema(
        summary="Change some of a lead's fields",
        description=STAGE_OWNER_RULES,
        responses={200: LeadSerializer, 400: BAD_REQUEST, 404: NOT_FOUND, **ERRORS_WRITES},
    ),
    destroy=extend_schema(
        summary="Delete a lead and its timeline (admins)",
        responses={204: None, 400: BAD_REQUEST, 404: NOT_FOUND, **ERRORS_ALWAYS},
    ),
)
class LeadViewSet(viewsets.ModelViewSet):
    lookup_value_regex = ID_PATTERN
    serializer_class = LeadSerializer
    filterset_class = LeadFilter
    # Integrations send JSON; the form parsers would only make `attributes` ambiguous.
    parser_classes = [JSONParser]
    # Read by leadhub.api.KeysetPagination.
    orderings = LEAD_ORDERINGS
    default_ordering = DEFAULT_LEAD_ORDERING

    def get_queryset(self):
        # No select_related("owner"): the JSON carries only owner_id, which DRF's
        # primary-key field reads without loading the user (or its password hash).
        return Lead.objects.visible_to(self.request.user)

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        fields = dict(serializer.validated_data)
        stage = fields.pop("stage", Stage.LEAD)
        reason = fields.pop("stage_reason", "")
        owner = fields.pop("owner", None)
        _require_pipeline_permission(
            request.user, stage=stage != Stage.LEAD, owner=owner is not None
        )
        # One transaction: a refused stage move or owner leaves no lead behind.
        with transaction.atomic():
            lead = lead_create(actor=request.user, source="api", **fields)
            if stage != Stage.LEAD:
                lead_change_stage(lead=lead, to_stage=stage, actor=request.user, reason=reason)
            if owner is not None:
                lead_assign_owner(lead=lead, owner=owner, actor=request.user)
            lead.refresh_from_db()
        data = self.get_serializer(lead).data
        location = reverse("lead-detail", kwargs={"pk": lead.pk}, request=request)
        return Response(data, status=status.HTTP_201_CREATED, headers={"Location": location})

    def update(self, request, *args, **kwargs):
        partial = kwargs.pop("partial", False)
        instance = self.get_object()
        serializer = self.get_serializer(instance, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        fields = dict(serializer.validated_data)
        stage = fields.pop("stage", None)
        reason = fields.pop("stage_reason", "")
        owner_given = "owner" in fields
        owner = fields.pop("owner", None)
        with transaction.atomic():
            # Locked, so the old values lead_updated records and the "is this a change?"
            # checks below are those this request replaces, not a concurrent one's.
            lead = get_object_or_404(Lead.objects.select_for_update(), pk=instance.pk)
            moves_stage = stage is not None and stage != lead.stage
            moves_owner = owner_given and (owner.pk if owner else None) != lead.owner_id
            # A PUT that sends back the current stage and owner is not a pipeline move.
            _require_pipeline_permission(request.user, stage=moves_stage, owner=moves_owner,
                                         lead=lead)
            if fields:
                lead_update(lead=lead, actor=request.user, **fields)
            if moves_stage:
                lead_change_stage(lead=lead, to_stage=stage, actor=request.user, reason=reason)
            if moves_owner:
                lead_assign_owner(lead=lead, owner=owner, actor=request.user)
            lead.refresh_from_db()
        return Response(self.get_serializer(lead).data)

    def perform_destroy(self, instance):
        lead_delete(lead=instance)


@extend_schema(
    summary="A lead's activity timeline",
    description="Newest first. Follow `next`/`previous` to page.",
    parameters=[ActivityQuerySerializer],
    responses={
        200: ActivitySerializer(many=True), 400: BAD_REQUEST, 404: NOT_FOUND, **ERRORS_ALWAYS
    },
)
class LeadActivityList(generics.ListAPIView):
    serializer_class = ActivitySerializer
    # Activities are part of the lead: who may see the lead may read its timeline.
    permission_classes = [has_capability("capture.view_lead")]
    filter_backends = []  # ?kind= is read by ActivityQuerySerializer
    queryset = Activity.objects.none()  # for schema introspection; get_queryset scopes
    orderings = {"-occurred_at": ("-occurred_at", "-id")}
    default_ordering = "-occurred_at"

    def get_queryset(self):
        lead = get_object_or_404(
            Lead.objects.visible_to(self.request.user), pk=self.kwargs["lead_id"]
        )
        query = ActivityQuerySerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        return lead_timeline(lead, kinds=query.validated_data.get("kind"))


router = SimpleRouter()
router.register("leads", LeadViewSet, basename="lead")

urlpatterns = [
    *router.urls,
    path(
        "leads/<id:lead_id>/activities/",
        LeadActivityList.as_view(),
        name="lead-activities",
    ),
]
