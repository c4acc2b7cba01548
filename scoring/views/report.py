"""Rule effectiveness: for each rule, the leads of a period it fired for and those it did
not, and how many of each reached SQL and customer (lift), as a table, a bar chart
(static/js/scoring-report.js draws it from data passed with json_script) and CSV."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views import View

from scoring import selectors
from scoring.forms import PeriodForm
from scoring.views.common import ScoringAccess
from scoring.views.rescore import rescore_context


def _period(request) -> tuple[PeriodForm, date, date]:
    start, end = PeriodForm.default_period()
    if "start" in request.GET or "end" in request.GET:
        form = PeriodForm(request.GET)
        if form.is_valid():
            start, end = form.cleaned_data["start"], form.cleaned_data["end"]
    else:
        form = PeriodForm(initial={"start": start, "end": end})
    return form, start, end


def _bounds(start: date, end: date) -> tuple[datetime, datetime]:
    """[start 00:00, the day after end 00:00) in the site's time zone."""
    tz = timezone.get_current_timezone()
    return (datetime.combine(start, time.min, tzinfo=tz),
            datetime.combine(end + timedelta(days=1), time.min, tzinfo=tz))


def _chart_data(report: selectors.Effectiveness) -> dict:
    rules = [e for e in report.rules if e.fired]

    def pct(value: float | None) -> float | None:
        return None if value is None else round(100 * value, 1)

    return {
        "labels": [e.name[:60] for e in rules],
        "sql_fired": [pct(e.sql_rate) for e in rules],
        "sql_not_fired": [pct(e.sql_rate_without) for e in rules],
        "customer_fired": [pct(e.customer_rate) for e in rules],
    }


class EffectivenessView(ScoringAccess, View):
    def get(self, request):
        form, start, end = _period(request)
        report = selectors.rule_effectiveness(start=_bounds(start, end)[0],
                                              end=_bounds(start, end)[1])
        context = {
            "form": form,
            "start": start,
            "end": end,
            "report": report,
            "behaviour": [e for e in report.rules if e.kind == "behavior"],
            "fit": [e for e in report.rules if e.kind == "fit"],
            "chart": _chart_data(report),
            "has_chart": any(e.fired for e in report.rules),
            "can_manage": self.can_manage,
            **rescore_context(request),
        }
        return render(request, "scoring/effectiveness.html", context,
                      status=200 if form.is_valid() or not form.is_bound else 400)


class EffectivenessCsvView(ScoringAccess, View):
    def get(self, request):
        form, start, end = _period(request)
        if form.is_bound and not form.is_valid():
            errors = "; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items())
            return HttpResponse(errors, status=400, content_type="text/plain; charset=utf-8")
        lo, hi = _bounds(start, end)
        report = selectors.rule_effectiveness(start=lo, end=hi)
        response = HttpResponse(selectors.rule_effectiveness_csv(report),
                                content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = (
            f'attachment; filename="rule-effectiveness-{start:%Y%m%d}-{end:%Y%m%d}.csv"')
        response["X-Content-Type-Options"] = "nosniff"
        return response
