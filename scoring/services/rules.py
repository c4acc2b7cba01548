"""Writing rules, categories and settings. Every change stamps the settings row (so each
worker's cached rules are reloaded) and queues a full rescore (coalesced: changes made
while a rescore is still queued share it)."""

from __future__ import annotations

import itertools
import re
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from capture.models import Grade
from capture.services.leads import text_problem
from scoring.conditions import conditions_problems, rule_kind_problem
from scoring.models import (
    Rule,
    RuleKind,
    ScoreCategory,
    ScoringSettings,
    new_rules_stamp,
)

# Letters, digits, "_" and "-", starting with a letter: LeadHub's own kinds and the
# custom event names capture accepts (capture.services.tracking.EVENT_TYPE_RE).
ACTIVITY_KIND_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}\Z")
MAX_POINTS = 10_000
MAX_DAYS = 3650
MAX_TIMES = 10_000
RULE_FIELDS = ("name", "kind", "activity_kind", "category", "conditions", "points",
               "max_times", "expires_after_days", "count", "window_days", "active",
               "position")
DEFAULT_CATEGORY = "engagement"


def rules_changed() -> str:
    """Give the settings row a new stamp: every worker reloads its cached rules."""
    stamp = new_rules_stamp()
    updated = ScoringSettings.objects.filter(pk=ScoringSettings.SINGLETON_ID).update(
        rules_stamp=stamp)
    if not updated:
        ScoringSettings.objects.create(pk=ScoringSettings.SINGLETON_ID, rules_stamp=stamp)
    return stamp


# --- Validation ---------------------------------------------------------------------------


def _int_problem(value: Any, low: int, high: int, *, allow_null: bool) -> str | None:
    if value is None:
        return None if allow_null else "This field is required."
    if isinstance(value, bool) or not isinstance(value, int):
        return "Give a whole number."
    if not low <= value <= high:
        return f"Give a number from {low} to {high}."
    return None


def rule_problems(values: dict[str, Any]) -> dict[str, list[str]]:
    """Per-field messages for a rule's complete values (all of RULE_FIELDS; category a
    ScoreCategory or None); {} when it can be saved."""
    problems: dict[str, Any] = {}

    def add(field: str, message: str | None) -> None:
        if message:
            problems.setdefault(field, []).append(message)

    name = values.get("name")
    if not isinstance(name, str) or not name.strip():
        add("name", "Give the rule a name.")
    elif len(name) > 200:
        add("name", "At most 200 characters.")
    else:
        add("name", text_problem(name))
    kind = values.get("kind")
    if kind not in RuleKind.values:
        add("kind", f"Choose one of: {', '.join(RuleKind.values)}.")
        return problems
    points = values.get("points")
    add("points", _int_problem(points, -MAX_POINTS, MAX_POINTS, allow_null=False))
    if points == 0:
        add("points", "A rule must add or subtract points.")

    behavior_only = ("max_times", "expires_after_days", "count", "window_days")
    if kind == RuleKind.FIT:
        if values.get("activity_kind"):
            add("activity_kind", "Fit rules test the lead's fields, not activities.")
        if values.get("category") is not None:
            add("category", "Fit rules add to the fit score, which has no categories.")
        for field in behavior_only:
            if values.get(field) is not None:
                add(field, "Only behaviour rules have this option.")
    else:
        activity_kind = values.get("activity_kind")
        if not activity_kind:
            add("activity_kind", "Behaviour rules react to an activity kind.")
        elif not isinstance(activity_kind, str) or not ACTIVITY_KIND_RE.match(activity_kind):
            add("activity_kind", "Give an activity kind: letters, digits, “_” and “-”, "
                                 "starting with a letter (e.g. page_viewed, trial_started).")
        else:
            add("activity_kind", rule_kind_problem(activity_kind))
        if values.get("category") is None:
            add("category", "Behaviour rules count towards a category.")
        add("max_times", _int_problem(values.get("max_times"), 1, MAX_TIMES, allow_null=True))
        add("expires_after_days", _int_problem(values.get("expires_after_days"), 1, MAX_DAYS,
                                               allow_null=True))
        count, window = values.get("count"), values.get("window_days")
        add("count", _int_problem(count, 2, 1000, allow_null=True))
        add("window_days", _int_problem(window, 1, MAX_DAYS, allow_null=True))
        if (count is None) != (window is None):
            add("count" if count is None else "window_days",
                "Give both a count and a window (e.g. 5 within 7 days), or neither.")

    conditions = conditions_problems(kind, values.get("conditions"))
    if conditions:
        problems["conditions"] = conditions
    if not isinstance(values.get("active"), bool):
        add("active", "Give true or false.")
    add("position", _int_problem(values.get("position"), -1_000_000, 1_000_000,
                                 allow_null=False))
    return problems


