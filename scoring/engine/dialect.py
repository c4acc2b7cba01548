"""The few places where Postgres and SQLite SQL differ, so the rescore, decay and
impact-preview statements are the same SQL on both (window functions, upserts,
UPDATE … FROM and FILTER exist in both; SQLite ≥ 3.38).

What differs: reading JSON (jsonb operators vs json_type/json_extract on text), ASCII
case folding, date arithmetic (SQLite keeps date-times as ISO text, and its date
functions round to milliseconds, so whole seconds are added to the text's first 19
characters and the microseconds are carried over as text), the window frame over time
("within W days": an interval on Postgres, integer microseconds since the epoch on
SQLite), temporary tables and advisory locks (Postgres only: SQLite has one writer).

Every value a user typed is a bind parameter (``%s``); only identifiers and numbers this
code made are written into the SQL.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import ImproperlyConfigured
from django.db import connection as default_connection

Sql = tuple[str, list]


@dataclass(frozen=True)
class JsonRef:
    """A value inside a JSON column: ``column`` (SQL, e.g. ``a.data``) at ``keys``."""

    column: str
    keys: tuple[str, ...]


class Dialect:
    vendor = ""

    def __init__(self, connection=None):
        self.connection = connection or default_connection

    # --- Text ---------------------------------------------------------------------------

    def fold(self, expr: str) -> str:
        """ASCII-only lower case, exactly as scoring.conditions.fold does in Python."""
        raise NotImplementedError

    def contains(self, haystack: str) -> str:
        """SQL that is true when ``haystack`` contains the next parameter."""
        raise NotImplementedError

    def starts_with(self, text: str) -> Sql:
        raise NotImplementedError

    def after_at(self, email: str) -> str:
        """What follows the first "@" of an address ("" when there is none)."""
        raise NotImplementedError

    def in_list(self, expr: str, values: list) -> Sql:
        if not values:
            return "(1 = 0)", []
        return f"({expr} IN ({', '.join(['%s'] * len(values))}))", list(values)

    # --- JSON -----------------------------------------------------------------------------

    def json_is(self, ref: JsonRef, json_type: str) -> Sql:
        """True when the value at ``ref`` is a JSON string/number/true/false."""
        raise NotImplementedError

    def json_text(self, ref: JsonRef) -> Sql:
        """The value as SQL text; only meaningful where json_is(ref, "string")."""
        raise NotImplementedError

    def json_number(self, ref: JsonRef) -> Sql:
        """The value as an SQL number; only evaluated where json_is(ref, "number")."""
        raise NotImplementedError

    def json_empty(self, ref: JsonRef) -> Sql:
        """True when the value is missing, null, "" or []."""
        raise NotImplementedError

    def json_value(self, ref: JsonRef) -> Sql:
        """The JSON value at ``ref`` as a value of its own (NULL when missing), which
        ``JsonRef(<that column>, ())`` then reads: extracted once per row, tested by
        several conditions."""
        raise NotImplementedError

    def json_object(self, pairs: list[tuple[str, str]]) -> str:
        """A JSON object from (key literal made by this code, SQL expression) pairs."""
        raise NotImplementedError

    def json_embed(self, expr: str) -> str:
        """A JSON column's value as a nested value in json_object()."""
        return expr

    def json_group(self, key: str, value: str, condition: str) -> str:
        """Aggregate: {key: value} for the rows where ``condition`` holds, or NULL."""
        raise NotImplementedError

    def json_true(self) -> str:
        return "true"

    def json_param(self) -> str:
        """A placeholder for JSON text written to a JSON column."""
        return "%s"

    def null_timestamp(self) -> str:
        """NULL as a date-time (UNION branches must agree on their columns' types)."""
        return "NULL"

    def empty_object(self) -> str:
        return "'{}'"

    # --- Time -------------------------------------------------------------------------------

    def add_seconds(self, timestamp: str, seconds: str) -> str:
        raise NotImplementedError

    def time_order(self, timestamp: str) -> str:
        """An ORDER BY key for a RANGE window frame of ``range_offset`` units."""
        return timestamp

    def range_offset(self, seconds: int) -> str:
        raise NotImplementedError

    def param_datetime(self, value: datetime):
        return value

    # --- Statements ---------------------------------------------------------------------

    def distinct(self, left: str, right: str) -> str:
        return f"({left} IS DISTINCT FROM {right})"

    def temp_table(self, name: str, select: str) -> str:
        raise NotImplementedError

    def temp_table_drop(self, name: str) -> str | None:
        return None

    def session_setup(self) -> list[str]:
        return []

    def advisory_lock(self, *, shared: bool) -> str | None:
        """SQL taking a transaction-level lock on (namespace %s, key %s), or None."""
        return None


