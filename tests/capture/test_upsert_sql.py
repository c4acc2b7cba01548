"""The lead upsert runs on every submission. psycopg re-parses a query on every execution
unless it is short enough to keep (its MAX_CACHED_STATEMENT_LENGTH bytes and
MAX_CACHED_STATEMENT_PARAMS parameters): a new Lead column can push the statement over,
costing each submission a fifth of a millisecond without failing anything else."""

import pytest
from psycopg import _queries

from capture.services.upsert import TEXT_COLUMNS, upsert_sql
from leadhub.db import PSYCOPG_CACHED_STATEMENT_LENGTH, PSYCOPG_CACHED_STATEMENT_PARAMS
from tests.factories import FormFactory


def test_the_upsert_stays_short_enough_for_psycopg_to_keep_its_parse():
    sql = upsert_sql("postgresql")

    assert len(sql.encode()) <= _queries.MAX_CACHED_STATEMENT_LENGTH, (
        f"{len(sql.encode())} bytes: shorten the statement (aliases, fewer CASEs)")
    assert sql.count("%s") <= _queries.MAX_CACHED_STATEMENT_PARAMS


def _submission_statement(check_form: bool) -> tuple[str, int]:
    """The statement of a submission that gives every lead value a form can ask for."""
    from django.db import connection
    from django.utils import timezone

    from capture.services.submissions import _accepted_sql, _lead_values
    from capture.services.upsert import lead_row

    now = timezone.now()
    row = lead_row(email="ann@example.com", values=dict.fromkeys(TEXT_COLUMNS, "x"),
                   attributes={"a": 1}, consent_text="Yes", attribution={}, now=now)
    exprs, _params = _lead_values({**row, "company_size": 10}, now, connection)
    sql = _accepted_sql(connection, exprs, check_form)
    return sql, sql.count("%s")


@pytest.mark.postgres
@pytest.mark.parametrize("check_form", [True, False])
def test_the_submission_statement_fits_the_limits_under_which_psycopg_keeps_its_parse(
    check_form,
):
    """leadhub.db raises psycopg's limits for this statement (one per submission)."""
    sql, params = _submission_statement(check_form)

    assert len(sql.encode()) <= _queries.MAX_CACHED_STATEMENT_LENGTH
    assert params <= _queries.MAX_CACHED_STATEMENT_PARAMS
    assert len(sql.encode()) <= PSYCOPG_CACHED_STATEMENT_LENGTH * 0.8, "room for columns"
    assert params <= PSYCOPG_CACHED_STATEMENT_PARAMS * 0.8


@pytest.mark.postgres
@pytest.mark.django_db
def test_psycopg_keeps_its_parse_of_the_submission_statement(client):
    """Fails if psycopg stops reading the limits leadhub.db raises."""
    form = FormFactory(with_fields=True)
    url = f"/api/v1/forms/{form.key}/submissions/"
    for email in ("ann@example.com", "bob@example.com"):  # the form loaded, then cached
        client.post(url, {"email": email}, content_type="application/json")
    before = _queries._query2pg_client.cache_info()

    client.post(url, {"email": "cy@example.com"}, content_type="application/json")

    after = _queries._query2pg_client.cache_info()
    assert after.misses == before.misses
    assert after.hits > before.hits
