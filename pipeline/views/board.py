"""The pipeline board: columns that page on scroll, moves by drag, menu or keyboard,
and a poll for new MQLs assigned to me.

Query counts do not grow with the number of leads: the page asks one grouped COUNT/SUM
and one LIMIT 51 query per column; a column's next page and a move ask a fixed few.
"""

from datetime import timedelta

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponseBadRequest, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.dateparse import parse_datetime
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.text import capfirst
from django.views import View

from capture.models import Form, Grade, Lead, Stage
from pipeline.board import (
    ALL_STAGES,
    BadCursor,
    CardMaker,
    column_page,
    cursor_decode,
    first_pages,
    move_rules,
    totals_json,
)
from pipeline.models import (
    Notification,
    NotificationKind,
    PipelineSettings,
    ReasonKind,
    StageReason,
)
from pipeline.selectors import (
    BOARD_FILTER_PARAMS,
    NO_GRADE,
    OWNER_ME,
    OWNER_NONE,
    PERIODS,
    PIPELINE_PERMISSION,
    board_filter,
    board_sql_key,
    lead_owners,
    lead_sources,
    move_refusal,
    rejection_counts,
    sla_report,
)
from pipeline.services import lead_change_stage
from pipeline.views.leads import FILTER_LABELS, LeadsAccess

POLL_LIMIT = 20
POLL_OVERLAP = timedelta(seconds=60)
BOARD_FILTER_LABELS = {
    **FILTER_LABELS,
    "score_min": "Score from",
    "score_max": "Score to",
    "campaign": "Campaign",
    "form": "Form",
    "created": "Created in",
}


def filter_query(request) -> str:
    """The board's filters as a query string (without cursors), for column and move URLs."""
    params = request.GET.copy()
    for key in list(params):
        if key not in BOARD_FILTER_PARAMS:
            del params[key]
    return params.urlencode()


def totals_key(request, query: str) -> str:
    """What the column totals depend on: the filters, and who asks ("owner=me")."""
    return f"{request.user.pk}:{query}"


def _filter_errors(filterset) -> list[tuple[str, str]]:
    return [
        (BOARD_FILTER_LABELS.get(name, capfirst(name)), message)
        for name, errors in filterset.errors.items()
        for message in errors
    ]


def _column_url(stage: str, query: str, cursor: str = "") -> str:
    url = reverse("pipeline:board_column", args=[stage])
    parts = [p for p in (query, f"cursor={cursor}" if cursor else "") if p]
    return f"{url}?{'&'.join(parts)}" if parts else url


class BoardView(LeadsAccess, View):
    def get(self, request):
        filterset = board_filter(user=request.user, params=request.GET, request=request)
        leads = filterset.qs
        maker = CardMaker(can_move=request.user.has_perm(PIPELINE_PERMISSION))
        query = filter_query(request)
        totals = totals_json(leads, cache_key=totals_key(request, query))
        columns = []
        # Disqualified is folded away: its cards load when someone opens it.
        pages = first_pages(leads, [s for s in ALL_STAGES if s != Stage.DISQUALIFIED],
                            maker=maker, reuse=board_sql_key(user=request.user,
                                                             params=request.GET))
        for stage in ALL_STAGES:
            cards, cursor = pages.get(stage, ([], ""))
            columns.append({
                "stage": stage.value,
                "label": stage.label,
                "count": totals[stage]["count"],
                "deal_total": totals[stage]["deal_total_display"],
                "cards": cards,
                "next_url": _column_url(stage, query, cursor) if cursor else "",
                "first_url": _column_url(stage, query),
            })
        params = request.GET
        sources = lead_sources()
        if params.get("source") and params["source"] not in sources:
            sources.append(params["source"])
        reasons = list(StageReason.objects.filter(active=True).values_list("kind", "label"))
        context = {
            "columns": columns[:-1],
            "disqualified": columns[-1],
            "total": sum(t["count"] for t in totals.values()),
            "filter_errors": _filter_errors(filterset),
            "selected": {name: params.get(name, "") for name in BOARD_FILTER_PARAMS},
            "filters_active": any(params.get(name) for name in BOARD_FILTER_PARAMS),
            "grade_choices": [*Grade.choices, (NO_GRADE, "No grade")],
            "owner_me": OWNER_ME,
            "owner_none": OWNER_NONE,
            "owners": list(lead_owners()),
            "sources": sources,
            "forms": list(Form.objects.order_by("name").values_list("pk", "name")[:200]),
            "periods": [(key, f"Last {days} days") for key, days in PERIODS.items()],
            "can_move": request.user.has_perm(PIPELINE_PERMISSION),
            "board_config": {
                **move_rules(),
                "stages": {s.value: s.label for s in ALL_STAGES},
                "query": query,
                "pollUrl": reverse("pipeline:board_poll"),
                "now": timezone.now().isoformat(),
                "reasons": {
                    kind: [label for k, label in reasons if k == kind]
                    for kind in ReasonKind.values
                },
            },
        }
        return render(request, "pipeline/board.html", context)