class PostgresDialect(Dialect):
    vendor = "postgresql"

    def fold(self, expr: str) -> str:
        # lower() under the C collation changes ASCII letters only (and is fast).
        return f'lower(({expr}) COLLATE "C")'

    def contains(self, haystack: str) -> str:
        return f"(strpos({haystack}, %s) > 0)"

    def starts_with(self, text: str) -> Sql:
        return f"starts_with({text}, %s)", []

    def after_at(self, email: str) -> str:
        return (f"(CASE WHEN strpos({email}, '@') > 0 "
                f"THEN substr({email}, strpos({email}, '@') + 1) ELSE '' END)")

    def in_list(self, expr: str, values: list) -> Sql:
        if not values:
            return "(1 = 0)", []
        return f"({expr} = ANY(%s))", [list(values)]

    def _value(self, ref: JsonRef) -> Sql:
        return ref.column + "".join(" -> %s" for _ in ref.keys), list(ref.keys)

    def json_is(self, ref: JsonRef, json_type: str) -> Sql:
        value, params = self._value(ref)
        if json_type in ("true", "false"):
            return f"(({value}) = '{json_type}'::jsonb)", params
        return f"(jsonb_typeof({value}) = '{json_type}')", params

    def json_text(self, ref: JsonRef) -> Sql:
        if not ref.keys:
            return f"({ref.column} #>> '{{}}')", []
        head = ref.column + "".join(" -> %s" for _ in ref.keys[:-1])
        return f"({head} ->> %s)", list(ref.keys)

    def json_value(self, ref: JsonRef) -> Sql:
        return self._value(ref)

    def json_number(self, ref: JsonRef) -> Sql:
        value, params = self._value(ref)
        return f"(({value})::numeric)", params

    def json_empty(self, ref: JsonRef) -> Sql:
        value, params = self._value(ref)
        return (f"""coalesce(({value}) IN ('null'::jsonb, '""'::jsonb, '[]'::jsonb), true)""",
                params)

    def json_object(self, pairs: list[tuple[str, str]]) -> str:
        return "jsonb_build_object(" + ", ".join(f"'{k}', {v}" for k, v in pairs) + ")"

    def json_group(self, key: str, value: str, condition: str) -> str:
        return f"jsonb_object_agg({key}, {value}) FILTER (WHERE {condition})"

    def empty_object(self) -> str:
        return "'{}'::jsonb"

    def json_param(self) -> str:
        return "CAST(%s AS jsonb)"

    def null_timestamp(self) -> str:
        return "CAST(NULL AS timestamp with time zone)"

    def add_seconds(self, timestamp: str, seconds: str) -> str:
        return f"({timestamp} + ({seconds}) * interval '1 second')"

    def range_offset(self, seconds: int) -> str:
        return f"interval '{int(seconds)} seconds'"

    def temp_table(self, name: str, select: str) -> str:
        return f"CREATE TEMPORARY TABLE {name} ON COMMIT DROP AS {select}"

    def temp_table_drop(self, name: str) -> str:
        # Also dropped here, not only at commit: a caller's outer transaction (a test,
        # the demo data) may run several batches before it commits.
        return f"DROP TABLE IF EXISTS pg_temp.{name}"

    def session_setup(self) -> list[str]:
        # Sorts and hashes of a batch stay in memory; statements that run away fail
        # the batch (it is retried) rather than holding the scoring lock for ever.
        # No JIT (compiling costs more than it saves on statements of a second or two) and
        # no parallel workers (each would build the same hash tables again; two cores).
        return ["SET LOCAL work_mem = '256MB'", "SET LOCAL statement_timeout = '300s'",
                "SET LOCAL jit = off", "SET LOCAL max_parallel_workers_per_gather = 0"]

    def advisory_lock(self, *, shared: bool) -> str:
        return f"SELECT pg_advisory_xact_lock{'_shared' if shared else ''}(%s, %s)"


