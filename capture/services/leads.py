"""Writes to leads and their timeline. Views, the API and tasks call these; nothing else
creates a Lead or an Activity.

Errors are raised as ``django.core.exceptions.ValidationError`` keyed by field, which
forms show beside the field and the API turns into a 400 with per-field messages.
"""

import json
import math
import re
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.utils import timezone

from capture.models import Activity, ActivityKind, Lead, normalize_email

# Contact and firmographic fields a person or integration may set directly.
EDITABLE_FIELDS = (
    "email",
    "first_name",
    "last_name",
    "company",
    "job_title",
    "phone",
    "website",
    "country",
    "industry",
    "company_size",
    "attributes",
    "marketing_consent",
)

DUPLICATE_EMAIL_MESSAGE = "A lead with this email already exists."


def _duplicate_email_error() -> ValidationError:
    return ValidationError({"email": [ValidationError(DUPLICATE_EMAIL_MESSAGE, code="unique")]})


def _check_fields(fields: dict[str, Any]) -> None:
    unknown = set(fields) - set(EDITABLE_FIELDS)
    if unknown:
        # A programming error, not user input: callers pass only editable fields.
        raise TypeError(f"Not editable through lead services: {', '.join(sorted(unknown))}")


MAX_ATTRIBUTE_DEPTH = 10
_SURROGATE = re.compile("[\ud800-\udfff]")


def text_problem(value: str) -> str | None:
    """What makes a string unstorable (Postgres refuses NUL in text and jsonb, and a lone
    surrogate from a JSON "\ud800" escape is not encodable), or None."""
    if "\x00" in value:
        return "Null characters are not allowed."
    if _SURROGATE.search(value):
        return "Surrogate characters are not allowed."
    return None


def attributes_problem(value: Any) -> str | None:
    """What makes custom attributes unstorable, or None. A loop, not recursion: the JSON
    parser takes nesting deeper than a recursive walk here could follow."""
    pending = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if depth > MAX_ATTRIBUTE_DEPTH:
            return f"Custom attributes may nest at most {MAX_ATTRIBUTE_DEPTH} levels deep."
        if isinstance(item, str) and (problem := text_problem(item)):
            return problem
        if isinstance(item, float) and not math.isfinite(item):
            # 1e999 parses as infinity, which is not JSON and cannot be stored or sent.
            return "Numbers must be finite."
        if isinstance(item, dict):
            pending.extend((k, depth + 1) for k in item)
            pending.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            pending.extend((v, depth + 1) for v in item)
    return None


def validate_attributes(value: Any) -> None:
    if not isinstance(value, dict):
        raise ValidationError({"attributes": "Custom attributes must be an object of name: value."})
    for key, item in value.items():
        if not isinstance(key, str) or not key.strip() or len(key) > 100:
            raise ValidationError({"attributes": f"Invalid attribute name: {key!r}."})
        if not (item is None or isinstance(item, str | int | float | bool | list)):
            raise ValidationError(
                {"attributes": f"Attribute {key!r} must be text, a number, true/false or a list."}
            )
    if problem := attributes_problem(value):
        raise ValidationError({"attributes": problem})


def _full_clean(lead: Lead) -> None:
    # Constraints are checked by the database (the lower(email) one races otherwise);
    # full_clean here is for field validation: email format, lengths, choices.
    errors = {
        name: problem
        for name in EDITABLE_FIELDS
        if isinstance(value := getattr(lead, name), str) and (problem := text_problem(value))
    }
    if errors:
        raise ValidationError(errors)
    lead.full_clean(validate_constraints=False, validate_unique=False)
    validate_attributes(lead.attributes)


def _email_taken(email: str, *, exclude_pk: int | None = None) -> bool:
    qs = Lead.objects.with_email(email)
    if exclude_pk is not None:
        qs = qs.exclude(pk=exclude_pk)
    return qs.exists()


# What an activity does to its lead's row, as an assignment for an UPDATE of capture_lead
# that a caller writes anyway (two params: the activity's time, twice): the lead's
# last_activity_at moves forward, never back (a late-arriving older event).
LAST_ACTIVITY_ASSIGNMENT = (
    "last_activity_at = CASE WHEN last_activity_at < %s THEN %s ELSE last_activity_at END")


def activities_insert_statement(
    *, lead: Lead, entries: list[tuple[str, dict[str, Any], datetime]]
) -> tuple[str, list[Any]]:
    """The INSERT (``RETURNING id``) of activities (kind, data, occurred_at) on one lead,
    for a caller that sends it with other writes in one round trip (incremental
    scoring's). The caller also applies ``LAST_ACTIVITY_ASSIGNMENT`` to the lead's row in
    the same transaction and then calls ``activities_inserted`` with the ids."""
    from django.db import connection

    ops = connection.ops
    json_param = "CAST(%s AS jsonb)" if connection.vendor == "postgresql" else "%s"
    now = ops.adapt_datetimefield_value(timezone.now())
    values, params = [], []
    for kind, data, occurred_at in entries:
        values.append(f"(%s, %s, {json_param}, %s, %s)")
        params += [lead.pk, kind, json.dumps(data, cls=DjangoJSONEncoder),
                   ops.adapt_datetimefield_value(occurred_at), now]
    table = Activity._meta.db_table
    return (f"INSERT INTO {table} (lead_id, kind, data, occurred_at, created_at) "  # noqa: S608
            f"VALUES {', '.join(values)} RETURNING id", params)


