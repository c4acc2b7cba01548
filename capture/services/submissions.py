"""A form submission arrived: the one service the HTML post, the JSON API and the embed
all call, and the only code that queues a submission's follow-up work.

In one transaction it stores the raw Submission, upserts the Lead by email and appends
a ``form_submitted`` Activity; on commit the activity goes to Celery (scoring,
nurture triggers, notification and double-opt-in emails, linking the visitor's
earlier page views). A 2xx answer means all of it is committed, whatever the state of
the broker: the outbox sweep re-queues activities whose task never ran.

Statements for a good submission on Postgres: the idempotency lookup (only with a key)
and one statement that upserts the lead and inserts the submission and the activity, and
commits by itself (no BEGIN and COMMIT round trips). A caller that took the form from
its per-process cache without checking it (``form_unchecked``: the public JSON and HTML
posts, through capture.public.posted_to_live_form) has that
statement check it too: nothing is written, and FormChanged raised, if the form was
changed, unpublished or deleted since. Elsewhere (SQLite, spam) the upsert and the two
inserts run in one transaction. With the form looked up by the caller, at most 6
statements and one commit.

Everything a post carries is checked before the transaction opens (the form's fields by
capture.validation, the names it ignores, the visitor id, the page URL), so a post is
refused with a 400 or stored whole: nothing unstorable reaches an INSERT.
"""

import hashlib
import json
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

from django.db import DEFAULT_DB_ALIAS, IntegrityError, connections, transaction
from django.utils import timezone

from capture.cache import cache_get, cache_set
from capture.models import (
    Activity,
    ActivityKind,
    DisposablePolicy,
    Form,
    FormStatus,
    Lead,
    Submission,
)
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
    storable_text,
)
from leadhub.db import preparing_cursor

from .tracking import visitor_unsign
from .upsert import lead_row, lead_upsert_from_submission, upsert_statement

DISPOSABLE_REFUSED = "Please use a permanent email address (not a disposable one)."
MAX_KEY_LENGTH = 200


class IdempotencyConflict(Exception):
    """The Idempotency-Key was used before with a different body (HTTP 422)."""


class FormChanged(Exception):
    """The form, taken unchecked from a cache, was changed, unpublished or deleted since:
    nothing was stored. Load the form again and judge the post by what it is now."""


@dataclass(frozen=True)
class SubmissionContext:
    """Everything about a post that is not the form's fields."""

    channel: str
    ip: str | None = None
    user_agent: str = ""
    page_url: str = ""
    referrer: str = ""
    idempotency_key: str | None = None
    # The signed visitor id from LeadHub's own cookie, where the post came to LeadHub's
    # domain (a posted _lh_vid, from the embed, comes first).
    visitor: str = ""


@dataclass
class SubmissionOutcome:
    submission: Submission
    lead_id: int | None  # None for spam
    replayed: bool = False  # an earlier answer, for a retried Idempotency-Key
    ignored_fields: list[str] = field(default_factory=list)

    @property
    def is_spam(self) -> bool:
        return self.submission.is_spam

    @property
    def answer_lead_id(self) -> int | None:
        """The lead id to answer the post with: the lead's, or for a post filed as spam
        the decoy it was given (see _decoy_lead_id). A retry gets the first answer again,
        so a decoy stays the answer after someone marks the submission "not spam"."""
        decoy = self.submission.decoy_lead_id
        return decoy if decoy is not None else self.lead_id


def request_fingerprint(data: dict[str, Any]) -> str:
    """SHA-256 of a post's fields as parsed, in a canonical form (names sorted, compact
    JSON), to tell a retry from a different post reusing an Idempotency-Key. The parsed
    fields, not the raw body: a multipart body has a new random boundary on every try,
    and JSON may come with its keys in another order or other spacing."""
    try:
        canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    except RecursionError:
        # A value nested deeper than the encoder follows: only possible under a name
        # that is not one of the form's fields (those passed validation already), whose
        # value is never stored. Its name still counts.
        canonical = json.dumps(sorted(data))
    # ensure_ascii (the default) escapes lone surrogates, so this always encodes.
    return hashlib.sha256(canonical.encode()).hexdigest()


def _meta(data: dict[str, Any], name: str) -> str:
    value = data.get(name, "")
    if isinstance(value, list | tuple):
        value = value[0] if value else ""
    return value if isinstance(value, str) else ""


