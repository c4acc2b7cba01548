"""A sequence's enrollments: who is in it, where they are, which of its emails failed and
why, why they left; removing a lead by hand and adding one by hand. A sequence's emails:
what was sent, what waits for a retry, what failed and why. Also the lead page's "remove
from sequence" form."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import View

from nurture.models import EmailMessage, Enrollment, EnrollmentState, MessageStatus, TriggerType
from nurture.services import enrollment_create, enrollment_exit
from nurture.views.common import ManageNurtureAccess, NurtureAccess, pick_lead

ENROLLMENTS_PER_PAGE = 50
EMAILS_PER_PAGE = 50
REMOVED_BY_HAND = "removed by hand"


def with_emails(enrollments: list[Enrollment]) -> list[Enrollment]:
    """Each enrollment's ``sent_count`` and ``failures`` (its failed emails, with their
    reasons), in two queries whatever the number of enrollments."""
    ids = [e.pk for e in enrollments]
    counts = dict(
        EmailMessage.objects.filter(enrollment_id__in=ids, status=MessageStatus.SENT)
        .order_by().values("enrollment_id").annotate(n=Count("id"))
        .values_list("enrollment_id", "n")
    ) if ids else {}
    failures: dict[int, list[EmailMessage]] = {}
    if ids:
        for message in (EmailMessage.objects.filter(enrollment_id__in=ids,
                                                    status=MessageStatus.FAILED)
                        .select_related("step").order_by("created_at", "id")):
            failures.setdefault(message.enrollment_id, []).append(message)
    for enrollment in enrollments:
        enrollment.sent_count = counts.get(enrollment.pk, 0)
        enrollment.failures = failures.get(enrollment.pk, [])
    return enrollments


class EnrollmentListView(NurtureAccess, View):
    def get(self, request, pk: int):
        return self.show(pk)

    def show(self, pk: int, *, add_search: str = "", add_leads=(), add_problems=(),
             status: int = 200):
        sequence = self.get_sequence(pk)
        state = self.request.GET.get("state", "")
        enrollments = (Enrollment.objects.filter(sequence=sequence)
                       .select_related("lead", "next_step"))
        if state in EnrollmentState.values:
            enrollments = enrollments.filter(state=state)
        else:
            state = ""
        paginator = Paginator(enrollments, ENROLLMENTS_PER_PAGE)
        page = paginator.get_page(self.request.GET.get("page"))
        page.object_list = with_emails(list(page.object_list))
        return render(self.request, "nurture/enrollments.html", {
            "sequence": sequence,
            "page_obj": page,
            "page_range": paginator.get_elided_page_range(page.number, on_each_side=2),
            "state": state,
            "states": EnrollmentState.choices,
            "can_manage": self.can_manage,
            "add_search": add_search,
            "add_leads": add_leads,
            "add_problems": add_problems,
            "now": timezone.now(),
        }, status=status)


class EnrollmentAddView(ManageNurtureAccess, EnrollmentListView):
    """Enroll one lead by hand, found by email (or name: several matches are offered)."""

    def get(self, request, pk: int):
        return redirect("nurture:enrollments", pk=pk)

    def post(self, request, pk: int):
        sequence = self.get_sequence(pk)
        search = (request.POST.get("lead") or "").strip()[:200]
        lead, found, problem = pick_lead(request.user, search, request.POST.get("lead_id", ""))
        if lead is None:
            return self.show(pk, add_search=search, add_leads=found,
                             add_problems=[problem] if problem else [],
                             status=400 if not found else 200)
        try:
            enrollment_create(sequence=sequence, lead=lead, source=TriggerType.MANUAL,
                              actor=request.user)
        except ValidationError as exc:
            return self.show(pk, add_search=search,
                             add_problems=[f"{lead.email}: {m}" for m in exc.messages],
                             status=400)
        messages.success(request, f"Enrolled {lead.email} in “{sequence.name}”.")
        return redirect("nurture:enrollments", pk=sequence.pk)


class EnrollmentExitView(ManageNurtureAccess, View):
    """Remove a lead from a sequence (exit by hand): its next steps are not sent."""

    def post(self, request, pk: int):
        enrollment = get_object_or_404(Enrollment.objects.select_related("lead", "sequence"),
                                       pk=pk)
        if enrollment_exit(enrollment=enrollment, reason=REMOVED_BY_HAND, actor=request.user):
            messages.success(request, f"Removed {enrollment.lead.email} from "
                                      f"“{enrollment.sequence.name}”.")
        else:
            messages.info(request, f"{enrollment.lead.email} had already left "
                                   f"“{enrollment.sequence.name}”.")
        target = request.POST.get("next", "")
        if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                               require_https=request.is_secure()):
            target = reverse("nurture:enrollments", args=[enrollment.sequence_id])
        return redirect(target)


class EmailListView(NurtureAccess, View):
    """A sequence's emails, newest first, by status (``?status=failed``: the failures,
    with what the mail server or the template said)."""

    def get(self, request, pk: int):
        sequence = self.get_sequence(pk)
        status = request.GET.get("status", "")
        emails = EmailMessage.objects.filter(sequence=sequence).select_related("lead", "step")
        if status in MessageStatus.values:
            emails = emails.filter(status=status)
        else:
            status = ""
        counts = EmailMessage.objects.filter(sequence=sequence).order_by().aggregate(
            all=Count("id"),
            **{value: Count("id", filter=Q(status=value)) for value in MessageStatus.values})
        paginator = Paginator(emails, EMAILS_PER_PAGE)
        page = paginator.get_page(request.GET.get("page"))
        return render(request, "nurture/emails.html", {
            "sequence": sequence,
            "page_obj": page,
            "page_range": paginator.get_elided_page_range(page.number, on_each_side=2),
            "status": status,
            "statuses": [(value, label, counts[value]) for value, label in
                         MessageStatus.choices],
            "total": counts["all"],
        })
