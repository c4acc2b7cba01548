"""Rescore progress: the fragment every scoring page shows (polled by htmx every second
while a job is queued or running) and "Rescore now" (also what sends a stuck queued
job's tasks again)."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import View

from scoring import selectors
from scoring.services import rescore_request
from scoring.views.common import ManageScoringAccess, ScoringAccess

POLL_SECONDS = 1


def rescore_context(request) -> dict:
    active = selectors.rescore_job_active()
    job = active or selectors.rescore_job_latest()
    return {
        "job": job,
        "job_active": active is not None,
        # Queued, and its tasks never reached the workers or look lost: "Rescore now"
        # sends them again (rescore_request), as the sweep does every minute.
        "job_stuck": active is not None and active.dispatch_due(timezone.now()),
        "poll_seconds": POLL_SECONDS,
        "can_rescore": request.user.has_perm("leadhub.manage_scoring"),
    }


class RescoreProgressView(ScoringAccess, View):
    def get(self, request):
        response = render(request, "scoring/_rescore_status.html", rescore_context(request))
        response["Cache-Control"] = "no-store"
        return response


class RescoreStartView(ManageScoringAccess, View):
    def post(self, request):
        job = rescore_request(requested_by=request.user, reason="requested in the browser")
        if request.htmx:
            return render(request, "scoring/_rescore_status.html", rescore_context(request))
        messages.success(request, f"Rescore #{job.pk} queued: every lead is being rescored.")
        target = request.POST.get("next", "")
        if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                               require_https=request.is_secure()):
            target = reverse("scoring:index")
        return redirect(target)
