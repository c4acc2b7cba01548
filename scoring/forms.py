"""The scoring pages' input: a rule (with its conditions), a category, the settings and
the effectiveness report's period.

These only read and lay out what the marketer typed, turning text into the JSON values
the engine expects; the checks that matter are scoring.services' own (rule_problems,
settings_problems), whose messages ``add_rule_problems`` / ``add_settings_problems`` put
beside their inputs. Views never call ``save()`` on anything here.
"""

from __future__ import annotations

import json
import math
import re
from datetime import date, timedelta
from typing import Any

from django import forms
from django.utils import timezone

from capture.models import ActivityKind, Grade
from scoring.conditions import (
    COMPARISONS,
    NAMED_LISTS,
    OP_LABELS,
    UNSCORABLE_KINDS,
    field_for,
    field_names,
)
from scoring.models import Rule, RuleKind, ScoreCategory, ScoringSettings
from scoring.services import RULE_FIELDS

CONDITIONS_PREFIX = "cond"
LIST_OPS = ("in", "contains_any", "domain_in")
# Activity kinds a behaviour rule can react to, offered in the editor (custom event names
# may be typed too).
SCORABLE_KINDS = [(value, label) for value, label in ActivityKind.choices
                  if value not in UNSCORABLE_KINDS]
REPORT_DEFAULT_DAYS = 90
REPORT_MAX_DAYS = 3660


def _number(text: str) -> Any:
    """A number typed as text, or the text itself when it is not one (the services then
    say "Give a number.")."""
    try:
        value = float(text)
    except ValueError:
        return text
    if not math.isfinite(value):
        return text
    if value.is_integer() and re.fullmatch(r"[+-]?\d+(\.0*)?", text.strip()):
        return int(value)
    return value


def _scalar(text: str) -> Any:
    """A JSON scalar typed as text: numbers, true, false and "quoted text" are read as
    JSON; anything else is text."""
    stripped = text.strip()
    try:
        value = json.loads(stripped)
    except ValueError:
        return text
    if isinstance(value, bool | int | float | str):
        return value
    return text


def _items(text: str) -> list[str]:
    """A list typed as a JSON array, or as values separated by commas or new lines."""
    stripped = text.strip()
    if stripped.startswith("["):
        try:
            value = json.loads(stripped)
        except ValueError:
            pass
        else:
            if isinstance(value, list):
                return value
    return [item.strip() for item in re.split(r"[,\n]", text) if item.strip()]


def condition_value(rule_kind: str, field: str, op: str, text: str) -> Any:
    """The JSON value of a condition from the text typed for it."""
    spec = field_for(rule_kind, field)
    if op == "is_empty":
        return text.strip().lower() not in ("false", "no", "0", "n")
    if op == "domain_in_list":
        return text.strip()
    if op in LIST_OPS:
        items = _items(text)
        if spec is not None and spec.kind == "json" and op == "in":
            return [_scalar(i) if isinstance(i, str) else i for i in items]
        return items
    if op in COMPARISONS or (spec is not None and spec.kind == "number"):
        return _number(text.strip())
    if spec is not None and spec.kind == "json" and op == "equals":
        return _scalar(text)
    return text


