"""Every condition operator, evaluated both ways — in Python (incremental scoring) and as
SQL (the rescore) — with the same answer, on the database the suite runs on."""

import pytest
from django.db import connection

from capture.models import Activity, Lead
from scoring.conditions import (
    compile_conditions,
    conditions_problems,
    fold,
)
from scoring.engine.dialect import dialect_for
from tests.factories import ActivityFactory, LeadFactory

pytestmark = pytest.mark.django_db


def both_ways(rule_kind: str, conditions: list[dict], subject) -> bool:
    compiled = compile_conditions(rule_kind, conditions)
    sql, params = compiled.sql(dialect_for(connection))
    if rule_kind == "behavior":
        python = compiled.matches(subject.data)
        query = f"SELECT count(*) FROM {Activity._meta.db_table} a WHERE a.id = %s AND {sql}"  # noqa: S608
    else:
        python = compiled.matches(subject)
        query = f"SELECT count(*) FROM {Lead._meta.db_table} l WHERE l.id = %s AND {sql}"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(query, [subject.pk, *params])
        in_sql = cursor.fetchone()[0] == 1
    assert python == in_sql, f"Python says {python}, SQL says {in_sql}"
    return python


def condition(field, op, value):
    return [{"field": field, "op": op, "value": value}]


PRICING = {"url": "https://www.Example.com/Pricing?plan=pro", "title": "Plans & pricing"}


