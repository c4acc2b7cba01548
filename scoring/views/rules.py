"""The rules list, the rule editor (with its impact preview and "test against a lead"),
deleting a rule, the active switch, and categories.

The editor is one HTML form: the rule's fields and its conditions (a formset). Adding or
removing a condition only changes what is on the page (a round trip that returns the
conditions unsaved: htmx swaps just that block; without JavaScript the whole page comes
back). "Preview impact" and "Test against a lead" post the same form to small endpoints
that answer with a fragment (or, without JavaScript, the editor view shows them in the
page); nothing is written until "Save".
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Count, Q
from django.http import HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.views import View

from capture.models import Activity, ActivityKind, Lead
from scoring import selectors
from scoring.forms import (
    CONDITIONS_PREFIX,
    SCORABLE_KINDS,
    CategoryForm,
    ConditionFormSet,
    RuleForm,
    add_rule_problems,
    behaviour_fields,
    condition_rows,
    describe_condition,
    fit_fields,
    named_lists,
    ops_by_field,
    read_rule,
)
from scoring.models import Rule, RuleKind, ScoreCategory, ScoringSettings
from scoring.services import (
    category_create,
    rule_create,
    rule_delete,
    rule_problems,
    rule_update,
)
from scoring.views.common import ManageScoringAccess, ScoringAccess
from scoring.views.rescore import rescore_context

KIND_LABELS = dict(ActivityKind.choices)
TEST_LEAD_CHOICES = 8
TEST_ACTIVITIES_SHOWN = 50


def kind_label(kind: str) -> str:
    return KIND_LABELS.get(kind, kind)


def rule_options(rule: Rule) -> list[str]:
    """The cap, decay and count options of a behaviour rule, as short phrases."""
    options = []
    if rule.count:
        options.append(f"when it happens {rule.count}× within {rule.window_days} d")
    if rule.max_times:
        options.append("once per lead" if rule.max_times == 1
                       else f"at most {rule.max_times}× per lead")
    if rule.expires_after_days:
        options.append(f"expires after {rule.expires_after_days} d")
    return options


def threshold_text(current: ScoringSettings) -> str:
    parts = [f"score ≥ {current.mql_score}"]
    if current.mql_min_grade:
        parts.append(f"grade {current.mql_min_grade} or better")
    if current.mql_category_id:
        parts.append(f"{current.mql_category.name} ≥ {current.mql_category_min}")
    return " and ".join(parts)


# --- The list -------------------------------------------------------------------------------


class RuleListView(ScoringAccess, View):
    def get(self, request):
        return self.show(CategoryForm())

    def show(self, category_form: CategoryForm, *, status: int = 200):
        rules = list(selectors.rules_for_kind())
        for rule in rules:
            rule.kind_label = kind_label(rule.activity_kind)
            rule.condition_texts = [describe_condition(c) for c in rule.conditions]
            rule.options = rule_options(rule)
        current = ScoringSettings.load()
        context = {
            "behaviour_rules": [r for r in rules if r.kind == RuleKind.BEHAVIOR],
            "fit_rules": [r for r in rules if r.kind == RuleKind.FIT],
            "settings": current,
            "threshold": threshold_text(current),
            "categories": ScoreCategory.objects.annotate(
                rule_count=Count("rules", filter=Q(rules__kind=RuleKind.BEHAVIOR))),
            "category_form": category_form,
            "can_manage": self.can_manage,
            **rescore_context(self.request),
        }
        return render(self.request, "scoring/rules.html", context, status=status)


class CategoryCreateView(ManageScoringAccess, RuleListView):
    def get(self, request):
        return redirect(reverse("scoring:index") + "#categories")

    def post(self, request):
        form = CategoryForm(request.POST)
        if form.is_valid():
            try:
                category = category_create(name=form.cleaned_data["name"])
            except ValidationError as exc:
                for key, errors in exc.message_dict.items():
                    for error in errors:
                        form.add_error("name", error if key == "name" else f"Key: {error}")
            else:
                messages.success(request, f"Category “{category.name}” added.")
                return redirect(reverse("scoring:index") + "#categories")
        return self.show(form, status=400)


class RuleActiveView(ManageScoringAccess, View):
    """The list's switch: turn a rule on or off (a rescore follows)."""

    def post(self, request, pk: int):
        rule = self.get_rule(pk)
        active = request.POST.get("active") == "1"
        rule_update(rule=rule, actor=request.user, active=active)
        messages.success(request, f"“{rule.name}” is now {'active' if active else 'inactive'}"
                                  "; every lead is being rescored.")
        return redirect(reverse("scoring:index") + f"#rule-{rule.pk}")


