"""A sequence's enrollments: who is in it, where they are, which of its emails failed and
why, why they left; removing a lead by hand and adding one by hand. A sequence's emails:
what was sent, what waits for a retry, what failed and why. Also the lead page's "remove
from sequence" form, and the leads list's "Add to sequence…" (LeadsEnrollView: the
leads list belongs to pipeline, which imports no nurture; its form posts here)."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import View

from capture.models import Lead
from capture.segments import LeadFilterSet, filter_problems
from nurture.models import (
    EmailMessage,
    Enrollment,
    EnrollmentState,
    MessageStatus,
    Sequence,
    SequenceStatus,
    TriggerType,
)
from nurture.services import enrollment_create, enrollment_exit, enrollments_create_bulk
from nurture.views.common import ManageNurtureAccess, NurtureAccess, pick_lead

ENROLLMENTS_PER_PAGE = 50
EMAILS_PER_PAGE = 50
REMOVED_BY_HAND = "removed by hand"
# "All N leads matching these filters" is enrolled in the request, set-based (a few
# statements per 500 leads: seconds for this many); more is refused with a message
# rather than run for minutes behind a spinner, or half-done by a timeout.
BULK_ENROLL_MAX = 10_000
# A selection is at most a page or two of checkboxes; anything longer was not clicked.
SELECTION_MAX = 1_000


def _safe_next(request, fallback: str) -> str:
    target = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                       require_https=request.is_secure()):
        return target
    return fallback


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


class EnrollmentExitView(NurtureAccess, View):
    """Remove a lead from a sequence (exit by hand): its next steps are not sent. For
    marketers and admins, and for sales reps from the lead page (they work the lead)."""

    def post(self, request, pk: int):
        if not self.can_exit:
            raise PermissionDenied("Removing a lead from a sequence is for marketers, sales "
                                   "reps and admins.")
        enrollment = get_object_or_404(Enrollment.objects.select_related("lead", "sequence"),
                                       pk=pk)
        if enrollment_exit(enrollment=enrollment, reason=REMOVED_BY_HAND, actor=request.user):
            messages.success(request, f"Removed {enrollment.lead.email} from "
                                      f"“{enrollment.sequence.name}”.")
        else:
            messages.info(request, f"{enrollment.lead.email} had already left "
                                   f"“{enrollment.sequence.name}”.")
        return redirect(_safe_next(request, reverse("nurture:enrollments",
                                                     args=[enrollment.sequence_id])))


def _ids(values: list[str]) -> set[int]:
    return {int(v) for v in values if v.isascii() and v.isdigit() and int(v) < 2**63}


class LeadsEnrollView(ManageNurtureAccess, View):
    """The leads list's "Add to sequence…": POST ``sequence`` (an active one), ``scope``
    "selected" (the ``lead`` boxes ticked; ``page_all`` adds every ``page_lead`` of the
    page) or "all" (every lead the list's filters in ``query`` select, at most
    BULK_ENROLL_MAX), and ``next`` (back to the list). Enrolls through
    ``enrollments_create_bulk`` (the enrollment rules, set-based) and says, back on the
    list, how many were enrolled and how many skipped and why."""

    def get(self, request):
        return redirect("pipeline:lead_list")

    def post(self, request):
        back = _safe_next(request, reverse("pipeline:lead_list"))
        raw = (request.POST.get("sequence") or "").strip()
        sequence = (Sequence.objects.filter(pk=next(iter(_ids([raw])), 0),
                                            status=SequenceStatus.ACTIVE).first())
        if sequence is None:
            messages.error(request, "Choose an active sequence to add the leads to.")
            return redirect(back)
        if request.POST.get("scope") == "all":
            lead_ids = self.matching(request)
        else:
            lead_ids = self.selected(request)
        if lead_ids is None:
            return redirect(back)
        try:
            result = enrollments_create_bulk(sequence=sequence, lead_ids=lead_ids,
                                             source=TriggerType.MANUAL, actor=request.user)
        except ValidationError as exc:
            messages.error(request, f"Nothing was added to “{sequence.name}”: "
                                    f"{' '.join(exc.messages)}")
            return redirect(back)
        added = len(result.enrolled)
        text = f"Added {added:,} lead{'s' * (added != 1)} to “{sequence.name}”."
        if result.skipped:
            skipped = sum(result.skipped.values())
            text += f" Skipped {skipped:,}: {result.skipped_text()}."
        (messages.success if added else messages.warning)(request, text)
        return redirect(back)

    def selected(self, request) -> list[int] | None:
        raw = request.POST.getlist("lead")
        if request.POST.get("page_all"):
            raw += request.POST.getlist("page_lead")
        if len(raw) > 2 * SELECTION_MAX:
            messages.error(request, f"At most {SELECTION_MAX:,} leads can be selected at "
                                    "once; use “all leads matching these filters”.")
            return None
        ids = _ids(raw)
        if not ids:
            messages.error(request, "Select the leads to add first (or choose all leads "
                                    "matching the filters).")
            return None
        return list(Lead.objects.visible_to(request.user).filter(pk__in=ids)
                    .values_list("pk", flat=True))

    def matching(self, request) -> list[int] | None:
        """The leads the list's filters select, as the list selects them (capture's lead
        filter; "owner=me" is this user), or None with the reason said."""
        query = QueryDict((request.POST.get("query") or "")[:4000])
        filterset = LeadFilterSet(query, queryset=Lead.objects.visible_to(request.user),
                                  me=request.user)
        if not filterset.is_valid():
            # The list leaves a bad filter out and says so; enrolling without it would
            # take in leads nobody meant.
            messages.error(request, "Nothing was added: some filters could not be read ("
                                    f"{'; '.join(filter_problems(filterset))}).")
            return None
        ids = list(filterset.qs.order_by("pk").values_list("pk", flat=True)
                   [:BULK_ENROLL_MAX + 1])
        if len(ids) > BULK_ENROLL_MAX:
            total = filterset.qs.count()
            messages.error(request, f"{total:,} leads match these filters: at most "
                                    f"{BULK_ENROLL_MAX:,} can be added at once. Narrow the "
                                    "filters (for example by created date) and add them in "
                                    "parts.")
            return None
        if not ids:
            messages.error(request, "No lead matches these filters: nothing was added.")
            return None
        return ids


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