@pytest.mark.parametrize(("conditions", "data", "expected"), [
    # URL: equals / contains / starts with, ignoring the case of ASCII letters.
    (condition("url", "equals", "https://www.example.com/pricing?plan=pro"), PRICING, True),
    (condition("url", "equals", "https://www.example.com/pricing"), PRICING, False),
    (condition("url", "contains", "/PRICING"), PRICING, True),
    (condition("url", "contains", "/demo"), PRICING, False),
    (condition("url", "starts_with", "https://www.example.com/"), PRICING, True),
    (condition("url", "starts_with", "/pricing"), PRICING, False),
    (condition("url", "in", ["x", "HTTPS://www.example.com/pricing?plan=pro"]), PRICING, True),
    (condition("url", "contains_any", ["/demo", "pricing"]), PRICING, True),
    (condition("url", "contains_any", ["/demo", "/docs"]), PRICING, False),
    (condition("url", "is_empty", False), PRICING, True),
    (condition("url", "is_empty", True), {"title": "x"}, True),
    (condition("url", "is_empty", True), {"url": ""}, True),
    (condition("url", "contains", "pricing"), {"url": 42}, False),  # not text
    # Only ASCII letters fold: "É" and "é" differ, as in SQL.
    (condition("title", "equals", "CAFÉ"), {"title": "café"}, False),
    (condition("title", "equals", "CAFé"), {"title": "café"}, True),
    # A form post's page is its page_url.
    (condition("url", "contains", "/ebook"), {"page_url": "https://x.example/ebook"}, True),
    (condition("url", "contains", "/ebook"),
     {"url": "https://x.example/home", "page_url": "https://x.example/ebook"}, False),
    # Form is X: the form's id, typed.
    (condition("form", "equals", 7), {"form": 7}, True),
    (condition("form", "equals", 7), {"form": "7"}, False),
    (condition("form", "equals", 7), {"form": 8}, False),
    (condition("form", "in", [3, 7]), {"form": 7}, True),
    (condition("form_name", "contains", "ebook"), {"form_name": "Get the Ebook"}, True),
    # Properties: equals (typed), greater than / at least / less than / at most.
    (condition("properties.plan", "equals", "pro"), {"properties": {"plan": "Pro"}}, True),
    (condition("properties.plan", "equals", "pro"), {"properties": {"plan": "basic"}}, False),
    (condition("properties.plan", "equals", "pro"), {"properties": {}}, False),
    (condition("properties.seats", "equals", 5), {"properties": {"seats": 5}}, True),
    (condition("properties.seats", "equals", 5), {"properties": {"seats": 5.0}}, True),
    (condition("properties.seats", "equals", 5), {"properties": {"seats": "5"}}, False),
    (condition("properties.beta", "equals", True), {"properties": {"beta": True}}, True),
    (condition("properties.beta", "equals", True), {"properties": {"beta": 1}}, False),
    (condition("properties.beta", "equals", 1), {"properties": {"beta": True}}, False),
    (condition("properties.seats", "gt", 5), {"properties": {"seats": 6}}, True),
    (condition("properties.seats", "gt", 5), {"properties": {"seats": 5}}, False),
    (condition("properties.seats", "gt", 5), {"properties": {"seats": "9"}}, False),
    (condition("properties.seats", "gt", 5), {"properties": {"seats": True}}, False),
    (condition("properties.seats", "gte", 5), {"properties": {"seats": 5}}, True),
    (condition("properties.seats", "lt", 5), {"properties": {"seats": 4.5}}, True),
    (condition("properties.seats", "lte", 5), {"properties": {"seats": 5.5}}, False),
    (condition("properties.seats", "gt", 1.5), {"properties": {"seats": 2}}, True),
    (condition("properties.plan", "contains", "pr"), {"properties": {"plan": "Pro"}}, True),
    (condition("properties.plan", "contains", "5"), {"properties": {"plan": 5}}, False),
    (condition("properties.plan", "starts_with", "PR"), {"properties": {"plan": "pro"}}, True),
    (condition("properties.plan", "in", ["pro", 5]), {"properties": {"plan": 5}}, True),
    (condition("properties.plan", "is_empty", True), {"properties": {"plan": None}}, True),
    (condition("properties.plan", "is_empty", True), {"properties": {"plan": ""}}, True),
    (condition("properties.plan", "is_empty", True), {"properties": {"plan": []}}, True),
    (condition("properties.plan", "is_empty", True), {}, True),
    (condition("properties.plan", "is_empty", True), {"properties": {"plan": 0}}, False),
    (condition("properties.plan", "is_empty", False), {"properties": {"plan": "x"}}, True),
    (condition("properties.plan", "is_empty", False), {"properties": "x"}, False),
    (condition("properties.odd name.x", "equals", "y"),
     {"properties": {"odd name.x": "y"}}, True),
    (condition("data.channel", "equals", "api"), {"channel": "api"}, True),
    (condition("sequence", "equals", 2), {"sequence": 2}, True),
    # No conditions: every activity of the rule's kind.
    ([], {}, True),
    # All conditions must hold.
    ([*condition("url", "contains", "pricing"), *condition("title", "contains", "plans")],
     PRICING, True),
    ([*condition("url", "contains", "pricing"), *condition("title", "contains", "demo")],
     PRICING, False),
])
def test_behaviour_conditions(conditions, data, expected):
    activity = ActivityFactory(data=data)

    assert both_ways("behavior", conditions, activity) is expected


@pytest.mark.parametrize(("conditions", "fields", "expected"), [
    # Job title contains any of.
    (condition("job_title", "contains_any", ["VP", "director"]), {"job_title": "vp of Sales"},
     True),
    (condition("job_title", "contains_any", ["VP", "director"]),
     {"job_title": "Sales Director"}, True),
    (condition("job_title", "contains_any", ["VP", "director"]), {"job_title": "Engineer"},
     False),
    # Email domain is in a list, or in the built-in free-mail list.
    (condition("email", "domain_in", ["acme.example", "@Globex.example"]),
     {"email": "ann@GLOBEX.example"}, True),
    (condition("email", "domain_in", ["acme.example"]), {"email": "ann@sub.acme.example"},
     False),
    (condition("email", "domain_in_list", "freemail"), {"email": "ann@Gmail.com"}, True),
    (condition("email", "domain_in_list", "freemail"), {"email": "ann@acme.example"}, False),
    # Company size at least (and the other comparisons); unknown size matches nothing.
    (condition("company_size", "gte", 50), {"company_size": 50}, True),
    (condition("company_size", "gte", 50), {"company_size": 49}, False),
    (condition("company_size", "gte", 50), {"company_size": None}, False),
    (condition("company_size", "lt", 50), {"company_size": None}, False),
    (condition("company_size", "equals", 10), {"company_size": 10}, True),
    (condition("company_size", "is_empty", True), {"company_size": None}, True),
    (condition("company_size", "is_empty", False), {"company_size": 0}, True),
    # Industry / country in a list.
    (condition("industry", "in", ["software", "Finance"]), {"industry": "Software"}, True),
    (condition("country", "in", ["US", "DE"]), {"country": "FR"}, False),
    # Field is empty.
    (condition("industry", "is_empty", True), {"industry": ""}, True),
    (condition("phone", "is_empty", False), {"phone": ""}, False),
    # Attribute equals.
    (condition("attributes.tier", "equals", "gold"), {"attributes": {"tier": "Gold"}}, True),
    (condition("attributes.tier", "equals", "gold"), {"attributes": {}}, False),
    (condition("attributes.seats", "gte", 10), {"attributes": {"seats": 12}}, True),
    (condition("attributes.tier", "is_empty", True), {"attributes": {"other": 1}}, True),
    (condition("source", "equals", "import"), {"source": "Import"}, True),
])
def test_fit_conditions(conditions, fields, expected):
    lead = LeadFactory(**fields)

    assert both_ways("fit", conditions, lead) is expected


