"""The condition vocabulary of scoring rules: which fields a rule may test, with which
operators and values, and how each condition is evaluated — in Python (the incremental
engine, "test against a lead") and as SQL (the full rescore, the impact preview).

The two evaluations must agree exactly ("Scores are recomputable"), so the semantics
are kept narrow and spelled out here:

- A condition is ``{"field", "op", "value"}``; a rule's conditions must all hold.
- Text comparisons (``equals``, ``contains``, ``starts_with``, ``in``, ``contains_any``,
  e-mail domains) ignore the case of ASCII letters only ("Pricing" = "pricing"; "É" ≠ "é"),
  because that is what SQLite's lower() and Postgres' lower() under the C collation do.
- Values inside JSON (event properties, custom attributes, other activity data) keep
  their JSON type: ``equals "pro"`` matches the string "pro", ``equals 5`` the number 5
  (not the string "5"), ``equals true`` the boolean; ``gt``/``gte``/``lt``/``lte`` compare
  numbers only; ``contains``/``starts_with`` strings only.
- A missing value matches nothing, except ``is_empty: true`` (missing, null, "" or []).
- Activities flagged ``"automated": true`` (mail scanners, link checkers) match no rule.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from capture.models import ActivityKind
from capture.services.leads import text_problem
from scoring.engine.dialect import Dialect, JsonRef, Sql
from scoring.freemail import FREEMAIL_DOMAINS

MISSING = object()

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def fold(text: str) -> str:
    """ASCII-only lower case (see the module docstring)."""
    return text.translate(_ASCII_LOWER)


# Named lists a condition can refer to (op "domain_in_list").
NAMED_LISTS: dict[str, frozenset[str]] = {"freemail": FREEMAIL_DOMAINS}

# Kinds no rule may react to: scoring's and pipeline's own records. Scoring a
# score_changed would loop; stage, owner and note changes are sales' doing, not the lead's.
UNSCORABLE_KINDS = frozenset({
    ActivityKind.SCORE_CHANGED, ActivityKind.GRADE_CHANGED, ActivityKind.STAGE_CHANGED,
    ActivityKind.OWNER_CHANGED, ActivityKind.NOTE_ADDED,
})

MAX_TEXT = 1000
MAX_LIST = 500
MAX_NAME = 100
MAX_CONDITIONS = 20
MAX_NUMBER = 2**63 - 1

TEXT_OPS = ("equals", "contains", "starts_with", "in", "contains_any", "is_empty")
EMAIL_OPS = (*TEXT_OPS, "domain_in", "domain_in_list")
NUMBER_OPS = ("equals", "gt", "gte", "lt", "lte", "is_empty")
JSON_OPS = ("equals", "in", "contains", "starts_with", "gt", "gte", "lt", "lte", "is_empty")
COMPARISONS = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
_PY_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "gt": lambda a, b: a > b, "gte": lambda a, b: a >= b,
    "lt": lambda a, b: a < b, "lte": lambda a, b: a <= b,
}

OP_LABELS = {
    "equals": "is", "contains": "contains", "starts_with": "starts with", "in": "is one of",
    "contains_any": "contains any of", "is_empty": "is empty", "domain_in": "domain is one of",
    "domain_in_list": "domain is in the list", "gt": "greater than",
    "gte": "at least", "lt": "less than", "lte": "at most",
}


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _text_of(value: Any) -> str | None:
    return value if isinstance(value, str) else None


# --- Fields ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    """How a condition reads its field: ``kind`` is "text", "number" or "json"."""

    name: str
    kind: str
    ops: tuple[str, ...]

    def value(self, subject) -> Any:
        raise NotImplementedError

    def text_sql(self, dialect: Dialect) -> Sql:
        """(text fields) SQL text or NULL."""
        raise NotImplementedError

    def number_sql(self, dialect: Dialect) -> Sql:
        raise NotImplementedError

    def json_ref(self) -> JsonRef:
        raise NotImplementedError

    def extract_sql(self, dialect: Dialect) -> Sql:
        """A per-row value the conditions on this field can share (see condition_sql's
        ``ref``): text fields' folded text, JSON fields' JSON value."""
        if self.kind == "text":
            text, params = self.text_sql(dialect)
            return dialect.fold(text), params
        if self.kind == "json":
            return dialect.json_value(self.json_ref())
        return self.number_sql(dialect)


@dataclass(frozen=True)
class ActivityText(Field):
    """The first of ``keys`` in the activity's data that holds a string."""

    keys: tuple[str, ...] = ()

    def value(self, data) -> Any:
        if not isinstance(data, dict):
            return None
        for key in self.keys:
            if isinstance(data.get(key), str):
                return data[key]
        return None

    def text_sql(self, dialect: Dialect) -> Sql:
        whens, params = [], []
        for key in self.keys:
            ref = JsonRef("a.data", (key,))
            is_string, p1 = dialect.json_is(ref, "string")
            text, p2 = dialect.json_text(ref)
            whens.append(f"WHEN {is_string} THEN {text}")
            params += p1 + p2
        return f"(CASE {' '.join(whens)} END)", params