def submission_record(
    *,
    form: Form,
    fields,
    data: dict[str, Any],
    context: SubmissionContext,
    form_unchecked: bool = False,
) -> SubmissionOutcome:
    """Validate, judge and store one post to ``form`` (live, with ``fields`` its FormField
    rows). Raises SubmissionInvalid (per-field errors, nothing stored) or
    IdempotencyConflict. ``form_unchecked``: ``form`` comes from a cache and may be out
    of date; it is checked as the post is stored, and FormChanged raised if it is."""
    page_url = _meta(data, PAGE_URL_FIELD) or context.page_url
    referrer = _meta(data, REFERRER_FIELD) or context.referrer
    cleaned = clean_submission(fields, data, page_url=page_url)
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
    key = storable_text(context.idempotency_key or "")[:MAX_KEY_LENGTH] or None
    # Only a visitor id LeadHub signed goes into the activity (the follow-up task checks
    # it again before linking): anything else a post calls its visitor id is dropped.
    visitor = _meta(data, VISITOR_FIELD) or context.visitor
    visitor = visitor if visitor_unsign(visitor) is not None else ""
    fingerprint = request_fingerprint(data) if key is not None else ""
    db = connections[DEFAULT_DB_ALIAS]
    one_statement = not reason and db.vendor == "postgresql"
    if form_unchecked and not one_statement and not _form_unchanged(form):
        raise FormChanged(form.key)
    # The one statement commits by itself. Inside a caller's transaction a savepoint
    # keeps a failed one (a raced Idempotency-Key) from breaking that transaction.
    atomic = nullcontext() if one_statement and not db.in_atomic_block else transaction.atomic()
    try:
        with atomic:
            return _store(
                form=form,
                cleaned=cleaned,
                context=context,
                key=key,
                fingerprint=fingerprint,
                spam=reason,
                variant_id=variant_id,
                attribution=attribution_from(page_url, referrer),
                visitor=visitor,
                one_statement=one_statement,
                check_form=form_unchecked,
            )
    except IntegrityError:
        # Two requests with one Idempotency-Key raced past the lookup; the unique
        # (form, key) index let the first one in. Answer as the first did.
        if key is None:
            raise
        return _replay(form, key, fingerprint)


def _form_unchanged(form: Form) -> bool:
    return Form.objects.filter(
        pk=form.pk, status=FormStatus.LIVE, updated_at=form.updated_at
    ).exists()


def _replay(form: Form, key: str, fingerprint: str) -> SubmissionOutcome:
    first = Submission.objects.get(form=form, idempotency_key=key)
    if first.request_hash != fingerprint:
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
    fingerprint: str,
    spam: str,
    variant_id: int | None,
    attribution: dict[str, str],
    visitor: str,
    one_statement: bool,
    check_form: bool,
) -> SubmissionOutcome:
    if key is not None and Submission.objects.filter(form=form, idempotency_key=key).exists():
        return _replay(form, key, fingerprint)

    now = timezone.now()
    submission = Submission(
        form=form,
        variant_id=variant_id,
        channel=context.channel,
        data=cleaned.values,
        ignored_fields=cleaned.ignored,
        attribution=attribution,
        ip=context.ip,
        user_agent=storable_text(context.user_agent)[:500],
        consent_given=cleaned.consent_given,
        consent_text=form.consent_text if cleaned.consent_given else "",
        consent_version=form.consent_version if cleaned.consent_given else 0,
        is_spam=bool(spam),
        spam_reason=spam[:200],
        idempotency_key=key,
        request_hash=fingerprint,
        created_at=now,
    )
    if spam:
        # Spam creates no lead and triggers nothing; it waits in the Spam folder. Its
        # answer looks like any other (bots learn nothing): see _decoy_lead_id.
        submission.decoy_lead_id = _decoy_lead_id(cleaned.email)
        submission.save(force_insert=True)
        return SubmissionOutcome(submission=submission, lead_id=None,
                                 ignored_fields=cleaned.ignored)

    lead = {
        "email": cleaned.email,
        "values": cleaned.lead_values,
        "attributes": cleaned.attributes,
        "consent_text": form.consent_text if cleaned.consent_given else None,
        "attribution": attribution,
        "now": now,
    }
    if one_statement:
        activity_id = _accepted_insert(
            submission, lead, form=form, visitor=visitor, check_form=check_form
        )
    else:
        upserted = lead_upsert_from_submission(**lead)
        submission.lead_id = upserted.lead_id
        activity_id = _submission_and_activity_insert(
            submission,
            _form_submitted_data(
                form=form, submission=submission, new_lead=upserted.created, visitor=visitor
            ),
            now=now,
        )
    submission._state.adding = False
    submission._state.db = DEFAULT_DB_ALIAS
    # Sent with others from a background thread (capture.followups); robust: the
    # submission is committed whatever happens next, and the outbox sweep queues this
    # activity later if this fails.
    transaction.on_commit(lambda: _follow_up_queue(activity_id), robust=True)
    return SubmissionOutcome(
        submission=submission, lead_id=submission.lead_id, ignored_fields=cleaned.ignored
    )


