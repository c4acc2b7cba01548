"""Which database a read goes to, and how the driver keeps its parse of a query."""

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