@dataclass(frozen=True)
class ActivityJSON(Field):
    keys: tuple[str, ...] = ()

    def value(self, data) -> Any:
        for key in self.keys:
            if not isinstance(data, dict) or key not in data:
                return MISSING
            data = data[key]
        return data

    def json_ref(self) -> JsonRef:
        return JsonRef("a.data", self.keys)


@dataclass(frozen=True)
class LeadText(Field):
    column: str = ""

    def value(self, lead) -> Any:
        return getattr(lead, self.column)

    def text_sql(self, dialect: Dialect) -> Sql:
        return f"l.{self.column}", []


@dataclass(frozen=True)
class LeadNumber(Field):
    column: str = ""

    def value(self, lead) -> Any:
        return getattr(lead, self.column)

    def number_sql(self, dialect: Dialect) -> Sql:
        return f"l.{self.column}", []


@dataclass(frozen=True)
class LeadJSON(Field):
    column: str = ""
    keys: tuple[str, ...] = ()

    def value(self, lead) -> Any:
        data = getattr(lead, self.column)
        for key in self.keys:
            if not isinstance(data, dict) or key not in data:
                return MISSING
            data = data[key]
        return data

    def json_ref(self) -> JsonRef:
        return JsonRef(f"l.{self.column}", self.keys)


# Behaviour fields: what an activity's data holds (docs/activities.md).
ACTIVITY_TEXT_FIELDS = {
    # The page: `url` of page views, clicks and custom events, `page_url` of a form post.
    "url": ("url", "page_url"),
    "form_name": ("form_name",),
    "title": ("title",),
    "referrer": ("referrer",),
    "channel": ("channel",),
    "page_slug": ("page_slug",),
    "file": ("file",),
    "subject": ("subject",),
}
ACTIVITY_JSON_FIELDS = {"form": ("form",), "sequence": ("sequence",), "step": ("step",)}
ACTIVITY_PREFIXES = {"properties.": ("properties",), "data.": ()}

LEAD_TEXT_FIELDS = ("email", "first_name", "last_name", "company", "job_title", "phone",
                    "website", "country", "industry", "source")
LEAD_NUMBER_FIELDS = ("company_size",)
LEAD_PREFIXES = {"attributes.": "attributes"}


def name_problem(name: str) -> str | None:
    if not name or len(name) > MAX_NAME:
        return f"Give a name of 1 to {MAX_NAME} characters after the dot."
    if '"' in name or "\\" in name or any(ord(c) < 32 for c in name) or text_problem(name):
        return "Names may not contain quotes, backslashes or control characters."
    return None


def field_for(rule_kind: str, name: str) -> Field | None:
    """The field a condition names, for a "behavior" or a "fit" rule; None if unknown."""
    if not isinstance(name, str):
        return None
    if rule_kind == "behavior":
        if name in ACTIVITY_TEXT_FIELDS:
            return ActivityText(name, "text", TEXT_OPS, keys=ACTIVITY_TEXT_FIELDS[name])
        if name in ACTIVITY_JSON_FIELDS:
            return ActivityJSON(name, "json", JSON_OPS, keys=ACTIVITY_JSON_FIELDS[name])
        for prefix, keys in ACTIVITY_PREFIXES.items():
            if name.startswith(prefix) and not name_problem(name[len(prefix):]):
                return ActivityJSON(name, "json", JSON_OPS, keys=(*keys, name[len(prefix):]))
        return None
    if name == "email":
        return LeadText(name, "text", EMAIL_OPS, column="email")
    if name in LEAD_TEXT_FIELDS:
        return LeadText(name, "text", TEXT_OPS, column=name)
    if name in LEAD_NUMBER_FIELDS:
        return LeadNumber(name, "number", NUMBER_OPS, column=name)
    for prefix, column in LEAD_PREFIXES.items():
        if name.startswith(prefix) and not name_problem(name[len(prefix):]):
            return LeadJSON(name, "json", JSON_OPS, column=column, keys=(name[len(prefix):],))
    return None