class SQLiteDialect(Dialect):
    vendor = "sqlite"

    def fold(self, expr: str) -> str:
        return f"lower({expr})"  # SQLite's lower() changes ASCII letters only

    def contains(self, haystack: str) -> str:
        return f"(instr({haystack}, %s) > 0)"

    def starts_with(self, text: str) -> Sql:
        # substr/length count characters, as Python's str does.
        return f"(substr({text}, 1, length(%s)) = %s)", []

    def after_at(self, email: str) -> str:
        return (f"(CASE WHEN instr({email}, '@') > 0 "
                f"THEN substr({email}, instr({email}, '@') + 1) ELSE '' END)")

    @staticmethod
    def _path(ref: JsonRef) -> str:
        return "$" + "".join(f'."{key}"' for key in ref.keys)

    def json_is(self, ref: JsonRef, json_type: str) -> Sql:
        types = {"string": "('text')", "number": "('integer', 'real')", "true": "('true')",
                 "false": "('false')"}[json_type]
        return f"(json_type({ref.column}, %s) IN {types})", [self._path(ref)]

    def json_text(self, ref: JsonRef) -> Sql:
        return f"json_extract({ref.column}, %s)", [self._path(ref)]

    def json_value(self, ref: JsonRef) -> Sql:
        # "->" (SQLite ≥ 3.38) gives the JSON text of the value, keeping its type.
        return f"({ref.column} -> %s)", [self._path(ref)]

    def json_number(self, ref: JsonRef) -> Sql:
        return f"json_extract({ref.column}, %s)", [self._path(ref)]

    def json_empty(self, ref: JsonRef) -> Sql:
        path = self._path(ref)
        col = ref.column
        return (f"coalesce(json_type({col}, %s) = 'null' "
                f"OR (json_type({col}, %s) = 'text' AND json_extract({col}, %s) = '') "
                f"OR (json_type({col}, %s) = 'array' AND json_array_length({col}, %s) = 0), "
                "true)", [path] * 5)

    def json_object(self, pairs: list[tuple[str, str]]) -> str:
        return "json_object(" + ", ".join(f"'{k}', {v}" for k, v in pairs) + ")"

    def json_embed(self, expr: str) -> str:
        return f"json({expr})"

    def json_true(self) -> str:
        return "json('true')"

    def json_group(self, key: str, value: str, condition: str) -> str:
        return f"json_group_object({key}, {value}) FILTER (WHERE {condition})"

    def add_seconds(self, timestamp: str, seconds: str) -> str:
        # "YYYY-MM-DD HH:MM:SS[.ffffff]": whole seconds added to the first 19 characters,
        # the fraction carried over unchanged (datetime() would round it to milliseconds).
        return (f"(datetime(substr({timestamp}, 1, 19), '+' || ({seconds}) || ' seconds') "
                f"|| substr({timestamp}, 20))")

    def time_order(self, timestamp: str) -> str:
        return (f"(unixepoch(substr({timestamp}, 1, 19)) * 1000000 "
                f"+ CAST(substr({timestamp} || '.000000', 21, 6) AS INTEGER))")

    def range_offset(self, seconds: int) -> str:
        return str(int(seconds) * 1_000_000)

    def param_datetime(self, value: datetime):
        return self.connection.ops.adapt_datetimefield_value(value)

    def distinct(self, left: str, right: str) -> str:
        return f"({left} IS NOT {right})"

    def temp_table(self, name: str, select: str) -> str:
        return f"CREATE TEMPORARY TABLE {name} AS {select}"

    def temp_table_drop(self, name: str) -> str:
        return f"DROP TABLE IF EXISTS temp.{name}"


# FULL JOIN (3.39) and the JSON "->" operator (3.38) are in the rescore's SQL.
SQLITE_MINIMUM = (3, 39, 0)


def dialect_for(connection=None) -> Dialect:
    connection = connection or default_connection
    if connection.vendor == "postgresql":
        return PostgresDialect(connection)
    if connection.vendor == "sqlite":
        if sqlite3.sqlite_version_info < SQLITE_MINIMUM:
            raise ImproperlyConfigured(
                f"Scoring needs SQLite {'.'.join(map(str, SQLITE_MINIMUM))} or later; this "
                f"Python has {sqlite3.sqlite_version}. Use a newer Python build, or Postgres.")
        return SQLiteDialect(connection)
    raise NotImplementedError(
        f"Scoring's SQL supports Postgres and SQLite, not {connection.vendor}")