def _follow_up_queue(activity_id: int) -> None:
    from capture.followups import follow_ups

    follow_ups.add(activity_id)


# --- Decoy lead ids for spam -------------------------------------------------------------
#
# A post filed as spam is answered 201 {"lead": <id>, "submission": <id>} like any other,
# so a bot cannot learn which of its tricks work. Its lead id must look like a real one
# (an integer in the range real ids are in, growing as they do), name no lead now or
# later (an integrator acting on the id would otherwise touch a real lead for a bot's
# post), and, for the same address, stay the same (a real lead's id does). The scheme:
#
# - the id is taken from the lead table's own id sequence, as an INSERT would take it,
#   and never used: no lead ever gets it, and it is exactly the id the next new lead
#   would have got (Postgres: nextval, which no rollback returns; SQLite: the
#   AUTOINCREMENT counter in sqlite_sequence, which an INSERT never goes below);
# - it is kept on the submission (Submission.decoy_lead_id), so a retry with the same
#   Idempotency-Key gets the same answer, and in the cache per address for a day, so
#   the same address flagged again gets the same id (cache down: a fresh one).
#
# What it cannot hide: an address that is already a real lead's gets a decoy, not that
# lead's id (the id must name no real lead), so a bot that got a genuine answer for an
# address before could tell. Marking the submission "not spam" creates the real lead
# with an id of its own.
DECOY_CACHE_SECONDS = 24 * 3600


def _decoy_lead_id(email: str) -> int:
    cache_key = f"spam-decoy:{hashlib.sha256(email.strip().lower().encode()).hexdigest()}"
    decoy = cache_get(cache_key)
    if isinstance(decoy, int) and not isinstance(decoy, bool):
        return decoy
    decoy = _lead_id_burn()
    # After the commit: on SQLite a rollback gives the id back to the table.
    transaction.on_commit(lambda: cache_set(cache_key, decoy, DECOY_CACHE_SECONDS))
    return decoy


def _lead_id_burn() -> int:
    """Take the next id of the lead table's id sequence, so no lead ever gets it."""
    db = connections[DEFAULT_DB_ALIAS]
    table = Lead._meta.db_table
    with db.cursor() as cursor:
        if db.vendor == "postgresql":
            cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, %s))",
                           [db.ops.quote_name(table), Lead._meta.pk.column])
            return cursor.fetchone()[0]
        if db.vendor == "sqlite":
            # An AUTOINCREMENT table's next id is one above sqlite_sequence's seq.
            cursor.execute("UPDATE sqlite_sequence SET seq = seq + 1 WHERE name = %s "
                           "RETURNING seq", [table])
            row = cursor.fetchone()
            if row is None:  # no lead was ever inserted: the counter has no row yet
                q = db.ops.quote_name
                cursor.execute(
                    "INSERT INTO sqlite_sequence (name, seq) SELECT %s, "  # noqa: S608
                    f"COALESCE(MAX({q(Lead._meta.pk.column)}), 0) + 1 FROM {q(table)} "
                    "RETURNING seq", [table])
                row = cursor.fetchone()
            return row[0]
    raise NotImplementedError(f"No decoy lead ids on {db.vendor}")


def _form_submitted_data(*, form, submission, new_lead, visitor) -> dict[str, Any]:
    """A form_submitted activity's data (docs/activities.md)."""
    return {
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
    }


