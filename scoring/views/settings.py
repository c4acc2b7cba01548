"""Grade bands and the MQL threshold. "Preview" tells, before saving, how many leads
would meet the threshold with the typed settings (from the stored scores and fit
scores: one counting query)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Case, Count, F, Q, Value, When
from django.db.models.functions import Coalesce
from django.shortcuts import redirect, render
from django.views import View

from capture.models import Grade, Lead, Stage
from scoring.forms import ScoringSettingsForm
from scoring.models import GRADE_ORDER, ScoringSettings
from scoring.services import settings_problems, settings_update
from scoring.views.common import ScoringAccess
from scoring.views.rescore import rescore_context


@dataclass
class SettingsImpact:
    leads: int
    qualified_now: int
    qualified_then: int
    would_become_mql: int
    would_drop_below: int
    grades_changed: int


def _qualifies(values: dict[str, Any], grade: str | None) -> Q:
    """Leads meeting the threshold in ``values``; ``grade`` names the annotation holding
    their grade under those bands (None: the stored grade)."""
    condition = Q(score__gte=values["mql_score"])
    if values["mql_min_grade"]:
        allowed = [g.value for g in GRADE_ORDER[:GRADE_ORDER.index(values["mql_min_grade"]) + 1]]
        condition &= Q(**{f"{grade or 'grade'}__in": allowed})
    category = values.get("mql_category")
    if category is not None:
        key = f"scoring_state__categories__{category.key}"
        minimum = values["mql_category_min"]
        met = Q(**{f"{key}__gte": minimum})
        if minimum <= 0:  # subtotals of 0 are not stored
            met |= Q(**{f"{key}__isnull": True})
        condition &= met
    return condition


def settings_impact(values: dict[str, Any]) -> SettingsImpact:
    """How many leads meet the threshold now and would with ``values`` (bands applied to
    the stored fit scores; a lead never scored has a fit score of 0)."""
    current = ScoringSettings.load()
    now = {f: getattr(current, f) for f in ("mql_score", "mql_min_grade", "mql_category",
                                            "mql_category_min")}
    new_grade = Case(
        *[When(fit__gte=values[f"grade_{g.lower()}_min"], then=Value(g)) for g in "ABCD"],
        default=Value(Grade.F),
    )
    # As 1/0 columns: a missing category subtotal makes the condition NULL, and NOT NULL
    # would count nobody.
    yes, no = Value(1), Value(0)
    figures = (Lead.objects
               .annotate(fit=Coalesce("scoring_state__fit_score", Value(0)))
               .annotate(new_grade=new_grade)
               .annotate(q_now=Case(When(_qualifies(now, None), then=yes), default=no),
                         q_then=Case(When(_qualifies(values, "new_grade"), then=yes),
                                     default=no))
               .aggregate(
                   leads=Count("id"),
                   qualified_now=Count("id", filter=Q(q_now=1)),
                   qualified_then=Count("id", filter=Q(q_then=1)),
                   would_become_mql=Count("id", filter=Q(stage=Stage.LEAD, q_now=0, q_then=1)),
                   would_drop_below=Count("id", filter=Q(q_now=1, q_then=0)),
                   grades_changed=Count("id", filter=~Q(new_grade=F("grade"))),
               ))
    return SettingsImpact(**figures)


class ScoringSettingsView(ScoringAccess, View):
    """GET: the form (read-only without manage_scoring). POST ``_action``: "save"
    (default) or "preview"."""

    def get(self, request):
        return self.show(ScoringSettingsForm.for_settings(ScoringSettings.load()))

    def post(self, request):
        self.require_manage()
        form = ScoringSettingsForm(request.POST)
        values = form.values() if form.is_valid() else None
        if values is not None and (problems := settings_problems(values)):
            form.add_problems(problems)
            values = None
        if values is None:
            return self.show(form, failed=True, status=400)
        if request.POST.get("_action") == "preview":
            return self.show(form, impact=settings_impact(values))
        try:
            settings_update(actor=request.user, **values)
        except ValidationError as exc:
            form.add_problems(exc.message_dict)
            return self.show(form, failed=True, status=400)
        messages.success(request, "Saved the grade bands and the MQL threshold. Every lead "
                                  "is being regraded and checked against them.")
        return redirect("scoring:settings")

    def show(self, form, *, failed=False, impact=None, status=200):
        context = {"form": form, "failed": failed, "impact": impact,
                   "can_manage": self.can_manage, **rescore_context(self.request)}
        return render(self.request, "scoring/settings.html", context, status=status)