# --- The editor -----------------------------------------------------------------------------


def _blank_row() -> dict:
    return {"field": "", "op": "equals", "value": ""}


def _raw_rows(formset) -> list[dict]:
    return [{name: row[name].value() or "" for name in ("field", "op", "value")}
            for row in formset.forms]


class RuleEditorMixin:
    """What the editor page, the preview and the test endpoints share."""

    rule: Rule | None = None

    def bound(self) -> tuple[RuleForm, Any]:
        data = self.request.POST.copy()
        # The kind is fixed when the rule is made (the URL says which), not by the page.
        data["kind"] = self.rule.kind if self.rule else self.new_kind()
        return RuleForm(data), ConditionFormSet(data, prefix=CONDITIONS_PREFIX)

    def new_kind(self) -> str:
        kind = self.request.GET.get("kind", RuleKind.BEHAVIOR)
        return kind if kind in RuleKind.values else RuleKind.BEHAVIOR

    def checked(self, form: RuleForm, formset) -> tuple[dict | None, list[str]]:
        """The values, validated by the services (errors put beside their inputs); None
        and the leftover messages when something is wrong."""
        if not formset.management_form.is_valid():
            return None, ["The editor's form was incomplete; reload the page."]
        values, rows, complete = read_rule(form, formset, rule=self.rule)
        leftover = list(formset.non_form_errors())
        problems = rule_problems(values)
        leftover += add_rule_problems(form, formset, rows, problems)
        if problems or not complete:
            return None, leftover
        return values, leftover

    def impact_context(self, values: dict | None, problems: list[str]) -> dict:
        if values is None:
            return {"impact": None, "impact_problems": problems or
                    ["Fix what is marked in the editor to see the impact."]}
        try:
            impact = selectors.rule_impact(values, rule=self.rule)
        except ValidationError as exc:
            return {"impact": None, "impact_problems": exc.messages}
        return {"impact": impact, "impact_problems": [], "impact_kind": values["kind"],
                "impact_inactive": not values["active"]}

    def test_context(self, values: dict | None, problems: list[str]) -> dict:
        search = (self.request.POST.get("test_lead") or "").strip()[:200]
        context: dict[str, Any] = {"test_search": search, "test": None, "test_leads": [],
                                   "test_problems": [], "test_lead": None}
        visible = Lead.objects.visible_to(self.request.user)
        lead = None
        lead_id = self.request.POST.get("test_lead_id", "")
        action = self.request.POST.get("_action", "")
        if action.startswith("test:"):  # a lead chosen from several, without JavaScript
            lead_id = action.partition(":")[2]
        if lead_id.isdigit():
            lead = visible.filter(pk=int(lead_id)).first()
        elif search:
            lead = visible.with_email(search).first() if "@" in search else None
            if lead is None:
                found = find_leads(visible, search)
                if len(found) == 1:
                    lead = found[0]
                else:
                    context["test_leads"] = found
                    if not found:
                        context["test_problems"] = [f"No lead matches “{search}”."]
                    return context
        if lead is None:
            context["test_problems"] = ["Type a lead's email or name to test the rule on."]
            return context
        context["test_lead"] = lead
        if values is None:
            context["test_problems"] = problems or [
                "Fix what is marked in the editor to test the rule."]
            return context
        try:
            test = selectors.rule_test_against_lead(values, lead, rule=self.rule)
        except ValidationError as exc:
            context["test_problems"] = exc.messages
            return context
        shown = test.lines[-TEST_ACTIVITIES_SHOWN:][::-1]  # newest first
        activities = Activity.objects.in_bulk([line.activity_id for line in shown])
        context["test"] = test
        context["test_lines"] = [
            {"line": line, "activity": activities.get(line.activity_id),
             "kind_label": kind_label(values["activity_kind"])} for line in shown]
        context["test_hidden"] = len(test.lines) - len(shown)
        return context

    def url_for(self, name: str) -> str:
        if self.rule is not None:
            return reverse(f"scoring:rule_{name}", args=[self.rule.pk])
        return reverse(f"scoring:rule_new_{name}") + f"?kind={self.new_kind()}"


