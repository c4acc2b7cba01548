"""capture's entry in settings.ACTIVITY_HANDLERS: the follow-up work of a form submission.

Called by capture.tasks.activity_process with each new activity, after its transaction
committed, and again if the task runs twice (a redelivery, the outbox sweep). Every side
effect is guarded so that a second call changes nothing:

- linking the visitor: the visitor row is locked and its anonymous events are deleted in
  the transaction that records them as activities (capture.services.tracking);
- the notification and confirmation emails: each is its own task, which records its
  outcome on the activity under the same lock it sends with (capture.services.notify).

The emails are separate tasks so that a mail server outage delays mail, not scoring:
the handlers after this one (scoring, nurture) run without waiting for SMTP.
"""

from capture.models import Activity, ActivityKind, Form, Lead
from capture.services.tracking import visitor_link


def form_submitted_follow_up(activity: Activity) -> None:
    if activity.kind != ActivityKind.FORM_SUBMITTED:
        return
    from capture.tasks import optin_confirmation_send, submission_notify

    data = activity.data
    lead: Lead = activity.lead
    if data.get("visitor"):
        # Before the handlers that score: the page views it records are scored with it.
        visitor_link(visitor=data["visitor"], lead=lead)
    form = Form.objects.filter(pk=data.get("form")).only("notify_emails", "double_opt_in").first()
    if form is None:
        return
    followup = data.get("followup") or {}
    # Already recorded outcomes are skipped here too, to spare a retried handler the
    # task; the task itself is what guarantees "once".
    if form.notify_emails and "notification" not in followup:
        submission_notify.delay(activity.pk)
    if form.double_opt_in and lead.confirmed_at is None and "confirmation" not in followup:
        optin_confirmation_send.delay(activity.pk)
