"""``{% lead_sequences lead %}``: the lead page's nurture card (the sequences the lead is
in, the emails of theirs that failed and why, and whether nurture may mail them at
all)."""

from django import template
from django.utils import timezone

from nurture.models import EmailMessage, Enrollment, EnrollmentState, MessageStatus
from nurture.services import is_suppressed
from nurture.views.common import MANAGE_NURTURE

register = template.Library()

SHOWN = 20


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
        "can_manage": bool(user and user.has_perm(MANAGE_NURTURE)),
        "csrf_token": context.get("csrf_token"),
        "request": request,
        "now": timezone.now(),
    }