class BoardColumnView(LeadsAccess, View):
    """The next page of one column (htmx, on scroll): cards plus the next "more" link."""

    def get(self, request, stage: str):
        if stage not in ALL_STAGES:
            return HttpResponseBadRequest("Unknown stage.")
        try:
            after = cursor_decode(request.GET.get("cursor"))
        except BadCursor:
            return HttpResponseBadRequest("Invalid cursor.")
        filterset = board_filter(user=request.user, params=request.GET, request=request)
        maker = CardMaker(can_move=request.user.has_perm(PIPELINE_PERMISSION))
        cards, cursor = column_page(filterset.qs, stage, after=after, maker=maker)
        response = render(request, "pipeline/_board_cards.html", {
            "cards": cards,
            "next_url": _column_url(stage, filter_query(request), cursor) if cursor else "",
            "can_move": request.user.has_perm(PIPELINE_PERMISSION),
            "stage_label": Stage(stage).label,
        })
        patch_vary_headers(response, ["HX-Request"])
        return response


def _card_html(request, lead: Lead, maker: CardMaker) -> str:
    lead = Lead.objects.select_related("owner", "deal").get(pk=lead.pk)
    return maker.card(lead).html(can_move=request.user.has_perm(PIPELINE_PERMISSION))


def compose_reason(choice: str, details: str) -> str:
    choice, details = (choice or "").strip()[:200], (details or "").strip()[:2000]
    if choice and details:
        return f"{choice}: {details}"
    return choice or details


def move_lead(request, lead: Lead) -> tuple[str | None, int]:
    """Move from a POSTed ``to`` and ``reason`` (and ``reason_choice``) through
    pipeline.services; returns (refusal message or None, HTTP status)."""
    refusal = move_refusal(request.user, lead)
    if refusal:
        return refusal, 403
    to = request.POST.get("to", "")
    reason = compose_reason(request.POST.get("reason_choice", ""), request.POST.get("reason", ""))
    try:
        lead_change_stage(lead=lead, to_stage=to, actor=request.user, reason=reason)
    except ValidationError as exc:
        return " ".join(exc.message_dict.get("stage") or exc.messages), 400
    return None, 200


def _wants_json(request) -> bool:
    return "application/json" in request.headers.get("Accept", "")


class BoardMoveView(LeadsAccess, View):
    """POST ``to`` (a stage) and ``reason``: from the board's script (JSON answer with the
    re-rendered card and the columns' new totals) or a plain form (redirect back)."""

    def post(self, request, pk: int):
        lead = self.get_lead(pk)
        refusal, status = move_lead(request, lead)
        if not _wants_json(request):
            if refusal:
                messages.error(request, refusal)
            else:
                messages.success(request, f"Moved “{lead}” to {Stage(lead.stage).label}.")
            next_url = request.POST.get("next", "")
            if not url_has_allowed_host_and_scheme(next_url, {request.get_host()}):
                next_url = reverse("pipeline:lead_detail", args=[lead.pk])
            return redirect(next_url)
        if refusal:
            return JsonResponse({"ok": False, "message": refusal}, status=status)
        leads = board_filter(user=request.user, params=request.GET, request=request).qs
        return JsonResponse({
            "ok": True,
            "stage": lead.stage,
            "message": f"Moved “{lead}” to {Stage(lead.stage).label}.",
            "card": _card_html(request, lead, CardMaker()),
            "totals": totals_json(leads),
        })


class BoardPollView(LeadsAccess, View):
    """New MQLs assigned to me since ``since``: the board polls this, so a new MQL shows
    up without a reload or a search.

    Read from my mql_assigned notifications, not from leads' updated_at: a form
    resubmission or my own move also touches updated_at, and is no news. The window
    reaches POLL_OVERLAP back, because a notification's time is taken before its
    transaction commits; the board ignores notification ids it has already shown."""

    def get(self, request):
        now = timezone.now()
        since = parse_datetime(request.GET.get("since", "") or "")
        if since is None or timezone.is_naive(since):
            return JsonResponse({"now": now.isoformat(), "cards": [], "totals": None})
        since = min(since, now)
        news = dict(
            Notification.objects.filter(
                recipient=request.user, kind=NotificationKind.MQL_ASSIGNED,
                created_at__gt=since - POLL_OVERLAP, lead__isnull=False,
            ).order_by("id").values_list("lead_id", "id")[: POLL_LIMIT * 5]
        )
        leads = board_filter(user=request.user, params=request.GET, request=request).qs
        fresh = list(
            leads.filter(pk__in=list(news), owner=request.user, stage=Stage.MQL)
            .select_related("owner", "deal")
            .order_by("-stage_changed_at", "-id")[:POLL_LIMIT]
        ) if news else []
        maker = CardMaker(now)
        can = request.user.has_perm(PIPELINE_PERMISSION)
        cards = [
            {"id": lead.pk, "stage": lead.stage, "notification": news[lead.pk],
             "html": maker.card(lead).html(can_move=can, fresh=True)}
            for lead in fresh
        ]
        return JsonResponse({
            "now": now.isoformat(),
            "cards": cards,
            "totals": totals_json(leads) if cards else None,
        })


class RejectionReportView(LeadsAccess, View):
    """Hand-off reports: rejected MQLs per source, form and reason (for marketing), and
    speed-to-lead (SLA breaches now, median time to first touch per rep)."""

    def get(self, request):
        days = request.GET.get("days", "90")
        days = int(days) if days.isascii() and days.isdigit() and 0 < int(days) <= 3650 else 90
        since = timezone.now() - timedelta(days=days)
        sla_minutes = PipelineSettings.load().sla_minutes
        return render(request, "pipeline/rejections.html", {
            "counts": rejection_counts(since=since),
            "days": days,
            "sla_minutes": sla_minutes,
            "sla": sla_report(since=since, now=timezone.now(), sla_minutes=sla_minutes),
        })
