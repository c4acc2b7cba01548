"""The funnel dashboard: a period's new leads and how far they got, moves into each stage,
conversion, velocity, rejection and disqualification reasons, leads by source and a
weekly trend (static/js/dashboard.js draws it from data passed with json_script).

Filters live in the URL (?period=30d&source=…&form=…&owner=…, or period=custom with
start and end), so a dashboard can be bookmarked and shared; ?export=<table> answers one
table as CSV. The figures come from pipeline.selectors.funnel in a fixed number of
queries, whatever the number of leads.
"""

from __future__ import annotations

import csv
import io

from django import forms
from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views import View

from capture.models import Form
from pipeline.selectors.funnel import (
    DEFAULT_PERIOD,
    FUNNEL_STAGES,
    PERIOD_LABELS,
    Period,
    funnel_cohort,
    funnel_dashboard,
    funnel_flow,
    funnel_reads,
    funnel_reasons,
    funnel_rows,
    funnel_velocity,
    funnel_weekly,
)
from pipeline.selectors.funnel import funnel_scope as make_scope
from pipeline.selectors.leads import OWNER_NONE, lead_owners, lead_sources
from pipeline.views.leads import LeadsAccess

MAX_DAYS = 5 * 366
CSV_REASONS = 500
SOURCES_SHOWN = 20


class DashboardFilterForm(forms.Form):
    period = forms.ChoiceField(choices=list(PERIOD_LABELS.items()), required=False)
    start = forms.DateField(required=False, label="From")
    end = forms.DateField(required=False, label="To (inclusive)")
    source = forms.CharField(required=False, max_length=200)
    form = forms.IntegerField(required=False, min_value=1, max_value=2**63 - 1)
    owner = forms.CharField(required=False, max_length=20,
                            help_text='A user id, or "none" for unassigned leads.')

    def clean_owner(self) -> str:
        owner = self.cleaned_data["owner"].strip().lower()
        # isascii(): "²".isdigit() is True, and int("²") raises.
        if owner and owner != OWNER_NONE and not (
            owner.isascii() and owner.isdigit() and int(owner) < 2**63
        ):
            raise forms.ValidationError('Choose a user, or "none" for unassigned leads.')
        return owner

    def clean(self):
        data = super().clean()
        period = data.get("period") or ("custom" if data.get("start") else DEFAULT_PERIOD)
        data["period"] = period
        if period == "custom" and "start" not in self.errors and "end" not in self.errors:
            start, end = data.get("start"), data.get("end") or timezone.localdate()
            if start is None:
                self.add_error("start", "Choose the first day of the period.")
            elif start > end:
                self.add_error("end", "The end comes before the start.")
            elif (end - start).days >= MAX_DAYS:
                self.add_error("start", "Choose a period of at most five years.")
            else:
                data["end"] = end
        return data

    def period_value(self) -> Period:
        """The period asked for, or the default one where the request's is invalid."""
        data = self.cleaned_data
        if any(name in self.errors for name in ("period", "start", "end")):
            return Period.named(DEFAULT_PERIOD)
        if data["period"] == "custom":
            return Period(data["start"], data["end"])
        return Period.named(data["period"])

    def filter_value(self, name: str):
        """A valid filter's value; an invalid filter is left out (and named on the page)."""
        return None if name in self.errors else self.cleaned_data.get(name)


def _filters(request) -> tuple[DashboardFilterForm, Period, dict]:
    form = DashboardFilterForm(request.GET)
    form.is_valid()
    filters = {
        "source": form.filter_value("source") or "",
        "form_id": form.filter_value("form"),
        "owner": form.filter_value("owner") or "",
    }
    return form, form.period_value(), filters


def _pct(value: float | None) -> float | None:
    return None if value is None else round(100 * value, 1)


def _chart(weekly) -> dict:
    return {
        "labels": [f"{row.week:%b} {row.week.day}" for row in weekly],
        "leads": [row.leads for row in weekly],
        "mqls": [row.mqls for row in weekly],
        "sqls": [row.sqls for row in weekly],
    }