def test_automated_opens_match_no_rule():
    from scoring.engine.rules import RuleSpec
    from scoring.models import Rule

    spec = RuleSpec.from_rule(Rule(kind="behavior", activity_kind="email_opened", points=5,
                                   conditions=[]), "engagement")

    assert spec.matches_activity("email_opened", {"automated": False})
    assert not spec.matches_activity("email_opened", {"automated": True})


def test_fold_changes_ascii_letters_only():
    assert fold("ÉCOLE Été") == "École Été"


@pytest.mark.parametrize(("rule_kind", "conditions", "problem"), [
    ("behavior", "url contains pricing", ["Give a list of conditions"]),
    ("behavior", [{"field": "url", "op": "contains"}], {"0": ['A condition is {"field"']}),
    ("behavior", [{"field": "nope", "op": "equals", "value": "x"}],
     {"0": ["field: “nope” is not a field"]}),
    ("behavior", [{"field": "url", "op": "gt", "value": 1}],
     {"0": ["op: “gt” is not an operator for url"]}),
    ("behavior", [{"field": "url", "op": "contains", "value": ""}], {"0": ["value: Give some"]}),
    ("behavior", [{"field": "properties.x", "op": "gt", "value": "5"}],
     {"0": ["value: Give a number"]}),
    ("behavior", [{"field": "properties.", "op": "equals", "value": "x"}],
     {"0": ["field: “properties.” is not a field"]}),
    ("behavior", [{"field": 'properties.a"b', "op": "equals", "value": "x"}],
     {"0": ["field: “properties.a\"b” is not a field"]}),
    ("behavior", [{"field": "url", "op": "in", "value": []}], {"0": ["value: Give a list"]}),
    ("behavior", [{"field": "url", "op": "is_empty", "value": "yes"}],
     {"0": ["value: Give true or false"]}),
    ("behavior", [{"field": "url", "op": "contains", "value": "a\x00b"}],
     {"0": ["value: Null characters"]}),
    ("fit", [{"field": "email", "op": "domain_in_list", "value": "corporate"}],
     {"0": ["value: Choose a list: freemail"]}),
    ("fit", [{"field": "url", "op": "contains", "value": "x"}],
     {"0": ["field: “url” is not a field a fit rule"]}),
    ("fit", [{"field": "company_size", "op": "gte", "value": True}],
     {"0": ["value: Give a number"]}),
])
def test_it_explains_what_is_wrong_with_a_condition(rule_kind, conditions, problem):
    problems = conditions_problems(rule_kind, conditions)

    if isinstance(problem, list):
        assert problems[0].startswith(problem[0])
    else:
        assert list(problems) == list(problem)
        assert problems["0"][0].startswith(problem["0"][0]), problems


def test_a_valid_condition_has_no_problem():
    assert conditions_problems("behavior", condition("url", "contains", "pricing")) == {}