def _check(values: dict[str, Any]) -> None:
    problems = rule_problems(values)
    if problems:
        raise ValidationError({
            field: (messages if isinstance(messages, list)
                    else [f"{i}: {m}" for i, ms in messages.items() for m in ms])
            for field, messages in problems.items()
        })


def _values_of(rule: Rule) -> dict[str, Any]:
    return {field: getattr(rule, field) for field in RULE_FIELDS}


def default_category() -> ScoreCategory:
    return (ScoreCategory.objects.filter(key=DEFAULT_CATEGORY).first()
            or ScoreCategory.objects.order_by("position", "id").first()
            or category_create(name="Engagement", key=DEFAULT_CATEGORY))


# --- Rules ----------------------------------------------------------------------------------


@transaction.atomic
def rule_create(*, actor=None, rescore: bool = True, **values: Any) -> Rule:
    """Create a rule; ``values`` are RULE_FIELDS (kind, name, points required).
    Raises ValidationError per field. Queues a rescore unless ``rescore=False``."""
    unknown = set(values) - set(RULE_FIELDS)
    if unknown:
        raise TypeError(f"Not rule fields: {', '.join(sorted(unknown))}")
    values = {"activity_kind": "", "category": None, "conditions": [], "max_times": None,
              "expires_after_days": None, "count": None, "window_days": None,
              "active": True, "position": 0, **values}
    if values.get("kind") == RuleKind.BEHAVIOR and values["category"] is None:
        values["category"] = default_category()
    _check(values)
    rule = Rule(**values, created_by=actor)
    rule.full_clean(validate_constraints=False)
    rule.save()
    _changed(actor, f"rule “{rule.name}” created", rescore)
    return rule


@transaction.atomic
def rule_update(*, rule: Rule, actor=None, rescore: bool = True, **values: Any) -> Rule:
    unknown = set(values) - set(RULE_FIELDS)
    if unknown:
        raise TypeError(f"Not rule fields: {', '.join(sorted(unknown))}")
    merged = {**_values_of(rule), **values}
    if merged.get("kind") == RuleKind.FIT:
        # Switching a rule to fit drops what only behaviour rules have, unless given.
        for field in ("activity_kind", "category", "max_times", "expires_after_days",
                      "count", "window_days"):
            if field not in values:
                merged[field] = "" if field == "activity_kind" else None
    elif merged.get("category") is None and "category" not in values:
        merged["category"] = default_category()
    _check(merged)
    changed = [f for f in RULE_FIELDS if getattr(rule, f) != merged[f]]
    if not changed:
        return rule
    for field in changed:
        setattr(rule, field, merged[field])
    rule.full_clean(validate_constraints=False)
    rule.save()
    _changed(actor, f"rule “{rule.name}” changed", rescore)
    return rule


@transaction.atomic
def rule_delete(*, rule: Rule, actor=None, rescore: bool = True) -> None:
    """Delete a rule: it is gone for everyone at once (lists, editor, API, the engine's
    matching), and the rescore queued here takes its points off the scores, recording
    each drop as that rescore's change. Its row and contributions stay until then (the
    rescore purges them): removed now, the next unrelated activity scored before the
    rescore would record the drop as its own."""
    rule.deleted_at, rule.active = timezone.now(), False
    rule.save(update_fields=["deleted_at", "active", "updated_at"])
    _changed(actor, f"rule “{rule.name}” deleted", rescore)


