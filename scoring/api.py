"""The scoring API: ``scoring/rules/`` (CRUD), ``scoring/categories/``,
``scoring/settings/`` (grade bands and the MQL threshold), ``scoring/rescore/`` (recent
rescores; start one; follow its progress) and ``leads/<id>/score/`` (a lead's breakdown).

Marketers and admins (``leadhub.manage_scoring``) change rules and settings; anyone who
may see leads (sales reps too) reads them; users without a role get 403. Thin adapters:
serializers validate, scoring.services writes, scoring.selectors reads.
"""

import django_filters
from django.db import transaction
from django.shortcuts import get_object_or_404
from django.urls import path
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import generics, status, viewsets
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.routers import SimpleRouter
from rest_framework.views import APIView

from capture.models import Lead
from leadhub.api import (
    BAD_REQUEST,
    ERRORS_ALWAYS,
    ERRORS_WRITES,
    NOT_FOUND,
    JSONParser,
    has_capability,
    read_write_permission,
)
from leadhub.converters import ID_PATTERN
from scoring import selectors, services
from scoring.models import RescoreJob, Rule, RuleKind, ScoreCategory, ScoringSettings
from scoring.serializers import (
    BreakdownSerializer,
    CategorySerializer,
    RescoreJobSerializer,
    RescoreRequestSerializer,
    RuleSerializer,
    ScoringSettingsSerializer,
)

MANAGE = "leadhub.manage_scoring"
READ = "capture.view_lead"


# Reading: whoever may see leads. Writing: leadhub.manage_scoring.
ScoringPermission = read_write_permission(
    MANAGE, "Changing scoring needs the “leadhub.manage_scoring” permission (marketers, admins).",
    read_perm=READ)


class RuleFilter(django_filters.FilterSet):
    kind = django_filters.ChoiceFilter(choices=RuleKind.choices)
    active = django_filters.BooleanFilter()
    category = django_filters.CharFilter(field_name="category__key",
                                         help_text="A category's key.")
    activity_kind = django_filters.CharFilter()

    class Meta:
        model = Rule
        fields = ["kind", "active", "category", "activity_kind"]


RULE_WRITES = (
    "Queues a full rescore (shared with any rescore still queued); its id is in "
    "`rescore_job`. Invalid values are a 400 per field; a condition's problem is under its "
    'index, e.g. `{"conditions": {"0": ["op: …"]}}`.'
)


