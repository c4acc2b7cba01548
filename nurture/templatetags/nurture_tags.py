"""nurture's parts of pipeline's pages (pipeline imports no nurture; its templates load
these tags):

- ``{% lead_sequences lead %}``: the lead page's nurture card (the sequences the lead is
  in, the emails of theirs that failed and why, whether nurture may mail them at all,
  and "Remove" for marketers, sales reps and admins);
- ``{% lead_selection_allowed as can_select %}`` and ``{% lead_list_actions total=…
  query=… %}``: the leads list's row selection and its "Add to sequence…" form, which
  posts to nurture:leads_enroll (for those who may manage nurture).
"""

from django import template
from django.utils import timezone

from nurture.models import (
    EmailMessage,
    Enrollment,
    EnrollmentState,
    MessageStatus,
    Sequence,
    SequenceStatus,
)
from nurture.services import is_suppressed
from nurture.views import enrollments
from nurture.views.common import MANAGE_NURTURE, WORK_PIPELINE

register = template.Library()

SHOWN = 20
SEQUENCES_OFFERED = 200  # the "Add to sequence…" menu: active sequences, by name


@register.inclusion_tag("nurture/_lead_sequences.html", takes_context=True)
def lead_sequences(context, lead):
    request = context.get("request")
    user = getattr(request, "user", None)
    enrollments = list(
        Enrollment.objects.filter(lead=lead).select_related("sequence", "next_step")
        .order_by("-enrolled_at", "-id")[:SHOWN]
    )
    failures: dict[int, list[EmailMessage]] = {}
    for message in (EmailMessage.objects.filter(enrollment__in=[e.pk for e in enrollments],
                                                status=MessageStatus.FAILED)
                    .select_related("step").order_by("created_at", "id")):
        failures.setdefault(message.enrollment_id, []).append(message)
    for enrollment in enrollments:
        enrollment.failures = failures.get(enrollment.pk, [])
    return {
        "lead": lead,
        "enrollments": enrollments,
        "active_count": sum(e.state == EnrollmentState.ACTIVE for e in enrollments),
        "suppressed": is_suppressed(lead.email),
        "can_manage": bool(user and (user.has_perm(MANAGE_NURTURE)
                                     or user.has_perm(WORK_PIPELINE))),
        "csrf_token": context.get("csrf_token"),
        "request": request,
        "now": timezone.now(),
    }


@register.simple_tag(takes_context=True)
def lead_selection_allowed(context) -> bool:
    """Whether the leads list shows its selection boxes: for who may add leads to a
    sequence."""
    user = getattr(context.get("request"), "user", None)
    return bool(user and user.is_authenticated and user.has_perm(MANAGE_NURTURE))


@register.inclusion_tag("nurture/_lead_list_actions.html", takes_context=True)
def lead_list_actions(context, *, total: int, query: str):
    request = context.get("request")
    sequences = list(Sequence.objects.filter(status=SequenceStatus.ACTIVE)
                     .order_by("name", "id").only("pk", "name")[:SEQUENCES_OFFERED])
    return {
        "sequences": sequences,
        "total": total,
        "query": query,
        "too_many": total > enrollments.BULK_ENROLL_MAX,
        "max": enrollments.BULK_ENROLL_MAX,
        "csrf_token": context.get("csrf_token"),
        "request": request,
    }
