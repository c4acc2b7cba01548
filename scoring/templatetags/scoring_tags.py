"""Scoring's template tags.

``{% load scoring_tags %}{% lead_score_breakdown lead %}`` renders a lead's score and
grade broken down by category, rule (with the activities that earned the points and
when they expire) and fit rule: the lead page includes it, so pages owned by other apps
need no scoring code in their views.
"""

from django import template

from capture.models import ActivityKind
from scoring import selectors

register = template.Library()

KIND_LABELS = dict(ActivityKind.choices)


@register.inclusion_tag("scoring/_lead_breakdown.html", takes_context=True)
def lead_score_breakdown(context, lead):
    request = context.get("request")
    user = getattr(request, "user", None)
    breakdown = selectors.lead_score_breakdown(lead)
    for line in breakdown.rules:
        for item in line.contributions:
            item.kind_label = KIND_LABELS.get(item.activity_kind, item.activity_kind)
    return {
        "lead": lead,
        "breakdown": breakdown,
        "matched_fit": [f for f in breakdown.fit if f.matched],
        "unmatched_fit": [f for f in breakdown.fit if not f.matched],
        "can_manage": bool(user and user.has_perm("leadhub.manage_scoring")),
    }


@register.filter
def percent(value):
    """A fraction as a percentage ("12.5 %"), "—" for None."""
    if value is None:
        return "—"
    return f"{100 * value:.1f} %"


@register.filter
def lift(value):
    """A ratio as "2.4×", "—" for None."""
    if value is None:
        return "—"
    return f"{value:.2f}×"