def _changed(actor, reason: str, rescore: bool) -> None:
    from scoring.services.rescore import rescore_request

    rules_changed()
    if rescore:  # the rule was saved: marked needs_rematch, the job rematches it alone
        rescore_request(requested_by=actor, reason=reason, full=False)


# --- Categories -----------------------------------------------------------------------------


@transaction.atomic
def category_create(*, name: str, key: str = "", position: int | None = None) -> ScoreCategory:
    name = (name or "").strip()
    key = key or slugify(name).replace("-", "_")
    problems = {}
    if not name or len(name) > 100 or text_problem(name):
        problems["name"] = ["Give a name of 1 to 100 characters."]
    elif ScoreCategory.objects.filter(name__iexact=name).exists():
        problems["name"] = ["A category with this name exists."]
    if not key or not re.fullmatch(r"[a-z0-9_]{1,50}", key):
        problems["key"] = ["Give a key of lower-case letters, digits and “_”."]
    elif ScoreCategory.objects.filter(key=key).exists():
        problems["key"] = ["A category with this key exists."]
    if problems:
        raise ValidationError(problems)
    if position is None:
        position = (ScoreCategory.objects.order_by("-position").values_list(
            "position", flat=True).first() or 0) + 1
    return ScoreCategory.objects.create(key=key, name=name, position=position)


# --- Settings -------------------------------------------------------------------------------

SETTINGS_FIELDS = ("grade_a_min", "grade_b_min", "grade_c_min", "grade_d_min", "mql_score",
                   "mql_min_grade", "mql_category", "mql_category_min")


def settings_problems(values: dict[str, Any]) -> dict[str, list[str]]:
    problems: dict[str, list[str]] = {}
    bands = [values.get(f) for f in ("grade_a_min", "grade_b_min", "grade_c_min",
                                     "grade_d_min")]
    for field, value in zip(("grade_a_min", "grade_b_min", "grade_c_min", "grade_d_min"),
                            bands, strict=True):
        if problem := _int_problem(value, -1_000_000, 1_000_000, allow_null=False):
            problems[field] = [problem]
    if not problems and not all(a > b for a, b in itertools.pairwise(bands)):
        problems["bands"] = ["Each grade needs a higher fit score than the next: A > B > C > D."]
    if problem := _int_problem(values.get("mql_score"), -1_000_000, 1_000_000,
                               allow_null=False):
        problems["mql_score"] = [problem]
    if values.get("mql_min_grade") not in [*Grade.values, ""]:
        problems["mql_min_grade"] = ["Choose A, B, C, D, F, or empty for any grade."]
    category, minimum = values.get("mql_category"), values.get("mql_category_min")
    if (category is None) != (minimum is None):
        problems["mql_category_min" if minimum is None else "mql_category"] = [
            "Give both a category and its minimum, or neither."]
    elif minimum is not None and (problem := _int_problem(minimum, -1_000_000, 1_000_000,
                                                          allow_null=False)):
        problems["mql_category_min"] = [problem]
    return problems


@transaction.atomic
def settings_update(*, actor=None, rescore: bool = True, **values: Any) -> ScoringSettings:
    """Change grade bands and the MQL threshold; regrades and re-checks every lead
    (a rescore) when something changed. Raises ValidationError per field."""
    unknown = set(values) - set(SETTINGS_FIELDS)
    if unknown:
        raise TypeError(f"Not settings: {', '.join(sorted(unknown))}")
    current = ScoringSettings.objects.select_for_update().get(pk=ScoringSettings.SINGLETON_ID)
    merged = {**{f: getattr(current, f) for f in SETTINGS_FIELDS}, **values}
    if problems := settings_problems(merged):
        raise ValidationError(problems)
    changed = [f for f in SETTINGS_FIELDS if getattr(current, f) != merged[f]]
    if not changed:
        return current
    for field in changed:
        setattr(current, field, merged[field])
    current.updated_by = actor
    current.rules_stamp = new_rules_stamp()
    current.save()
    if rescore:
        from scoring.services.rescore import rescore_request

        rescore_request(requested_by=actor, reason="scoring settings changed", full=False)
    return current