def condition_text(value: Any) -> str:
    """What to show in the value input for a stored condition value (the inverse of
    condition_value)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        if all(isinstance(v, str) and "," not in v and "\n" not in v for v in value):
            return ", ".join(value)
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, str):
        # Text that would read back as a number or true/false keeps its quotes.
        return json.dumps(value, ensure_ascii=False) if _scalar(value) != value else value
    if value is None:
        return ""
    return json.dumps(value)


def describe_condition(condition: dict) -> str:
    """One condition as a marketer reads it: “url contains /pricing”."""
    if not isinstance(condition, dict):
        return str(condition)
    op = OP_LABELS.get(condition.get("op"), condition.get("op"))
    value = condition.get("value")
    if condition.get("op") == "is_empty":
        return f"{condition.get('field')} {'is empty' if value else 'is not empty'}"
    if isinstance(value, list):
        shown = ", ".join(str(v) for v in value[:5]) + (" …" if len(value) > 5 else "")
    elif condition.get("op") == "domain_in_list":
        shown = f"“{value}”"
    else:
        shown = condition_text(value)
    return f"{condition.get('field')} {op} {shown}"


# --- A rule -----------------------------------------------------------------------------


class OptionalIntegerField(forms.IntegerField):
    widget = forms.NumberInput(attrs={"min": 1, "step": 1})


class RuleForm(forms.Form):
    """A rule's own fields; its conditions are a ConditionFormSet beside it."""

    name = forms.CharField(max_length=200, widget=forms.TextInput(attrs={"autocomplete": "off"}))
    kind = forms.ChoiceField(choices=RuleKind.choices, widget=forms.HiddenInput)
    activity_kind = forms.CharField(
        label="When the lead", max_length=64, required=False,
        help_text="An activity kind, or the name of a custom event from your product "
                  "(e.g. trial_started).",
        widget=forms.TextInput(attrs={"list": "activity-kinds", "autocomplete": "off",
                                      "spellcheck": "false"}),
    )
    category = forms.ModelChoiceField(
        queryset=ScoreCategory.objects.all(), required=False, to_field_name="key",
        empty_label=None, help_text="The subtotal these points count towards.",
    )
    points = forms.IntegerField(
        help_text="Added each time the rule applies; negative subtracts.",
        widget=forms.NumberInput(attrs={"step": 1}),
    )
    max_times = OptionalIntegerField(
        label="At most", required=False,
        help_text="times per lead (empty: every time).",
    )
    expires_after_days = OptionalIntegerField(
        label="Points expire after", required=False,
        help_text="days (empty: never). Quiet leads cool down.",
    )
    count = OptionalIntegerField(
        label="Only when it happens", required=False,
        help_text="times (e.g. 5 email opens)…",
        widget=forms.NumberInput(attrs={"min": 2, "step": 1}),
    )
    window_days = OptionalIntegerField(
        label="Within", required=False, help_text="days (e.g. a week: 7).",
    )
    active = forms.BooleanField(label="Active", required=False,
                                help_text="Inactive rules give no points.")

    @classmethod
    def for_rule(cls, rule: Rule) -> RuleForm:
        return cls(initial={
            "name": rule.name, "kind": rule.kind, "activity_kind": rule.activity_kind,
            "category": rule.category.key if rule.category_id else None,
            "points": rule.points, "max_times": rule.max_times,
            "expires_after_days": rule.expires_after_days, "count": rule.count,
            "window_days": rule.window_days, "active": rule.active,
        })

    @classmethod
    def new(cls, kind: str) -> RuleForm:
        category = ScoreCategory.objects.filter(key="engagement").first() \
            or ScoreCategory.objects.first()
        return cls(initial={"kind": kind, "active": True, "points": 10,
                            "category": category.key if category else None,
                            "activity_kind": ActivityKind.PAGE_VIEWED
                            if kind == RuleKind.BEHAVIOR else ""})

    def rule_kind(self) -> str:
        kind = self["kind"].value()
        return kind if kind in RuleKind.values else RuleKind.BEHAVIOR


class ConditionForm(forms.Form):
    field = forms.CharField(
        max_length=200, required=False,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false",
                                      "aria-label": "Field"}),
    )
    op = forms.ChoiceField(
        choices=list(OP_LABELS.items()), required=False,
        widget=forms.Select(attrs={"aria-label": "Operator"}),
    )
    value = forms.CharField(
        max_length=20_000, required=False, strip=False,
        widget=forms.TextInput(attrs={"autocomplete": "off", "aria-label": "Value"}),
    )

    def clean_field(self) -> str:
        field = self.cleaned_data["field"].strip()
        if field.endswith(("<name>", "<key>")):
            raise forms.ValidationError(
                f"Replace “{field[field.index('<'):]}” with the name to test "
                f"(e.g. {field[:field.index('<')]}plan).")
        return field

    def is_blank(self) -> bool:
        data = getattr(self, "cleaned_data", None) or {}
        return not (data.get("field") or "").strip() and not (data.get("value") or "").strip()

    def condition(self, rule_kind: str) -> dict:
        data = self.cleaned_data
        field, op = data["field"].strip(), data["op"]
        return {"field": field, "op": op,
                "value": condition_value(rule_kind, field, op, data["value"])}


ConditionFormSet = forms.formset_factory(ConditionForm, extra=0, max_num=20,
                                         absolute_max=40, validate_max=True)


def condition_rows(conditions: list[dict]) -> list[dict]:
    return [{"field": c.get("field", ""), "op": c.get("op", "equals"),
             "value": condition_text(c.get("value"))}
            for c in conditions if isinstance(c, dict)]


def read_rule(form: RuleForm, formset, *, rule: Rule | None = None
              ) -> tuple[dict[str, Any], list[int], bool]:
    """The rule's values (RULE_FIELDS) as far as the form and formset could read them,
    which formset rows the conditions came from (blank rows are skipped), and whether
    everything could be read (no input has an error of its own). Inputs that could not be
    read are left empty, so the services still check everything else."""
    complete = form.is_valid() & formset.is_valid()
    data = form.cleaned_data
    kind = data.get("kind") or form.rule_kind()
    rows = [i for i, row in enumerate(formset.forms)
            if not row.errors and not row.is_blank()]
    values: dict[str, Any] = {
        "name": data.get("name", ""), "kind": kind, "points": data.get("points"),
        "conditions": [formset.forms[i].condition(kind) for i in rows],
        "active": bool(data.get("active")), "position": rule.position if rule else 0,
        "activity_kind": "", "category": None, "max_times": None,
        "expires_after_days": None, "count": None, "window_days": None,
    }
    if kind == RuleKind.BEHAVIOR:
        values.update(
            activity_kind=(data.get("activity_kind") or "").strip(),
            category=data.get("category"), max_times=data.get("max_times"),
            expires_after_days=data.get("expires_after_days"), count=data.get("count"),
            window_days=data.get("window_days"),
        )
    assert set(values) == set(RULE_FIELDS)
    return values, rows, complete


