"""What every nurture page shares: who may read (anyone who reads leads), who may
change things (leadhub.manage_nurture: marketers and admins), who may take a lead out of
a sequence (those, and whoever works the pipeline), and finding a lead from what was
typed in a "lead's email or name" box."""

from django.contrib.auth.mixins import LoginRequiredMixin, PermissionRequiredMixin
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.shortcuts import get_object_or_404

from capture.models import Lead
from nurture.models import Sequence

MANAGE_NURTURE = "leadhub.manage_nurture"
# Who works the pipeline (sales reps, admins) may take a lead out of a sequence from the
# lead page (pipeline.selectors.PIPELINE_PERMISSION: named here, nurture imports no
# pipeline).
WORK_PIPELINE = "leadhub.work_pipeline"
VIEW_LEADS = "capture.view_lead"
LEAD_CHOICES = 8


class NurtureAccess(LoginRequiredMixin, PermissionRequiredMixin):
    """Signed-out visitors go to the login page; signed-in users without the permission
    get a 403."""

    permission_required: tuple[str, ...] = (VIEW_LEADS,)

    @property
    def can_manage(self) -> bool:
        return self.request.user.has_perm(MANAGE_NURTURE)

    @property
    def can_exit(self) -> bool:
        """May take a lead out of a sequence by hand."""
        user = self.request.user
        return user.has_perm(MANAGE_NURTURE) or user.has_perm(WORK_PIPELINE)

    def require_manage(self) -> None:
        if not self.can_manage:
            raise PermissionDenied("Changing nurture needs the “manage nurture” permission.")

    def get_sequence(self, pk: int) -> Sequence:
        return get_object_or_404(Sequence, pk=pk)


class ManageNurtureAccess(NurtureAccess):
    permission_required = (VIEW_LEADS, MANAGE_NURTURE)


def find_leads(visible, text: str) -> list[Lead]:
    """Leads whose email, name or company hold every word typed (at most a few)."""
    for word in text.split()[:6]:
        visible = visible.filter(Q(email__icontains=word) | Q(first_name__icontains=word)
                                 | Q(last_name__icontains=word) | Q(company__icontains=word))
    return list(visible.order_by("-last_activity_at", "-id")[:LEAD_CHOICES])


def pick_lead(user, text: str, lead_id: str = "") -> tuple[Lead | None, list[Lead], str]:
    """(the lead, or None with the candidates to choose from, and a problem in words)."""
    visible = Lead.objects.visible_to(user)
    if lead_id and lead_id.isdigit():
        lead = visible.filter(pk=int(lead_id)).first()
        return lead, [], "" if lead else "That lead no longer exists."
    text = (text or "").strip()[:200]
    if not text:
        return None, [], "Type a lead's email or name."
    if "@" in text and (lead := visible.with_email(text).first()):
        return lead, [], ""
    found = find_leads(visible, text)
    if len(found) == 1:
        return found[0], [], ""
    return None, found, "" if found else f"No lead matches “{text}”."
