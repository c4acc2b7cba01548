"""Formatting for the funnel dashboard's figures."""

from django import template

register = template.Library()


@register.filter
def percent(fraction: float | None) -> str:
    """0.1234 → "12.3 %"; "—" where there was nothing to divide by."""
    if fraction is None:
        return "—"
    return f"{100 * fraction:.1f} %"


@register.filter
def days(value: float | None) -> str:
    """A median in days, to a tenth: "3.5 days"; "—" when no lead made the step."""
    if value is None:
        return "—"
    return f"{value:.1f} day{'' if round(value, 1) == 1 else 's'}"
