"""``assignment-rules/``: admins list, create, change and delete assignment rules."""

from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers, viewsets
from rest_framework.routers import SimpleRouter

from leadhub.api import BAD_REQUEST, ERRORS_ALWAYS, ERRORS_WRITES, NOT_FOUND, has_capability
from leadhub.converters import ID_PATTERN
from pipeline.models import AssignmentRule

MAX_INT = 2_147_483_647


class AssignmentRuleSerializer(serializers.ModelSerializer):
    members = serializers.PrimaryKeyRelatedField(
        many=True, queryset=get_user_model().objects.filter(is_active=True),
        help_text="Ids of the users the rule deals leads to, in turn.",
    )
    manager = serializers.PrimaryKeyRelatedField(
        queryset=get_user_model().objects.filter(is_active=True), allow_null=True,
        required=False, help_text="Also alerted when the team misses speed to lead.",
    )
    position = serializers.IntegerField(min_value=0, max_value=MAX_INT, required=False)
    min_company_size = serializers.IntegerField(min_value=0, max_value=MAX_INT,
                                                allow_null=True, required=False)
    max_company_size = serializers.IntegerField(min_value=0, max_value=MAX_INT,
                                                allow_null=True, required=False)

    class Meta:
        model = AssignmentRule
        fields = ["id", "name", "position", "active", "countries", "industries", "sources",
                  "min_company_size", "max_company_size", "members", "manager", "dealt"]
        read_only_fields = ["id", "dealt"]

    def validate(self, attrs):
        low = attrs.get("min_company_size", getattr(self.instance, "min_company_size", None))
        high = attrs.get("max_company_size", getattr(self.instance, "max_company_size", None))
        if low is not None and high is not None and low > high:
            raise serializers.ValidationError(
                {"max_company_size": ["Must be at least min_company_size."]})
        return attrs


RESPONSES = {400: BAD_REQUEST, 404: NOT_FOUND}


@extend_schema_view(
    list=extend_schema(summary="List assignment rules (admins)",
                       responses={200: AssignmentRuleSerializer(many=True), 400: BAD_REQUEST,
                                  404: NOT_FOUND, **ERRORS_ALWAYS}),
    create=extend_schema(summary="Create an assignment rule (admins)",
                         responses={201: AssignmentRuleSerializer, 400: BAD_REQUEST,
                                    **ERRORS_WRITES}),
    retrieve=extend_schema(summary="Get an assignment rule (admins)",
                           responses={200: AssignmentRuleSerializer, **RESPONSES,
                                      **ERRORS_ALWAYS}),
    update=extend_schema(summary="Replace an assignment rule (admins)",
                         responses={200: AssignmentRuleSerializer, **RESPONSES,
                                    **ERRORS_WRITES}),
    partial_update=extend_schema(summary="Change an assignment rule (admins)",
                                 responses={200: AssignmentRuleSerializer, **RESPONSES,
                                            **ERRORS_WRITES}),
    destroy=extend_schema(summary="Delete an assignment rule (admins)",
                          responses={204: None, **RESPONSES, **ERRORS_ALWAYS}),
)
class AssignmentRuleViewSet(viewsets.ModelViewSet):
    """Rules are tried by ``position``; the first whose conditions all match a new MQL
    deals it to the next of its ``members``. A rule without conditions is the fallback."""

    serializer_class = AssignmentRuleSerializer
    permission_classes = [has_capability("leadhub.manage_users")]
    queryset = AssignmentRule.objects.prefetch_related("members")
    filter_backends = []
    lookup_value_regex = ID_PATTERN
    orderings = {"position": ("position", "id")}
    default_ordering = "position"


router = SimpleRouter()
router.register("assignment-rules", AssignmentRuleViewSet, basename="assignment-rule")
urlpatterns = router.urls