def field_names(rule_kind: str) -> list[str]:
    """The fixed field names (plus the ``prefix.<name>`` forms) for the rule editor."""
    if rule_kind == "behavior":
        return [*ACTIVITY_TEXT_FIELDS, *ACTIVITY_JSON_FIELDS,
                *(f"{p}<name>" for p in ACTIVITY_PREFIXES)]
    return [*LEAD_TEXT_FIELDS, *LEAD_NUMBER_FIELDS, *(f"{p}<name>" for p in LEAD_PREFIXES)]


# --- Validation --------------------------------------------------------------------------


def _text_value_problem(value: Any) -> str | None:
    if not isinstance(value, str) or not value:
        return "Give some text."
    if len(value) > MAX_TEXT:
        return f"At most {MAX_TEXT} characters."
    return text_problem(value)


def _number_problem(value: Any) -> str | None:
    if not _is_number(value) or (isinstance(value, float) and not math.isfinite(value)):
        return "Give a number."
    if abs(value) > MAX_NUMBER:
        return "The number is too large."
    return None


def _scalar_problem(value: Any) -> str | None:
    if isinstance(value, bool):
        return None
    if _is_number(value):
        return _number_problem(value)
    if isinstance(value, str):
        return _text_value_problem(value)
    return "Give text, a number or true/false."


def _list_problem(value: Any, item_problem) -> str | None:
    if not isinstance(value, list) or not value:
        return "Give a list of one or more values."
    if len(value) > MAX_LIST:
        return f"At most {MAX_LIST} values."
    for item in value:
        if problem := item_problem(item):
            return f"{item!r}: {problem}"
    return None


def value_problem(field: Field, op: str, value: Any) -> str | None:
    if op == "is_empty":
        return None if isinstance(value, bool) else "Give true or false."
    if op == "domain_in_list":
        if value not in NAMED_LISTS:
            return f"Choose a list: {', '.join(NAMED_LISTS)}."
        return None
    if op in COMPARISONS:
        return _number_problem(value)
    if field.kind == "number":
        return _number_problem(value)
    if op in ("in", "contains_any", "domain_in"):
        items = _scalar_problem if field.kind == "json" and op == "in" else _text_value_problem
        return _list_problem(value, items)
    if op == "equals" and field.kind == "json":
        return _scalar_problem(value)
    return _text_value_problem(value)


def conditions_problems(rule_kind: str, conditions: Any) -> dict[str, list[str]] | list[str]:
    """What is wrong with a rule's conditions: {} when nothing; a list of messages about
    the whole list; or {index: [messages]} per condition."""
    if not isinstance(conditions, list):
        return ["Give a list of conditions: [{\"field\", \"op\", \"value\"}, …]."]
    if len(conditions) > MAX_CONDITIONS:
        return [f"At most {MAX_CONDITIONS} conditions."]
    problems: dict[str, list[str]] = {}
    for i, condition in enumerate(conditions):
        if problem := condition_problem(rule_kind, condition):
            problems[str(i)] = [problem]
    return problems


def condition_problem(rule_kind: str, condition: Any) -> str | None:
    if not isinstance(condition, dict) or set(condition) != {"field", "op", "value"}:
        return 'A condition is {"field": …, "op": …, "value": …}.'
    name, op, value = condition["field"], condition["op"], condition["value"]
    field = field_for(rule_kind, name)
    if field is None:
        known = ", ".join(field_names(rule_kind))
        return f"field: “{str(name)[:100]}” is not a field a {rule_kind} rule can test ({known})."
    if op not in field.ops:
        return f"op: “{str(op)[:50]}” is not an operator for {name} ({', '.join(field.ops)})."
    if problem := value_problem(field, op, value):
        return f"value: {problem}"
    return None


