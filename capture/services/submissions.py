"""A form submission arrived: the one service the HTML post, the JSON API and the embed
all call, and the only code that queues a submission's follow-up work.

In one transaction it stores the raw Submission, upserts the Lead by email and appends
a ``form_submitted`` Activity; on commit the activity goes to Celery (scoring,
nurture triggers, notification and double-opt-in emails, linking the visitor's
earlier page views). A 2xx answer means all of it is committed, whatever the state of
the broker: the outbox sweep re-queues activities whose task never ran.

Statements for a good submission: the idempotency lookup (only with a key), the lead
upsert, the submission insert and the activity insert; with the form and its fields
looked up by the caller, at most 6, and one commit.
"""

import hashlib
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from capture.models import Activity, ActivityKind, DisposablePolicy, Form, Submission
from capture.spam import is_disposable, spam_reason
from capture.validation import (
    HONEYPOT_FIELD,
    PAGE_URL_FIELD,
    POW_FIELD,
    REFERRER_FIELD,
    TOKEN_FIELD,
    VISITOR_FIELD,
    CleanSubmission,
    SubmissionInvalid,
    attribution_from,
    clean_submission,
)

from .upsert import lead_upsert_from_submission

DISPOSABLE_REFUSED = "Please use a permanent email address (not a disposable one)."
MAX_KEY_LENGTH = 200


class IdempotencyConflict(Exception):
    """The Idempotency-Key was used before with a different body (HTTP 422)."""


@dataclass(frozen=True)
class SubmissionContext:
    """Everything about a post that is not the form's fields."""

    channel: str
    ip: str | None = None
    user_agent: str = ""
    page_url: str = ""
    referrer: str = ""
    idempotency_key: str | None = None
    body: bytes = b""  # hashed to recognise a retry of the same request


@dataclass
class SubmissionOutcome:
    submission: Submission
    lead_id: int | None  # None for spam
    replayed: bool = False  # an earlier answer, for a retried Idempotency-Key
    ignored_fields: list[str] = field(default_factory=list)

    @property
    def is_spam(self) -> bool:
        return self.submission.is_spam


def request_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def _meta(data: dict[str, Any], name: str) -> str:
    value = data.get(name, "")
    if isinstance(value, list | tuple):
        value = value[0] if value else ""
    return value if isinstance(value, str) else ""


def submission_record(
    *, form: Form, fields, data: dict[str, Any], context: SubmissionContext
) -> SubmissionOutcome:
    """Validate, judge and store one post to ``form`` (live, with ``fields`` its FormField
    rows). Raises SubmissionInvalid (per-field errors, nothing stored) or
    IdempotencyConflict."""
    cleaned = clean_submission(fields, data)
    if form.disposable_emails == DisposablePolicy.BLOCK and is_disposable(cleaned.email):
        email_field = next(f.name for f in fields if f.maps_to == "email")
        raise SubmissionInvalid({email_field: [DISPOSABLE_REFUSED]}, cleaned.values)
    reason, variant_id = spam_reason(
        form=form,
        email=cleaned.email,
        honeypot=_meta(data, HONEYPOT_FIELD),
        token=_meta(data, TOKEN_FIELD) or None,
        pow_solution=_meta(data, POW_FIELD) or None,
    )
    page_url = _meta(data, PAGE_URL_FIELD) or context.page_url
    referrer = _meta(data, REFERRER_FIELD) or context.referrer
    key = (context.idempotency_key or "")[:MAX_KEY_LENGTH] or None
    try:
        with transaction.atomic():
            return _store(
                form=form,
                cleaned=cleaned,
                context=context,
                key=key,
                spam=reason,
                variant_id=variant_id,
                attribution=attribution_from(page_url, referrer),
                visitor=_meta(data, VISITOR_FIELD),
            )
    except IntegrityError:
        # Two requests with one Idempotency-Key raced past the lookup; the unique
        # (form, key) index let the first one in. Answer as the first did.
        if key is None:
            raise
        return _replay(form, key, request_hash(context.body))


def _replay(form: Form, key: str, body_hash: str) -> SubmissionOutcome:
    first = Submission.objects.get(form=form, idempotency_key=key)
    if first.request_hash != body_hash:
        raise IdempotencyConflict(key)
    return SubmissionOutcome(
        submission=first,
        lead_id=first.lead_id,
        replayed=True,
        ignored_fields=first.ignored_fields,
    )