# The writes of an accepted submission, without the ORM's save machinery (a fifth of a
# submission's CPU): the same column values, each prepared by its model field as a save
# would (defaults, JSON, time zones). On Postgres, one data-modifying statement:
#
#   WITH f AS (the form is still live and unchanged: SELECT 1 FROM capture_form …),
#        n AS (SELECT <the submission's time> AS t),
#        l AS (the lead upsert: INSERT … SELECT … FROM n WHERE EXISTS (SELECT 1 FROM f)
#              ON CONFLICT (lower(email)) DO UPDATE … RETURNING id, created_at),
#        s AS (INSERT INTO capture_submission … SELECT …, l.id, … FROM l, n),
#        a AS (INSERT INTO capture_activity … SELECT …, l.id, <data> … FROM l, s, n)
#   SELECT l.id, l.created_at = n.t, s.id, a.id FROM l, s, a, n
#
# (f only when the caller's form came unchecked from its cache). The activity's data
# gets the submission's id and whether the lead is new there; jsonb keeps no key order,
# so this stores what setting them in Python would. Every time is n.t, and a lead column
# the submission does not set whose default is a constant is written as that literal:
# parameters are a good part of the statement's cost (each prepared by its field, then
# quoted by the driver), and this has 35 instead of 67. Elsewhere, the upsert and two
# INSERTs. Built once per process and shape of the lead's row (Postgres), or per vendor.
_accepted_sql_cache: dict[tuple[tuple[str, ...], bool], str] = {}
_insert_sql: dict[str, tuple[str, str]] = {}
_MISSING = object()


def _insert_select(db, model, source: str | None, **special: str) -> str:
    """INSERT INTO <model's table> (<columns but the key>) SELECT <%s or special[attname]
    per column> FROM <source>; VALUES (…) without a source."""
    q = db.ops.quote_name
    fields = _columns(model)
    columns = ", ".join(q(f.column) for f in fields)
    values = ", ".join(special.get(f.attname, "%s") for f in fields)
    # Only the model's own names go into the text; every value is a parameter.
    rows = f"VALUES ({values})" if source is None else f"SELECT {values} FROM {source}"  # noqa: S608
    return f"INSERT INTO {q(model._meta.db_table)} ({columns}) {rows}"