def rule_kind_problem(activity_kind: str) -> str | None:
    if activity_kind in UNSCORABLE_KINDS:
        return (f"“{activity_kind}” activities are LeadHub's own records of scoring and sales "
                "work; rules cannot score them.")
    return None


# --- Python evaluation ---------------------------------------------------------------------


def _text_matches(op: str, text: Any, value: Any) -> bool:
    if op == "is_empty":
        return (text is None or text == "") == value
    if not isinstance(text, str):
        return False
    folded = fold(text)
    if op == "equals":
        return folded == fold(value)
    if op == "contains":
        return fold(value) in folded
    if op == "starts_with":
        return folded.startswith(fold(value))
    if op == "in":
        return folded in {fold(v) for v in value}
    if op == "contains_any":
        return any(fold(v) in folded for v in value)
    if op in ("domain_in", "domain_in_list"):
        domain = folded.partition("@")[2]
        domains = NAMED_LISTS[value] if op == "domain_in_list" else {
            fold(v).lstrip("@") for v in value}
        return domain in domains
    raise ValueError(op)


def _json_equals(item: Any, value: Any) -> bool:
    if isinstance(value, bool):
        return isinstance(item, bool) and item is value
    if _is_number(value):
        return _is_number(item) and item == value
    return isinstance(item, str) and fold(item) == fold(value)


def _json_matches(op: str, item: Any, value: Any) -> bool:
    if op == "is_empty":
        return (item is MISSING or item is None or item == "" or item == []) == value
    if op == "equals":
        return _json_equals(item, value)
    if op == "in":
        return any(_json_equals(item, v) for v in value)
    if op in COMPARISONS:
        return _is_number(item) and _PY_COMPARE[op](item, value)
    return _text_matches(op, _text_of(item), value)


def _number_matches(op: str, number: Any, value: Any) -> bool:
    if op == "is_empty":
        return (number is None) == value
    if number is None:
        return False
    if op == "equals":
        return number == value
    return _PY_COMPARE[op](number, value)


def condition_matches(field: Field, op: str, value: Any, subject) -> bool:
    """``subject`` is an activity's data (behaviour) or a Lead (fit)."""
    item = field.value(subject)
    if field.kind == "text":
        return _text_matches(op, item, value)
    if field.kind == "number":
        return _number_matches(op, item, value)
    return _json_matches(op, item, value)


def is_automated(data: Any) -> bool:
    return isinstance(data, dict) and data.get("automated") is True


# --- SQL ------------------------------------------------------------------------------------


def _text_sql(dialect: Dialect, op: str, text: str, params: list, value: Any,
              folded: str | None = None) -> Sql:
    if op == "is_empty":
        if value:
            return f"({text} IS NULL OR {text} = '')", params + params
        return f"({text} IS NOT NULL AND {text} <> '')", params + params
    folded = folded or dialect.fold(text)
    if op == "equals":
        return f"({folded} = %s)", [*params, fold(value)]
    if op == "contains":
        return dialect.contains(folded), [*params, fold(value)]
    if op == "starts_with":
        sql, _ = dialect.starts_with(folded)
        value_params = sql.count("%s") - folded.count("%s")
        return sql, [*params, *([fold(value)] * value_params)]
    if op == "in":
        sql, extra = dialect.in_list(folded, sorted({fold(v) for v in value}))
        return sql, params + extra
    if op == "contains_any":
        parts = [dialect.contains(folded) for _ in value]
        return (f"({' OR '.join(parts)})",
                [p for v in value for p in (*params, fold(v))])
    if op in ("domain_in", "domain_in_list"):
        domain = dialect.after_at(folded)
        domains = NAMED_LISTS[value] if op == "domain_in_list" else {
            fold(v).lstrip("@") for v in value}
        sql, extra = dialect.in_list(domain, sorted(domains))
        return sql, _repeat(params, domain) + extra
    raise ValueError(op)