def _store(
    *,
    form: Form,
    cleaned: CleanSubmission,
    context: SubmissionContext,
    key: str | None,
    spam: str,
    variant_id: int | None,
    attribution: dict[str, str],
    visitor: str,
) -> SubmissionOutcome:
    body_hash = request_hash(context.body)
    if key is not None and Submission.objects.filter(form=form, idempotency_key=key).exists():
        return _replay(form, key, body_hash)

    now = timezone.now()
    submission = Submission(
        form=form,
        variant_id=variant_id,
        channel=context.channel,
        data=cleaned.values,
        ignored_fields=cleaned.ignored,
        attribution=attribution,
        ip=context.ip,
        user_agent=context.user_agent[:500],
        consent_given=cleaned.consent_given,
        consent_text=form.consent_text if cleaned.consent_given else "",
        consent_version=form.consent_version if cleaned.consent_given else 0,
        is_spam=bool(spam),
        spam_reason=spam[:200],
        idempotency_key=key,
        request_hash=body_hash,
        created_at=now,
    )
    if spam:
        # Spam creates no lead and triggers nothing; it waits in the Spam folder.
        submission.save(force_insert=True)
        return SubmissionOutcome(submission=submission, lead_id=None,
                                 ignored_fields=cleaned.ignored)

    upserted = lead_upsert_from_submission(
        email=cleaned.email,
        values=cleaned.lead_values,
        attributes=cleaned.attributes,
        consent_text=form.consent_text if cleaned.consent_given else None,
        attribution=attribution,
        now=now,
    )
    submission.lead_id = upserted.lead_id
    submission.save(force_insert=True)
    _activity_queued(
        lead_id=upserted.lead_id,
        submission=submission,
        form=form,
        new_lead=upserted.created,
        visitor=visitor,
        now=now,
    )
    return SubmissionOutcome(
        submission=submission, lead_id=upserted.lead_id, ignored_fields=cleaned.ignored
    )


def _activity_queued(*, lead_id, submission, form, new_lead, visitor, now) -> Activity:
    from capture.tasks import activity_process

    activity = Activity.objects.create(
        lead_id=lead_id,
        kind=ActivityKind.FORM_SUBMITTED,
        occurred_at=now,
        data={
            "form": form.pk,
            "form_name": form.name,
            "submission": submission.pk,
            "channel": submission.channel,
            "variant": submission.variant_id,
            "fields": submission.data,
            "page_url": submission.attribution.get("landing_url", ""),
            "new_lead": new_lead,
            # The signed visitor id from the tracking cookie, checked by the follow-up
            # task before it links that visitor's earlier page views to this lead.
            "visitor": visitor[:200],
        },
    )
    # robust: the submission is committed whatever happens to the broker; the outbox
    # sweep queues this activity later if this fails.
    transaction.on_commit(lambda: activity_process.delay(activity.pk), robust=True)
    return activity


@transaction.atomic
def submission_mark_not_spam(*, submission: Submission, actor=None) -> SubmissionOutcome:
    """Someone looked at a Spam-folder submission and it is genuine: process it as if it
    had been accepted when it arrived (lead, activity, follow-up work)."""
    locked = Submission.objects.select_for_update().get(pk=submission.pk)
    if not locked.is_spam:
        return SubmissionOutcome(submission=locked, lead_id=locked.lead_id)
    form = locked.form
    fields = list(form.fields.all())
    email_field = next((f.name for f in fields if f.maps_to == "email"), "email")
    # Re-check the stored values against today's fields: the form may have changed.
    cleaned = clean_submission(fields, {**locked.data, email_field: locked.data.get(email_field)})
    now = timezone.now()
    upserted = lead_upsert_from_submission(
        email=cleaned.email,
        values=cleaned.lead_values,
        attributes=cleaned.attributes,
        consent_text=locked.consent_text if locked.consent_given else None,
        attribution=locked.attribution,
        now=now,
    )
    Submission.objects.filter(pk=locked.pk).update(
        is_spam=False, lead_id=upserted.lead_id,
        spam_reason=f"{locked.spam_reason} (marked not spam"
        f"{' by ' + actor.username if actor else ''})"[:200],
    )
    locked.refresh_from_db()
    _activity_queued(lead_id=upserted.lead_id, submission=locked, form=form,
                     new_lead=upserted.created, visitor="", now=now)
    return SubmissionOutcome(submission=locked, lead_id=upserted.lead_id)