def _literal(value) -> str | None:
    """SQL for a model default that is a constant (None, a bool, a number, a string);
    None for any other."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return "'" + str(value).replace("'", "''") + "'"
    return None


def _lead_values(row: dict[str, Any], now, db) -> tuple[tuple[str, ...], list[Any]]:
    """The lead row's SQL, column by column ("%s", "n.t" or a default's literal), and
    the parameters of its "%s"."""
    exprs: list[str] = []
    params: list[Any] = []
    for f in _columns(Lead):
        value = row.get(f.attname, _MISSING)
        if value is now:
            exprs.append("n.t")
            continue
        if value is _MISSING:
            value = f.get_default()
            literal = None if callable(f.default) else _literal(value)
            if literal is not None:
                exprs.append(literal)
                continue
        exprs.append("%s")
        params.append(f.get_db_prep_save(value, db))
    return tuple(exprs), params


def _accepted_sql(db, lead_exprs: tuple[str, ...], check_form: bool) -> str:
    key = (lead_exprs, check_form)
    if key not in _accepted_sql_cache:
        q = db.ops.quote_name
        form_check, only_if = "", ""
        if check_form:
            pk, status, updated_at = (q(Form._meta.get_field(name).column)
                                      for name in ("id", "status", "updated_at"))
            form_check = (f"f AS (SELECT 1 FROM {q(Form._meta.db_table)} "  # noqa: S608
                          f"WHERE {pk} = %s AND {status} = %s AND {updated_at} = %s), ")
            only_if = " WHERE EXISTS (SELECT 1 FROM f)"
        lead = upsert_statement(
            db, [f.column for f in _columns(Lead)],
            source=f"SELECT {', '.join(lead_exprs)} FROM n{only_if}",  # noqa: S608
        )
        submission = _insert_select(db, Submission, "l, n", lead_id="l.id",
                                    created_at="n.t")
        activity = _insert_select(
            db, Activity, "l, s, n", lead_id="l.id", kind=_literal(ActivityKind.FORM_SUBMITTED),
            actor_id="NULL", occurred_at="n.t", created_at="n.t", processed_at="NULL",
            data="%s::jsonb || jsonb_build_object('submission', s.id, "
                 "'new_lead', l.created_at = n.t)",
        )
        _accepted_sql_cache[key] = (
            f"WITH {form_check}n AS (SELECT %s::timestamptz AS t), l AS ({lead}), "  # noqa: S608
            f"s AS ({submission} RETURNING id), a AS ({activity} RETURNING id) "
            "SELECT l.id, l.created_at = n.t, s.id, a.id FROM l, s, a, n"
        )
    return _accepted_sql_cache[key]


def _accepted_insert(submission: Submission, lead: dict[str, Any], *, form: Form,
                     visitor: str, check_form: bool) -> int:
    """Postgres: upsert the lead (``lead``: lead_upsert_from_submission's arguments),
    insert ``submission`` (unsaved; it gets its id and lead) and its form_submitted
    activity in one statement; the activity's id. FormChanged (and nothing written)
    when ``check_form`` finds the form changed."""
    # The connection itself, not django.db.connection: every attribute read through that
    # proxy is a thread-local lookup, and preparing the values reads dozens.
    db = connections[DEFAULT_DB_ALIAS]
    now = lead["now"]
    params: list[Any] = []
    if check_form:
        updated_at = Form._meta.get_field("updated_at")
        params += [form.pk, FormStatus.LIVE.value,
                   updated_at.get_db_prep_save(form.updated_at, db)]
    params.append(Lead._meta.get_field("created_at").get_db_prep_save(now, db))
    lead_exprs, lead_params = _lead_values(lead_row(**lead), now, db)
    params += lead_params
    # What a save does to the instance: pre_save (auto_now_add sets created_at), then
    # each value prepared by its field.
    submission.created_at = now
    params += [f.get_db_prep_save(f.pre_save(submission, True), db)
               for f in _columns(Submission) if f.attname not in ("lead_id", "created_at")]
    data = _form_submitted_data(form=form, submission=submission, new_lead=None,
                                visitor=visitor)
    params.append(Activity._meta.get_field("data").get_db_prep_save(data, db))
    with preparing_cursor(db) as cursor:
        cursor.execute(_accepted_sql(db, lead_exprs, check_form), params)
        row = cursor.fetchone()
    if row is None:
        raise FormChanged(form.key)
    submission.lead_id, _created, submission.pk, activity_id = row
    return activity_id


def _insert_statements(db) -> tuple[str, str]:
    """Not Postgres: the submission's INSERT and the activity's."""
    if db.vendor not in _insert_sql:
        _insert_sql[db.vendor] = (_insert_select(db, Submission, None),
                                  _insert_select(db, Activity, None))
    return _insert_sql[db.vendor]


_model_columns: dict[type, list] = {}


def _columns(model) -> list:
    if model not in _model_columns:
        _model_columns[model] = [f for f in model._meta.concrete_fields if not f.primary_key]
    return _model_columns[model]


def _activity_params(values: dict[str, Any], db) -> list[Any]:
    """An Activity's column values as a save would prepare them: given values, else
    the field's default; auto_now(_add) fields get the current time."""
    params = []
    for f in _columns(Activity):
        if getattr(f, "auto_now_add", False) or getattr(f, "auto_now", False):
            value = timezone.now()
        else:
            value = values[f.attname] if f.attname in values else f.get_default()
        params.append(f.get_db_prep_save(value, db))
    return params


def _submission_and_activity_insert(submission: Submission, data: dict[str, Any], *,
                                    now) -> int:
    """Not Postgres: insert ``submission`` (an unsaved instance with its lead, which gets
    its id) and its form_submitted activity (``data``, whose "submission" gets the new
    id); the activity's id."""
    db = connections[DEFAULT_DB_ALIAS]
    submission_params = [
        f.get_db_prep_save(f.pre_save(submission, True), db) for f in _columns(Submission)
    ]
    activity = {"lead_id": submission.lead_id, "kind": ActivityKind.FORM_SUBMITTED,
                "occurred_at": now, "actor_id": None}
    submission_sql, activity_sql = _insert_statements(db)
    with db.cursor() as cursor:
        cursor.execute(submission_sql, submission_params)
        submission.pk = cursor.lastrowid
        data["submission"] = submission.pk
        cursor.execute(activity_sql, _activity_params({**activity, "data": data}, db))
        return cursor.lastrowid


def _activity_queued(*, lead_id, submission, form, new_lead, visitor, now) -> Activity:
    from capture.tasks import activity_process

    activity = Activity.objects.create(
        lead_id=lead_id,
        kind=ActivityKind.FORM_SUBMITTED,
        occurred_at=now,
        data=_form_submitted_data(
            form=form, submission=submission, new_lead=new_lead, visitor=visitor
        ),
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