class DashboardView(LeadsAccess, View):
    def get(self, request):
        form, period, filters = _filters(request)
        scope = make_scope(user=request.user, **filters)
        export = request.GET.get("export")
        if export is not None:
            if export not in CSV_TABLES:
                return _plain(f"Unknown table “{export}”; one of: {', '.join(CSV_TABLES)}.", 400)
            if form.errors:
                return _plain(_error_text(form), 400)
            with funnel_reads(scope):
                rows = list(CSV_TABLES[export](scope, period))
            return _csv_response(export, period, rows)
        with funnel_reads(scope):
            dashboard = funnel_dashboard(scope, period)
        query = request.GET.copy()
        query.pop("export", None)
        forms_menu = list(Form.objects.order_by("name").values_list("pk", "name")[:200])
        sources = lead_sources()
        if filters["source"] and filters["source"] not in sources:
            sources = [*sources, filters["source"]]
        context = {
            "form": form,
            "period": period,
            "d": dashboard,
            "funnel": dashboard.funnel[1:],
            "sources": dashboard.cohort.sources[:SOURCES_SHOWN],
            "sources_more": max(len(dashboard.cohort.sources) - SOURCES_SHOWN, 0),
            "chart": _chart(dashboard.weekly),
            "query": query.urlencode(),
            "selected": {"period": period.key, **{k: form.data.get(k, "") for k in (
                "source", "form", "owner")}},
            "period_choices": list(PERIOD_LABELS.items()),
            "default_period": DEFAULT_PERIOD,
            "filter_menus": {"sources": sources, "forms": forms_menu,
                             "owners": list(lead_owners())},
            "owner_none": OWNER_NONE,
            "filters_active": any(filters.values()) or filters["form_id"] is not None,
            "errors": [(form.fields[name].label or name.capitalize(), message)
                       for name, messages in form.errors.items() if name in form.fields
                       for message in messages],
        }
        return render(request, "pipeline/dashboard.html", context,
                      status=400 if form.errors else 200)


# --- CSV ----------------------------------------------------------------------------------


def _cell(value):
    """Spreadsheets run a cell that starts with = + - @: prefix those with '."""
    text = "" if value is None else str(value)
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _fraction(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


def _funnel_rows(scope, period):
    cohort = funnel_cohort(scope, period)
    yield ["stage", "reached", "share_of_new_leads", "conversion_from_previous",
           "moves_in_period"]
    for row in funnel_rows(cohort, funnel_flow(scope, period)):
        yield [row.stage, row.reached, _fraction(row.share), _fraction(row.conversion),
               "" if row.moves is None else row.moves]


def _velocity_rows(scope, period):
    yield ["step", "median_days", "leads"]
    for row in funnel_velocity(scope, period):
        yield [row.step, "" if row.median_days is None else f"{row.median_days:.2f}", row.leads]


def _reason_rows(scope, period):
    yield ["kind", "reason", "count", "total_of_kind"]
    for kind in ("rejected", "disqualified"):
        reasons = funnel_reasons(scope, period, kind=kind, limit=CSV_REASONS)
        for row in reasons:
            yield [kind, _cell(row.label), row.count, reasons.total]


def _source_rows(scope, period):
    yield ["source", "leads", *[f"reached_{stage}" for stage in FUNNEL_STAGES], "sql_rate"]
    for row in funnel_cohort(scope, period).sources:
        yield [_cell(row.source), row.leads, *[row.reached[s] for s in FUNNEL_STAGES],
               _fraction(row.sql_rate)]


def _weekly_rows(scope, period):
    yield ["week_starting", "new_leads", "mqls", "sqls"]
    for row in funnel_weekly(scope, period):
        yield [row.week.isoformat(), row.leads, row.mqls, row.sqls]


CSV_TABLES = {
    "funnel": _funnel_rows,
    "velocity": _velocity_rows,
    "reasons": _reason_rows,
    "sources": _source_rows,
    "weekly": _weekly_rows,
}


def _csv_response(table: str, period: Period, rows) -> HttpResponse:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="funnel-{table}-{period.start:%Y%m%d}-{period.end:%Y%m%d}.csv"')
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _plain(text: str, status: int) -> HttpResponse:
    return HttpResponse(text, status=status, content_type="text/plain; charset=utf-8")


def _error_text(form: DashboardFilterForm) -> str:
    return "; ".join(f"{name}: {' '.join(messages)}" for name, messages in form.errors.items())