_CONDITION_PART = re.compile(r"^(field|op|value): ")


def add_rule_problems(form: RuleForm, formset, rows: list[int],
                      problems: dict[str, Any]) -> list[str]:
    """Put rule_problems' messages beside their inputs; returns those no input shows."""
    leftover: list[str] = []
    for key, messages in problems.items():
        if key == "conditions":
            if isinstance(messages, dict):
                for index, condition_messages in messages.items():
                    row = formset.forms[rows[int(index)]]
                    for message in condition_messages:
                        match = _CONDITION_PART.match(message)
                        row.add_error(match.group(1) if match else None,
                                      message[match.end():] if match else message)
            else:
                leftover += [f"Conditions: {m}" for m in messages]
        elif key in form.fields and key != "kind":
            if key in form.errors:
                continue  # the input's own error (unreadable) says it already
            for message in messages:
                form.add_error(key, message)
        else:
            leftover += list(messages)
    return leftover


def ops_by_field(rule_kind: str) -> dict[str, list[str]]:
    """For the editor's script: the operators each field (or ``prefix.<name>``) takes."""
    ops = {}
    for name in field_names(rule_kind):
        spec = field_for(rule_kind, name.replace("<name>", "x").replace("<key>", "x"))
        if spec is not None:
            ops[name] = list(spec.ops)
    return ops


def behaviour_fields() -> list[str]:
    return field_names(RuleKind.BEHAVIOR)


def fit_fields() -> list[str]:
    return field_names(RuleKind.FIT)


def named_lists() -> list[str]:
    return list(NAMED_LISTS)


# --- Categories and settings ----------------------------------------------------------------


class CategoryForm(forms.Form):
    name = forms.CharField(label="New category", max_length=100,
                           widget=forms.TextInput(attrs={"placeholder": "e.g. Events"}))


class ScoringSettingsForm(forms.Form):
    grade_a_min = forms.IntegerField(label="A from", help_text="fit points")
    grade_b_min = forms.IntegerField(label="B from", help_text="fit points")
    grade_c_min = forms.IntegerField(label="C from", help_text="fit points")
    grade_d_min = forms.IntegerField(label="D from", help_text="fit points; below: F")
    mql_score = forms.IntegerField(label="Score at least")
    mql_min_grade = forms.ChoiceField(
        label="Grade at least", required=False,
        choices=[("", "Any grade"), *[(g, g) for g in Grade.values if g != Grade.F]],
    )
    mql_category = forms.ModelChoiceField(
        label="And the category", queryset=ScoreCategory.objects.all(), required=False,
        to_field_name="key", empty_label="(no category condition)",
    )
    mql_category_min = forms.IntegerField(label="At least", required=False,
                                          help_text="points in that category")

    @classmethod
    def for_settings(cls, current: ScoringSettings) -> ScoringSettingsForm:
        return cls(initial={
            "grade_a_min": current.grade_a_min, "grade_b_min": current.grade_b_min,
            "grade_c_min": current.grade_c_min, "grade_d_min": current.grade_d_min,
            "mql_score": current.mql_score, "mql_min_grade": current.mql_min_grade,
            "mql_category": current.mql_category.key if current.mql_category_id else None,
            "mql_category_min": current.mql_category_min,
        })

    def values(self) -> dict[str, Any]:
        return dict(self.cleaned_data)

    def add_problems(self, problems: dict[str, list[str]]) -> None:
        for key, messages in problems.items():
            for message in messages:
                self.add_error(key if key in self.fields else None, message)


# --- The effectiveness report's period ------------------------------------------------------


class PeriodForm(forms.Form):
    start = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}),
                          help_text="Leads created from the start to the end day, inclusive.")

    @staticmethod
    def default_period() -> tuple[date, date]:
        today = timezone.localdate()
        return today - timedelta(days=REPORT_DEFAULT_DAYS), today

    def clean(self):
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start and end:
            if start > end:
                self.add_error("end", "The end comes before the start.")
            elif (end - start).days > REPORT_MAX_DAYS:
                self.add_error("start", "Choose a period of at most ten years.")
        return data
