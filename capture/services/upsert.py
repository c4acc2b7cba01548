"""Create-or-update a lead from a form submission in one SQL statement.

``INSERT … ON CONFLICT (lower(email)) DO UPDATE``: the unique lower(email) index decides
between insert and update inside the database, so twenty concurrent submissions for
one email in different case give one lead (no "SELECT, then INSERT" window), and a
submission costs one statement for its lead whether the lead is new or known.

What the update does is the form-submission rule: new non-empty values replace old
ones, blanks never erase what is known; custom attributes merge; first-touch
attribution is kept (or filled when the lead had none), last-touch is replaced;
consent is only ever given here, never withdrawn.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from django.db import DEFAULT_DB_ALIAS, connections

from capture.models import Lead

TABLE = Lead._meta.db_table
ATTRIBUTION = Lead.ATTRIBUTION_FIELDS
# Text columns a submission may fill; an empty value keeps what the lead has.
TEXT_COLUMNS = ("first_name", "last_name", "company", "job_title", "phone", "website",
                "country", "industry")


@dataclass(frozen=True)
class UpsertResult:
    lead_id: int
    created: bool


def lead_source_from(attribution: dict[str, str]) -> str:
    """A new lead's source: its utm_source, else the host that referred the visitor to
    the page, else "direct"."""
    if attribution.get("utm_source"):
        return attribution["utm_source"][:200]
    referrer = attribution.get("referrer", "")
    host = urlsplit(referrer).hostname if referrer else ""
    return (host or "direct")[:200]


# The existing row's alias in the statement. A short one keeps the statement under
# psycopg's 4,096-byte limit for caching its parsing of a query (psycopg._queries
# MAX_CACHED_STATEMENT_LENGTH): with the table's name it was 4,600 and parsed anew for
# every submission.
ROW = "l"


def _sql(columns: list[str], vendor: str, *, source: str | None = None) -> str:
    """The statement, returning (id, created): the row is VALUES of one parameter per
    column, then the time that tells an insert from an update. ``source``: the row's SQL
    instead ("SELECT … FROM … WHERE …"); the statement then returns (id, created_at),
    and its caller tells them apart."""
    def keep_unless_blank(col: str) -> str:
        return f"{col} = COALESCE(NULLIF(EXCLUDED.{col}, ''), {ROW}.{col})"

    no_first_touch = " AND ".join(
        f"{ROW}.first_{a} = ''" for a in ("utm_source", "referrer", "landing_url")
    )
    has_last_touch = "EXCLUDED.last_landing_url <> '' OR EXCLUDED.last_utm_source <> ''"
    if vendor == "postgresql":
        merge_attributes = f"{ROW}.attributes || EXCLUDED.attributes"
        later = f"GREATEST({ROW}.last_activity_at, EXCLUDED.last_activity_at)"
        conflict = "(lower(email))"
    else:  # SQLite
        merge_attributes = f"json_patch({ROW}.attributes, EXCLUDED.attributes)"
        later = f"max({ROW}.last_activity_at, EXCLUDED.last_activity_at)"
        conflict = "(lower(email))"
    updates = [
        *(keep_unless_blank(col) for col in TEXT_COLUMNS),
        f"company_size = COALESCE(EXCLUDED.company_size, {ROW}.company_size)",
        f"attributes = {merge_attributes}",
        f"marketing_consent = {ROW}.marketing_consent OR EXCLUDED.marketing_consent",
        *(
            f"{col} = CASE WHEN EXCLUDED.marketing_consent THEN EXCLUDED.{col} "
            f"ELSE {ROW}.{col} END"
            for col in ("consent_at", "consent_text")
        ),
        *(
            f"first_{a} = CASE WHEN {no_first_touch} THEN EXCLUDED.first_{a} "
            f"ELSE {ROW}.first_{a} END"
            for a in ATTRIBUTION
        ),
        *(
            f"last_{a} = CASE WHEN {has_last_touch} THEN EXCLUDED.last_{a} "
            f"ELSE {ROW}.last_{a} END"
            for a in ATTRIBUTION
        ),
        f"last_activity_at = {later}",
        "updated_at = EXCLUDED.updated_at",
    ]
    # created_at is set only by an insert: equal to ours means this call created it.
    returning = "id, created_at"
    if source is None:
        source = f"VALUES ({', '.join(['%s'] * len(columns))})"
        returning = "id, (created_at = %s)"
    # Only the model's own column names go into the text; every value is a parameter.
    return (
        f"INSERT INTO {TABLE} AS {ROW} ({', '.join(columns)}) {source} "
        f"ON CONFLICT {conflict} DO UPDATE SET {', '.join(updates)} RETURNING {returning}"
    )


_sql_cache: dict[tuple[str, tuple[str, ...], str | None], str] = {}


def upsert_sql(vendor: str) -> str:
    """The upsert statement for the Lead table as it is now, on this database vendor.
    psycopg keeps its parse of a query only for queries of at most 4,096 bytes and 50
    parameters; this one runs on every submission, so it must stay within both
    (tests/capture/test_upsert_sql.py checks)."""
    columns = [f.column for f in Lead._meta.concrete_fields if not f.primary_key]
    return _sql(columns, vendor)


def lead_row(
    *,
    email: str,
    values: dict[str, Any],
    attributes: dict[str, Any],
    consent_text: str | None,
    attribution: dict[str, str],
    now: datetime,
) -> dict[str, Any]:
    """The lead's values a submission gives, by attname (the other columns take their
    defaults); every time in it is ``now`` itself."""
    row: dict[str, Any] = {
        "email": email.strip(),
        **values,
        "attributes": attributes,
        "source": lead_source_from(attribution),
        "created_at": now,
        "updated_at": now,
        "last_activity_at": now,
        "stage_changed_at": now,
    }
    if consent_text is not None:
        row.update(marketing_consent=True, consent_at=now, consent_text=consent_text)
    for a in ATTRIBUTION:
        row[f"first_{a}"] = row[f"last_{a}"] = attribution.get(a, "")
    return row


def upsert_statement(db, columns: list[str], *, source: str | None = None) -> str:
    """The upsert for these columns on ``db``'s vendor, built once per process."""
    key = (db.vendor, tuple(columns), source)
    if key not in _sql_cache:
        _sql_cache[key] = _sql(columns, db.vendor, source=source)
    return _sql_cache[key]


def lead_upsert_from_submission(**submitted: Any) -> UpsertResult:
    """Insert the lead for the submitted email or update the existing one (see the
    module text). ``submitted``: lead_row's arguments: ``values`` are clean Lead field
    values (capture.validation); ``consent_text`` is the wording agreed to, or None when
    consent was not given."""
    # The connection itself, not django.db.connection: every attribute read through that
    # proxy is a thread-local lookup, and preparing the values reads dozens.
    db = connections[DEFAULT_DB_ALIAS]
    now = submitted["now"]
    row = lead_row(**submitted)
    fields = [f for f in Lead._meta.concrete_fields if not f.primary_key]
    columns = [f.column for f in fields]
    params = []
    for f in fields:
        value = row[f.attname] if f.attname in row else f.get_default()
        params.append(f.get_db_prep_save(value, db))
    params.append(fields[columns.index("created_at")].get_db_prep_save(now, db))
    with db.cursor() as cursor:
        cursor.execute(upsert_statement(db, columns), params)
        lead_id, created = cursor.fetchone()
    return UpsertResult(lead_id=lead_id, created=bool(created))