def find_leads(visible, text: str) -> list[Lead]:
    """Leads whose email, name or company hold every word typed (at most a few)."""
    for word in text.split()[:6]:
        visible = visible.filter(Q(email__icontains=word) | Q(first_name__icontains=word)
                                 | Q(last_name__icontains=word) | Q(company__icontains=word))
    return list(visible.order_by("-last_activity_at", "-id")[:TEST_LEAD_CHOICES])


class RuleEditorView(ManageScoringAccess, RuleEditorMixin, View):
    """GET: the editor. POST ``_action``: "save" (default), "add" (a condition),
    "remove:<row>", "preview" and "test" (shown in the page, nothing saved)."""

    def setup(self, request, *args, **kwargs):
        super().setup(request, *args, **kwargs)
        self.pk = kwargs.get("pk")

    def load_rule(self) -> None:
        self.rule = self.get_rule(self.pk) if self.pk is not None else None

    def get(self, request, pk: int | None = None):
        self.load_rule()
        if self.rule is not None:
            form = RuleForm.for_rule(self.rule)
            rows = condition_rows(self.rule.conditions)
        else:
            form = RuleForm.new(self.new_kind())
            rows = [_blank_row()]
        formset = ConditionFormSet(prefix=CONDITIONS_PREFIX, initial=rows)
        return self.show(form, formset)

    def post(self, request, pk: int | None = None):
        self.load_rule()
        form, formset = self.bound()
        if not formset.management_form.is_valid():
            return HttpResponseBadRequest("The editor's form was incomplete; reload the page.")
        action = request.POST.get("_action", "save")
        if action == "add" or action.startswith("remove:"):
            return self.rearrange(form, formset, action)
        values, problems = self.checked(form, formset)
        if action == "preview":
            return self.show(form, formset, problems=problems, failed=values is None,
                             **self.impact_context(values, problems))
        if action == "test" or action.startswith("test:"):
            return self.show(form, formset, problems=problems, failed=values is None,
                             **self.test_context(values, problems))
        if values is not None:
            if self.rule is not None and all(
                    getattr(self.rule, f) == v for f, v in values.items()):
                messages.info(request, f"“{self.rule.name}” had no changes to save.")
                return redirect(reverse("scoring:index") + f"#rule-{self.rule.pk}")
            try:
                if self.rule is None:
                    rule = rule_create(actor=request.user, **values)
                else:
                    rule = rule_update(rule=self.rule, actor=request.user, **values)
            except ValidationError as exc:
                problems += add_rule_problems(form, formset, [], exc.message_dict
                                              if hasattr(exc, "error_dict")
                                              else {"__all__": exc.messages})
            else:
                messages.success(request, f"Saved “{rule.name}”. Every lead is being "
                                          "rescored with it.")
                return redirect(reverse("scoring:index") + f"#rule-{rule.pk}")
        return self.show(form, formset, problems=problems, failed=True, status=400)

    def rearrange(self, form: RuleForm, formset, action: str):
        rows = _raw_rows(formset)
        focus = None
        if action == "add" and len(rows) < ConditionFormSet.max_num:
            rows.append(_blank_row())
            focus = len(rows) - 1
        elif action.startswith("remove:"):
            number = action.partition(":")[2]
            if number.isdigit() and int(number) < len(rows):
                del rows[int(number)]
                focus = min(int(number), len(rows) - 1) if rows else None
        formset = ConditionFormSet(prefix=CONDITIONS_PREFIX, initial=rows)
        unsaved = RuleForm(initial={name: form[name].value() for name in form.fields})
        response = self.show(unsaved, formset, focus=focus)
        patch_vary_headers(response, ["HX-Request"])
        return response

    def show(self, form: RuleForm, formset, *, problems=(), failed=False, focus=None,
             status: int = 200, **extra):
        kind = self.rule.kind if self.rule else self.new_kind()
        context = {
            "rule": self.rule,
            "kind": kind,
            "form": form,
            "formset": formset,
            "problems": problems,
            "failed": failed,
            "focus_row": focus,
            "field_names": behaviour_fields() if kind == RuleKind.BEHAVIOR else fit_fields(),
            "named_lists": named_lists(),
            "ops_by_field": ops_by_field(kind),
            "activity_kinds": SCORABLE_KINDS,
            "max_conditions": ConditionFormSet.max_num,
            "editor_url": (reverse("scoring:rule_edit", args=[self.rule.pk]) if self.rule
                           else reverse("scoring:rule_new") + f"?kind={kind}"),
            "preview_url": self.url_for("preview"),
            "test_url": self.url_for("test"),
            **extra,
        }
        return render(self.request, "scoring/rule_editor.html", context, status=status)


