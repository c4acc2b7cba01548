"""Hand-off reports: rejected MQLs per source, form and reason; speed to lead."""

import statistics
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db.models import Count, OuterRef, Q, Subquery

from capture.models import Lead, Stage
from leadhub.db import reporting_db


def rejection_counts(*, since=None, limit: int = 50) -> dict[str, list[dict]]:
    """How many MQLs sales rejected back to Lead, per lead source, per form (the form of
    the lead's first submission) and per reason: what marketing reads to see which
    channels send poor leads. Three grouped queries over the transitions table."""
    from capture.models import Submission
    from pipeline.models import StageTransition

    rejected = StageTransition.objects.using(reporting_db()).filter(
        from_stage=Stage.MQL, to_stage=Stage.LEAD)
    if since is not None:
        rejected = rejected.filter(created_at__gte=since)
    first_form = Submission.objects.filter(lead=OuterRef("lead")).order_by("id").values(
        "form__name"
    )[:1]
    by_source = (
        rejected.order_by().values("lead__source").annotate(n=Count("id")).order_by("-n")
    )
    by_form = (
        rejected.order_by().annotate(form_name=Subquery(first_form)).values("form_name")
        .annotate(n=Count("id")).order_by("-n")
    )
    by_reason = rejected.order_by().values("reason").annotate(n=Count("id")).order_by("-n")
    return {
        "by_source": [{"label": r["lead__source"] or "(none)", "count": r["n"]}
                      for r in by_source[:limit]],
        "by_form": [{"label": r["form_name"] or "(no form)", "count": r["n"]}
                    for r in by_form[:limit]],
        "by_reason": [{"label": r["reason"] or "(none)", "count": r["n"]}
                      for r in by_reason[:limit]],
    }


def sla_report(*, since, now, sla_minutes: int, limit: int = 100) -> dict:
    """Speed-to-lead: MQLs past the SLA that no one has touched yet, and per rep the
    median time from becoming an MQL to the first touch (MQLs since ``since``)."""
    from pipeline.models import StageTransition

    db = reporting_db()
    deadline = now - timedelta(minutes=sla_minutes)
    breaches = list(
        Lead.objects.using(db).filter(stage=Stage.MQL, stage_changed_at__lt=deadline)
        .filter(Q(deal__isnull=True) | Q(deal__first_touch_at__isnull=True))
        .select_related("owner").order_by("stage_changed_at", "id")[:limit]
    )
    # Each hand-off's own owner and first touch, as recorded when they happened.
    rows = (
        StageTransition.objects.using(db).filter(to_stage=Stage.MQL, created_at__gte=since)
        .exclude(owner=None)
        .values_list("owner_id", "created_at", "first_touch_at")[:20_000]
    )
    waits: dict[int, list[float]] = {}
    for owner_id, became_mql, touched in rows:
        if touched is not None and touched >= became_mql:
            waits.setdefault(owner_id, []).append((touched - became_mql).total_seconds())
    owners = get_user_model().objects.using(db).in_bulk(list(waits))
    per_rep = sorted(
        (
            {"owner": owners[pk], "touched": len(seconds),
             "median_minutes": round(statistics.median(seconds) / 60, 1)}
            for pk, seconds in waits.items() if pk in owners
        ),
        key=lambda row: row["median_minutes"],
    )
    return {"breaches": breaches, "per_rep": per_rep}
