"""Which database a read goes to; how the driver keeps its parse of a query; prepared
statements for the hottest one."""

import functools
from contextlib import contextmanager

from django.conf import settings

REPLICA = "replica"


def reporting_db() -> str:
    """The alias for reads that may lag a few seconds behind writes (dashboards,
    reports): the read replica when DATABASE_REPLICA_URL configures one, else default.
    Never for reads that decide a write."""
    return REPLICA if REPLICA in settings.DATABASES else "default"


# psycopg parses each query's text for its %s placeholders, and keeps the result (an LRU
# of 128) only for queries of at most 4,096 bytes and 50 parameters, so as not to fill it
# with one-off statements of ORM bulk inserts. The submission's one statement (lead
# upsert, submission and activity: capture.services.submissions) runs on every
# submission and is 4,900 bytes with 67 parameters: re-parsing it was 8 % of a
# submission's CPU. These limits fit it with room to spare; a bulk insert of more than
# 100 parameters is still not kept. tests/capture/test_upsert_sql.py checks the statement's
# parse is kept, so a psycopg that changes these internals fails a test, not silently.
PSYCOPG_CACHED_STATEMENT_LENGTH = 8192
PSYCOPG_CACHED_STATEMENT_PARAMS = 100


def psycopg_keep_longer_parses() -> None:
    try:
        from psycopg import _queries
    except ImportError:  # no psycopg (SQLite only)
        return
    if hasattr(_queries, "MAX_CACHED_STATEMENT_LENGTH"):
        _queries.MAX_CACHED_STATEMENT_LENGTH = max(
            _queries.MAX_CACHED_STATEMENT_LENGTH, PSYCOPG_CACHED_STATEMENT_LENGTH)
    if hasattr(_queries, "MAX_CACHED_STATEMENT_PARAMS"):
        _queries.MAX_CACHED_STATEMENT_PARAMS = max(
            _queries.MAX_CACHED_STATEMENT_PARAMS, PSYCOPG_CACHED_STATEMENT_PARAMS)


@contextmanager
def preparing_cursor(db):
    """A cursor on ``db`` whose statements are prepared on the server (Postgres, with
    prepared statements on: DB_PREPARED_STATEMENTS): parsed and planned once per
    connection and statement, then only executed. Django's own cursor otherwise. It is
    Django's cursor wrapper either way, so the health check, query logging, execute
    wrappers and error translation all apply. For statements run very often with the
    same text (a generic plan must suit every parameter value): the submission's one
    statement, where it took Postgres' CPU for a submission from 0.9 to 0.4 ms."""
    with db.cursor() as cursor:
        # When Django logs queries (DEBUG, CaptureQueriesContext), unprepared: its log
        # reads the statement back from the driver, which has no text for an execution
        # of a prepared one.
        if (db.vendor != "postgresql" or db.queries_logged
                or db.connection.prepare_threshold is None):
            yield cursor
            return
        # CursorWrapper.cursor is the driver's cursor it wraps: this one, for the block.
        client, cursor.cursor = cursor.cursor, _preparing_cursor_class()(db.connection)
        try:
            yield cursor
        finally:
            cursor.cursor.close()
            cursor.cursor = client


@functools.cache
def _preparing_cursor_class():
    from django.db.backends.postgresql.base import ServerBindingCursor

    class PreparingCursor(ServerBindingCursor):
        """Django's server-binding psycopg cursor, preparing every statement."""

        def execute(self, query, params=None, *, prepare=None, binary=None):
            return super().execute(query, params, prepare=True, binary=binary)

    return PreparingCursor
