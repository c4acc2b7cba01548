"""The pipeline's background work: telling a rep a new MQL is theirs, and alerting
when an MQL waits past the speed-to-lead SLA."""

import smtplib
from datetime import timedelta

from celery import shared_task
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import F, Q
from django.template.loader import render_to_string
from django.utils import timezone

from capture.models import Lead, Stage
from pipeline.models import AssignmentRule, Deal, NotificationKind, PipelineSettings
from pipeline.services.notifications import notify


@shared_task(
    autoretry_for=(smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError, ConnectionError,
                   TimeoutError),
    retry_backoff=True,
    retry_backoff_max=600,
    max_retries=6,
    soft_time_limit=60,
    time_limit=90,
)
def mql_assigned_notify(lead_id: int, user_id: int) -> bool:
    """Email the rep that a new MQL was assigned to them (the board shows it too)."""
    lead = Lead.objects.filter(pk=lead_id).first()
    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    if lead is None or user is None or not user.email or lead.owner_id != user.pk:
        return False  # deleted, deactivated, or reassigned since: nothing to say
    context = {"lead": lead, "user": user}
    send_mail(
        subject=render_to_string("pipeline/email/mql_assigned-subject.txt", context).strip(),
        message=render_to_string("pipeline/email/mql_assigned-body.txt", context),
        from_email=None,
        recipient_list=[user.email],
    )
    return True


SLA_ALERT_BATCH = 200


@shared_task(soft_time_limit=120, time_limit=150)
def sla_breaches_alert() -> int:
    """Alert the owner (and their team's manager) of every MQL that waited past the
    speed-to-lead SLA without a touch, in the app and by email; once per MQL hand-off.
    Run it every minute from Celery beat. Returns how many leads were alerted on."""
    settings_row = PipelineSettings.load()
    now = timezone.now()
    deadline = now - timedelta(minutes=settings_row.sla_minutes)
    waiting = (
        Lead.objects.filter(stage=Stage.MQL, stage_changed_at__lt=deadline, owner__isnull=False)
        .filter(Q(deal__isnull=True) | Q(deal__first_touch_at__isnull=True))
        .filter(Q(deal__isnull=True) | Q(deal__sla_alerted_at__isnull=True)
                | Q(deal__sla_alerted_at__lt=F("stage_changed_at")))
        .select_related("owner")
        .order_by("stage_changed_at", "id")[:SLA_ALERT_BATCH]
    )
    sent = 0
    for lead in waiting:
        Deal.objects.get_or_create(lead_id=lead.pk)
        managers = list(
            get_user_model().objects.filter(
                pk__in=AssignmentRule.objects.filter(
                    members=lead.owner, manager__isnull=False
                ).values("manager"),
                is_active=True,
            ).exclude(pk=lead.owner_id)
        )
        text = (f"{lead} has waited over {settings_row.sla_minutes} minutes for a first "
                f"touch from {lead.owner.display_name}.")
        with transaction.atomic():
            # Claim: two overlapping runs (a slow one and the next minute's) must not
            # both alert; only the run whose conditional update changed the row does.
            claimed = Deal.objects.filter(lead_id=lead.pk).filter(
                Q(sla_alerted_at__isnull=True) | Q(sla_alerted_at__lt=lead.stage_changed_at)
            ).update(sla_alerted_at=now)
            if not claimed:
                continue
            for person in (lead.owner, *managers):
                notify(recipient=person, kind=NotificationKind.SLA_BREACHED, lead=lead,
                       text=text)
        sent += 1
        recipients = sorted({lead.owner.email, *(m.email for m in managers)} - {""})
        if not recipients:
            continue
        context = {"lead": lead, "minutes": settings_row.sla_minutes}
        send_mail(
            subject=render_to_string("pipeline/email/sla_breach-subject.txt", context).strip(),
            message=render_to_string("pipeline/email/sla_breach-body.txt", context),
            from_email=None,
            recipient_list=recipients,
        )
    return sent
