"""The lead upsert runs on every submission. psycopg re-parses a query on every execution
unless it is short enough to keep (its MAX_CACHED_STATEMENT_LENGTH bytes and
MAX_CACHED_STATEMENT_PARAMS parameters): a new Lead column can push the statement over,
costing each submission a fifth of a millisecond without failing anything else."""

from psycopg import _queries

from capture.services.upsert import upsert_sql


def test_the_upsert_stays_short_enough_for_psycopg_to_keep_its_parse():
    sql = upsert_sql("postgresql")

    assert len(sql.encode()) <= _queries.MAX_CACHED_STATEMENT_LENGTH, (
        f"{len(sql.encode())} bytes: shorten the statement (aliases, fewer CASEs)")
    assert sql.count("%s") <= _queries.MAX_CACHED_STATEMENT_PARAMS
