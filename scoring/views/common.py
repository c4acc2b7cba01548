from django.contrib.auth.mixins import LoginRequiredMixin, PermissionRequiredMixin
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404

from scoring.models import Rule

MANAGE_SCORING = "leadhub.manage_scoring"
VIEW_LEADS = "capture.view_lead"


class ScoringAccess(LoginRequiredMixin, PermissionRequiredMixin):
    """Signed-out visitors go to the login page; signed-in users without the permission
    get a 403."""

    permission_required: tuple[str, ...] = (VIEW_LEADS,)

    @property
    def can_manage(self) -> bool:
        return self.request.user.has_perm(MANAGE_SCORING)

    def require_manage(self) -> None:
        if not self.can_manage:
            raise PermissionDenied("Changing scoring needs the “manage scoring” permission.")


class ManageScoringAccess(ScoringAccess):
    permission_required = (VIEW_LEADS, MANAGE_SCORING)

    def get_rule(self, pk: int) -> Rule:
        return get_object_or_404(Rule.objects.select_related("category"), pk=pk)
