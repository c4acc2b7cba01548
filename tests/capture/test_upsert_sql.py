"""The lead upsert runs on every submission. psycopg re-parses a query on every execution
unless it is short enough to keep (its MAX_CACHED_STATEMENT_LENGTH bytes and
MAX_CACHED_STATEMENT_PARAMS parameters): a new Lead column can push the statement over,
costing each submission a fifth of a millisecond without failing anything else."""

import pytest
from psycopg import _queries

from capture.models import Lead
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


def _parses() -> tuple[int, int]:
    """psycopg's parse caches (server-side binding's, which prepared statements use, and
    client-side binding's): hits, misses."""
    infos = [_queries._query2pg.cache_info(), _queries._query2pg_client.cache_info()]
    return sum(i.hits for i in infos), sum(i.misses for i in infos)


@pytest.mark.postgres
@pytest.mark.django_db
def test_psycopg_keeps_its_parse_of_the_submission_statement(client):
    """Fails if psycopg stops reading the limits leadhub.db raises."""
    form = FormFactory(with_fields=True)
    url = f"/api/v1/forms/{form.key}/submissions/"
    for email in ("ann@example.com", "bob@example.com"):  # the form loaded, then cached
        client.post(url, {"email": email}, content_type="application/json")
    hits, misses = _parses()

    client.post(url, {"email": "cy@example.com"}, content_type="application/json")

    assert _parses()[1] == misses
    assert _parses()[0] > hits


def _prepared_submission_statements() -> list[tuple[int, int]]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT generic_plans, custom_plans FROM pg_prepared_statements "
                       "WHERE statement LIKE 'WITH f AS (SELECT 1 FROM %%capture_lead%%'")
        return cursor.fetchall()


@pytest.mark.postgres
@pytest.mark.django_db
def test_the_submission_statement_is_prepared_once_and_then_only_executed(client):
    """Parsing and planning it was most of a submission's Postgres time."""
    form = FormFactory(with_fields=True)
    url = f"/api/v1/forms/{form.key}/submissions/"
    for n in range(8):
        response = client.post(url, {"email": f"lead-{n % 3}@example.com"},
                               content_type="application/json")
        assert response.status_code == 201

    prepared = _prepared_submission_statements()
    assert len(prepared) == 1  # the first post loaded the form; the other 7 used this
    generic, custom = prepared[0]
    assert generic + custom == 7


@pytest.mark.postgres
@pytest.mark.django_db
def test_without_prepared_statements_a_submission_is_stored_all_the_same(client,
                                                                          monkeypatch):
    """DB_PREPARED_STATEMENTS=0 (behind a pooler that does not keep them)."""
    from django.db import connection

    connection.ensure_connection()
    monkeypatch.setattr(connection.connection, "prepare_threshold", None)
    form = FormFactory(with_fields=True)
    url = f"/api/v1/forms/{form.key}/submissions/"
    for email in ("ann@example.com", "bob@example.com", "ANN@example.com"):
        assert client.post(url, {"email": email},
                           content_type="application/json").status_code == 201

    assert _prepared_submission_statements() == []
    assert Lead.objects.count() == 2