class RulePreviewView(ManageScoringAccess, RuleEditorMixin, View):
    """The editor's impact preview, as a fragment: what saving the form would do."""

    def post(self, request, pk: int | None = None):
        self.rule = self.get_rule(pk) if pk is not None else None
        form, formset = self.bound()
        values, problems = self.checked(form, formset)
        return render(request, "scoring/_impact.html",
                      self.impact_context(values, _with_field_errors(form, formset, problems)))


class RuleTestView(ManageScoringAccess, RuleEditorMixin, View):
    """"Test against a lead", as a fragment."""

    def post(self, request, pk: int | None = None):
        self.rule = self.get_rule(pk) if pk is not None else None
        form, formset = self.bound()
        values, problems = self.checked(form, formset)
        context = self.test_context(values, _with_field_errors(form, formset, problems))
        context["test_url"] = self.url_for("test")
        return render(request, "scoring/_test.html", context)


def _with_field_errors(form: RuleForm, formset, problems: list[str]) -> list[str]:
    """For the fragments (which are not beside the inputs): every error, named."""
    named = list(problems)
    if form.is_bound:
        for field in form:
            named += [f"{field.label}: {error}" for error in field.errors]
        named += list(form.non_field_errors())
    if formset.is_bound:
        for i, row in enumerate(formset.forms):
            for name, errors in row.errors.items():
                label = "" if name == "__all__" else f" {name}"
                named += [f"Condition {i + 1}{label}: {error}" for error in errors]
    return named


# --- Delete ---------------------------------------------------------------------------------


class RuleDeleteView(ManageScoringAccess, View):
    def get(self, request, pk: int):
        rule = self.get_rule(pk)
        impact = selectors.rule_impact(None, rule=rule) if rule.active else None
        return render(request, "scoring/rule_confirm_delete.html", {
            "rule": rule, "impact": impact, "impact_kind": rule.kind,
            "earned": rule.contributions.exclude(points=0).count(),
        })

    def post(self, request, pk: int):
        rule = self.get_rule(pk)
        name = rule.name
        rule_delete(rule=rule, actor=request.user)
        messages.success(request, f"Deleted “{name}”. Every lead is being rescored without it.")
        return redirect("scoring:index")