def activities_inserted(*, lead: Lead, ids: list[int], latest: datetime) -> None:
    """After ``activities_insert_statement`` ran: the lead object's last_activity_at as
    the row now has it, and each activity's follow-up work queued on commit (as
    ``activity_record`` does)."""
    from capture.tasks import activity_process

    lead.last_activity_at = max(lead.last_activity_at, latest)
    for pk in ids:
        transaction.on_commit(lambda pk=pk: activity_process.delay(pk), robust=True)


def activity_record(
    *,
    lead: Lead,
    kind: str,
    data: dict[str, Any] | None = None,
    actor=None,
    occurred_at: datetime | None = None,
) -> Activity:
    """Append an activity to the lead's timeline and queue its follow-up work on commit."""
    from capture.tasks import activity_process

    occurred_at = occurred_at or timezone.now()
    activity = Activity.objects.create(
        lead=lead, kind=kind, data=data or {}, actor=actor, occurred_at=occurred_at
    )
    # A conditional update, so a late-arriving older event never moves the date back.
    Lead.objects.filter(pk=lead.pk, last_activity_at__lt=occurred_at).update(
        last_activity_at=occurred_at
    )
    lead.last_activity_at = max(lead.last_activity_at, occurred_at)
    # robust: if the broker is down, the write is already committed and must still answer
    # 2xx; the failure is logged and the outbox sweep queues the activity later.
    transaction.on_commit(lambda: activity_process.delay(activity.pk), robust=True)
    return activity


@transaction.atomic
def lead_create(*, actor=None, source: str = "manual", **fields: Any) -> Lead:
    """Create a lead by hand or through the API. Raises ValidationError on bad input,
    including a second lead for an email that differs only in case or spaces."""
    _check_fields(fields)
    fields["email"] = (fields.get("email") or "").strip()
    lead = Lead(source=source, **fields)
    if lead.marketing_consent:
        lead.consent_at = timezone.now()
    _full_clean(lead)
    if _email_taken(lead.email):
        raise _duplicate_email_error()
    try:
        # A savepoint, so a lost race on the unique index leaves the caller's
        # transaction usable and surfaces as the same per-field error.
        with transaction.atomic():
            lead.save()
    except IntegrityError as exc:
        if _email_taken(lead.email):
            raise _duplicate_email_error() from exc
        raise
    activity_record(
        lead=lead,
        kind=ActivityKind.LEAD_CREATED,
        actor=actor,
        data={"source": source, "fields": _present(lead, fields)},
    )
    return lead


def _present(lead: Lead, fields: dict[str, Any]) -> dict[str, Any]:
    values = {f: getattr(lead, f) for f in fields}
    return {f: _jsonable(v) for f, v in values.items() if v not in ("", None, {})}


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return value


@transaction.atomic
def lead_update(*, lead: Lead, actor=None, **fields: Any) -> Lead:
    """Change contact fields; records one lead_updated activity listing what changed."""
    _check_fields(fields)
    if "email" in fields:
        fields["email"] = (fields["email"] or "").strip()
    changes = {
        name: {"old": _jsonable(getattr(lead, name)), "new": _jsonable(value)}
        for name, value in fields.items()
        if getattr(lead, name) != value
    }
    if not changes:
        return lead
    saved = {name: getattr(lead, name) for name in [*fields, "consent_at"]}
    try:
        _apply_update(lead, fields, changes)
    except (ValidationError, IntegrityError):
        # Leave the caller's object as it was: a refused edit must not linger in memory
        # (a form re-rendering it, or a later save, would show or write refused values).
        for name, value in saved.items():
            setattr(lead, name, value)
        raise
    activity_record(
        lead=lead, kind=ActivityKind.LEAD_UPDATED, actor=actor, data={"changes": changes}
    )
    return lead


def _apply_update(lead: Lead, fields: dict[str, Any], changes: dict[str, Any]) -> None:
    for name, value in fields.items():
        setattr(lead, name, value)
    if "marketing_consent" in changes:
        lead.consent_at = timezone.now() if lead.marketing_consent else None
    _full_clean(lead)
    email_changed = "email" in changes and normalize_email(changes["email"]["old"]) != (
        normalize_email(lead.email)
    )
    if email_changed and _email_taken(lead.email, exclude_pk=lead.pk):
        raise _duplicate_email_error()
    try:
        with transaction.atomic():
            lead.save(update_fields=[*changes, "consent_at", "updated_at"])
    except IntegrityError as exc:
        if email_changed and _email_taken(lead.email, exclude_pk=lead.pk):
            raise _duplicate_email_error() from exc
        raise


def lead_delete(*, lead: Lead) -> None:
    """Delete a lead and its timeline (admins only; callers check the permission)."""
    lead.delete()