def _repeat(params: list, sql: str) -> list:
    """Params for an expression that embeds a parameterised operand several times."""
    if not params:
        return []
    return params * (sql.count("%s") // len(params))


def _json_equals_sql(dialect: Dialect, ref: JsonRef, value: Any) -> Sql:
    if isinstance(value, bool):
        return dialect.json_is(ref, "true" if value else "false")
    if _is_number(value):
        is_number, p1 = dialect.json_is(ref, "number")
        number, p2 = dialect.json_number(ref)
        # CASE, not AND: Postgres may evaluate either side of an AND first, and casting
        # a JSON string to a number is an error.
        return f"(CASE WHEN {is_number} THEN {number} = %s ELSE false END)", [*p1, *p2, value]
    is_string, p1 = dialect.json_is(ref, "string")
    text, p2 = dialect.json_text(ref)
    return f"({is_string} AND {dialect.fold(text)} = %s)", [*p1, *p2, fold(value)]


def _json_sql(dialect: Dialect, op: str, ref: JsonRef, value: Any) -> Sql:
    if op == "is_empty":
        empty, params = dialect.json_empty(ref)
        return (empty, params) if value else (f"(NOT {empty})", params)
    if op == "equals":
        return _json_equals_sql(dialect, ref, value)
    if op == "in":
        parts = [_json_equals_sql(dialect, ref, v) for v in value]
        return f"({' OR '.join(p[0] for p in parts)})", [x for p in parts for x in p[1]]
    if op in COMPARISONS:
        is_number, p1 = dialect.json_is(ref, "number")
        number, p2 = dialect.json_number(ref)
        return (f"(CASE WHEN {is_number} THEN {number} {COMPARISONS[op]} %s ELSE false END)",
                [*p1, *p2, value])
    is_string, p1 = dialect.json_is(ref, "string")
    text, p2 = dialect.json_text(ref)
    sql, params = _text_sql(dialect, op, text, p2, value)
    return f"({is_string} AND {sql})", p1 + params


def _number_sql(op: str, number: str, params: list, value: Any) -> Sql:
    if op == "is_empty":
        return (f"({number} IS {'' if value else 'NOT '}NULL)"), params
    sign = "=" if op == "equals" else COMPARISONS[op]
    return f"({number} {sign} %s)", [*params, value]


def condition_sql(dialect: Dialect, field: Field, op: str, value: Any,
                  ref: str | None = None) -> Sql:
    """SQL that is true when the condition holds (false or NULL when not), over the
    activity ``a`` (behaviour) or the lead ``l`` (fit). ``ref`` names a column holding
    the field's extract_sql() value, computed once per row for all conditions."""
    if field.kind == "text":
        if ref is not None:
            return _text_sql(dialect, op, ref, [], value, folded=ref)
        text, params = field.text_sql(dialect)
        return _text_sql(dialect, op, text, params, value)
    if field.kind == "number":
        number, params = (ref, []) if ref is not None else field.number_sql(dialect)
        return _number_sql(op, number, params, value)
    return _json_sql(dialect, op, JsonRef(ref, ()) if ref is not None else field.json_ref(),
                     value)


def not_automated_sql(dialect: Dialect) -> Sql:
    is_true, params = dialect.json_is(JsonRef("a.data", ("automated",)), "true")
    return f"(NOT coalesce({is_true}, false))", params


# --- Compiled conditions ------------------------------------------------------------------


@dataclass(frozen=True)
class Compiled:
    """A rule's conditions, resolved once: (field, op, value) triples."""

    parts: tuple[tuple[Field, str, Any], ...]

    def matches(self, subject) -> bool:
        return all(condition_matches(f, op, v, subject) for f, op, v in self.parts)

    def sql(self, dialect: Dialect, refs: dict[str, str] | None = None) -> Sql:
        """``refs``: {field name: column holding its extract_sql() value}."""
        if not self.parts:
            return "(1 = 1)", []
        refs = refs or {}
        pieces = [condition_sql(dialect, f, op, v, refs.get(f.name)) for f, op, v in self.parts]
        return "(" + " AND ".join(p[0] for p in pieces) + ")", [x for p in pieces for x in p[1]]


def compile_conditions(rule_kind: str, conditions: list[dict]) -> Compiled:
    """Conditions that passed validation (stored rules), ready to evaluate. Raises
    ValueError for ones that did not (a rule written around the services)."""
    parts = []
    for condition in conditions:
        if problem := condition_problem(rule_kind, condition):
            raise ValueError(problem)
        field = field_for(rule_kind, condition["field"])
        parts.append((field, condition["op"], condition["value"]))
    return Compiled(tuple(parts))