@extend_schema_view(
    list=extend_schema(
        summary="List scoring and grading rules",
        responses={200: RuleSerializer(many=True), 400: BAD_REQUEST, 404: NOT_FOUND,
                   **ERRORS_ALWAYS},
    ),
    create=extend_schema(summary="Create a rule", description=RULE_WRITES,
                         responses={201: RuleSerializer, 400: BAD_REQUEST, **ERRORS_WRITES}),
    retrieve=extend_schema(summary="Get a rule",
                           responses={200: RuleSerializer, 404: NOT_FOUND, **ERRORS_ALWAYS}),
    update=extend_schema(summary="Replace a rule", description=RULE_WRITES,
                         responses={200: RuleSerializer, 400: BAD_REQUEST, 404: NOT_FOUND,
                                    **ERRORS_WRITES}),
    partial_update=extend_schema(summary="Change some of a rule", description=RULE_WRITES,
                                 responses={200: RuleSerializer, 400: BAD_REQUEST,
                                            404: NOT_FOUND, **ERRORS_WRITES}),
    destroy=extend_schema(
        summary="Delete a rule (and what it earned)",
        description="The rule is gone at once. Its points come off the scores in the full "
                    "rescore this queues (each drop recorded as that rescore's change).",
        responses={204: None, 404: NOT_FOUND, **ERRORS_ALWAYS},
    ),
)
class RuleViewSet(viewsets.ModelViewSet):
    lookup_value_regex = ID_PATTERN
    serializer_class = RuleSerializer
    permission_classes = [ScoringPermission]
    parser_classes = [JSONParser]
    filterset_class = RuleFilter
    queryset = Rule.objects.select_related("category")
    orderings = {"position": ("position", "id"), "-created_at": ("-created_at", "-id"),
                 "name": ("name", "id")}
    default_ordering = "position"

    def _job_id(self) -> int | None:
        # The job the change joined (or made): the one not started yet, not one running.
        job = selectors.rescore_job_queued()
        return job.pk if job else None

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        with transaction.atomic():
            rule = services.rule_create(actor=request.user, **serializer.validated_data)
            job = self._job_id()
        data = RuleSerializer(rule, context={**self.get_serializer_context(),
                                             "rescore_job": job}).data
        location = reverse("scoring-rule-detail", kwargs={"pk": rule.pk}, request=request)
        return Response(data, status=status.HTTP_201_CREATED, headers={"Location": location})

    def update(self, request, *args, **kwargs):
        partial = kwargs.pop("partial", False)
        instance = self.get_object()
        serializer = self.get_serializer(instance, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        with transaction.atomic():
            rule = get_object_or_404(Rule.objects.select_for_update(), pk=instance.pk)
            before = rule.updated_at
            rule = services.rule_update(rule=rule, actor=request.user,
                                        **serializer.validated_data)
            job = self._job_id() if rule.updated_at != before else None
        return Response(RuleSerializer(rule, context={**self.get_serializer_context(),
                                                      "rescore_job": job}).data)

    def perform_destroy(self, instance):
        services.rule_delete(rule=instance, actor=self.request.user)


@extend_schema_view(
    get=extend_schema(summary="List score categories",
                      responses={200: CategorySerializer(many=True), 400: BAD_REQUEST,
                                 404: NOT_FOUND, **ERRORS_ALWAYS}),
    post=extend_schema(summary="Add a score category",
                       responses={201: CategorySerializer, 400: BAD_REQUEST, **ERRORS_WRITES}),
)
class CategoryList(generics.ListCreateAPIView):
    serializer_class = CategorySerializer
    permission_classes = [ScoringPermission]
    parser_classes = [JSONParser]
    filter_backends = []
    queryset = ScoreCategory.objects.all()
    orderings = {"position": ("position", "id")}
    default_ordering = "position"

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        category = services.category_create(**serializer.validated_data)
        return Response(CategorySerializer(category).data, status=status.HTTP_201_CREATED)


SETTINGS_WRITES = (
    "Changing the bands or the threshold regrades and re-checks every lead: a full "
    "rescore is queued (its id in `rescore_job`)."
)


class ScoringSettingsView(APIView):
    permission_classes = [ScoringPermission]
    parser_classes = [JSONParser]

    @extend_schema(summary="Grade bands and the MQL threshold",
                   responses={200: ScoringSettingsSerializer, **ERRORS_ALWAYS})
    def get(self, request):
        return Response(ScoringSettingsSerializer(ScoringSettings.load()).data)

    @extend_schema(summary="Replace the grade bands and MQL threshold",
                   description=SETTINGS_WRITES, request=ScoringSettingsSerializer,
                   responses={200: ScoringSettingsSerializer, 400: BAD_REQUEST,
                              **ERRORS_WRITES})
    def put(self, request):
        return self._write(request, partial=False)

    @extend_schema(summary="Change the grade bands or MQL threshold",
                   description=SETTINGS_WRITES, request=ScoringSettingsSerializer(partial=True),
                   responses={200: ScoringSettingsSerializer, 400: BAD_REQUEST,
                              **ERRORS_WRITES})
    def patch(self, request):
        return self._write(request, partial=True)

    def _write(self, request, *, partial: bool):
        current = ScoringSettings.load()
        serializer = ScoringSettingsSerializer(current, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        with transaction.atomic():
            before = current.rules_stamp
            updated = services.settings_update(actor=request.user, **serializer.validated_data)
            job = selectors.rescore_job_queued() if updated.rules_stamp != before else None
        return Response(ScoringSettingsSerializer(
            updated, context={"rescore_job": job.pk if job else None}).data)


@extend_schema_view(
    get=extend_schema(
        summary="List recent rescores",
        description="Rescore jobs, newest first, with their progress.",
        responses={200: RescoreJobSerializer(many=True), 400: BAD_REQUEST, 404: NOT_FOUND,
                   **ERRORS_ALWAYS},
    ),
    post=extend_schema(
        summary="Start a full rescore",
        description="Rescores every lead from its activities with the current rules. A "
                    "rescore still queued is shared, not doubled: it is answered, and its "
                    "tasks are sent to the workers again if they never reached them. "
                    "Answers at once; follow the job at its Location.",
        request=RescoreRequestSerializer,
        responses={202: RescoreJobSerializer, 400: BAD_REQUEST, **ERRORS_WRITES},
    ),
)
class RescoreList(generics.ListAPIView):
    serializer_class = RescoreJobSerializer
    permission_classes = [ScoringPermission]
    parser_classes = [JSONParser]
    filter_backends = []
    queryset = RescoreJob.objects.all()
    orderings = {"-created_at": ("-created_at", "-id")}
    default_ordering = "-created_at"

    def post(self, request):
        serializer = RescoreRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        job = services.rescore_request(requested_by=request.user,
                                       reason=serializer.validated_data["reason"] or "API")
        location = reverse("scoring-rescore-detail", kwargs={"pk": job.pk}, request=request)
        return Response(RescoreJobSerializer(job).data, status=status.HTTP_202_ACCEPTED,
                        headers={"Location": location})


@extend_schema(summary="A rescore's progress",
               responses={200: RescoreJobSerializer, 404: NOT_FOUND, **ERRORS_ALWAYS})
class RescoreDetail(generics.RetrieveAPIView):
    serializer_class = RescoreJobSerializer
    permission_classes = [ScoringPermission]
    queryset = RescoreJob.objects.all()


@extend_schema(
    summary="A lead's score and grade, explained",
    description="The score's categories, the rules that gave (or took) points with the "
                "activities that earned them and when those points expire, and the fit "
                "rules behind the grade.",
    responses={200: BreakdownSerializer, 404: NOT_FOUND, **ERRORS_ALWAYS},
)
class LeadScoreView(APIView):
    permission_classes = [has_capability(READ)]

    def get(self, request, lead_id: int):
        lead = get_object_or_404(Lead.objects.visible_to(request.user), pk=lead_id)
        return Response(BreakdownSerializer(selectors.lead_score_breakdown(lead)).data)


router = SimpleRouter()
router.register("scoring/rules", RuleViewSet, basename="scoring-rule")

urlpatterns = [
    *router.urls,
    path("scoring/categories/", CategoryList.as_view(), name="scoring-categories"),
    path("scoring/settings/", ScoringSettingsView.as_view(), name="scoring-settings"),
    path("scoring/rescore/", RescoreList.as_view(), name="scoring-rescore"),
    path("scoring/rescore/<id:pk>/", RescoreDetail.as_view(), name="scoring-rescore-detail"),
    path("leads/<id:lead_id>/score/", LeadScoreView.as_view(), name="lead-score"),
]
