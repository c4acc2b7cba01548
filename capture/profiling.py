"""Progressive profiling: which of a form's fields to show a returning visitor.

A pure function of the form's fields, what is already known about the lead and the
form's cap, so the hosted page, landing pages and the embed (through
GET /f/<key>/fields/) all choose alike, and tests need no database.

The rules:
- the email field always shows (it is how the submission finds the lead);
- hidden fields always go along (they carry campaign values, nobody sees them) and do
  not count against the cap;
- a field whose lead value is already known is left out, unless it is required:
  the submission endpoints insist on required fields, so hiding one would turn the post
  into an error (mark the fields to profile progressively as optional);
- the consent checkbox shows until consent was given, outside the cap (a legal
  question, not a profiling one);
- the remaining fields are shown in form order until ``max_fields`` visible fields.
"""

from collections.abc import Iterable, Mapping
from typing import Any

from capture.models.forms import ATTRIBUTE_PREFIX, FieldType


def known_values(lead) -> dict[str, Any]:
    """The lead's values a form field can map to, by maps_to target ("first_name",
    "attributes.topic", …); an empty dict for no lead."""
    if lead is None:
        return {}
    from capture.models.forms import MAPPABLE_LEAD_FIELDS

    known: dict[str, Any] = {name: getattr(lead, name) for name in MAPPABLE_LEAD_FIELDS}
    for name, value in (lead.attributes or {}).items():
        known[f"{ATTRIBUTE_PREFIX}{name}"] = value
    return known


def _is_known(value: Any) -> bool:
    return value not in (None, "", [], {}, False)


def fields_to_show(
    fields: Iterable, *, known: Mapping[str, Any] | None, max_fields: int | None
) -> list[str]:
    """Names of the fields to show, in form order. ``fields`` are FormField-like objects
    (name, type, required, maps_to); ``known`` is ``known_values(lead)`` (None or empty
    for a visitor nobody knows)."""
    fields = list(fields)
    known = known or {}
    cap = max_fields if max_fields else None
    chosen: list[str] = []
    visible = 0
    for field in fields:
        target = field.maps_to or ""
        if field.type == FieldType.HIDDEN:
            chosen.append(field.name)
        elif target == "email":
            chosen.append(field.name)
            visible += 1
        elif target == "marketing_consent" and field.type == FieldType.CHECKBOX:
            if not _is_known(known.get(target)):
                chosen.append(field.name)
        elif field.required:
            chosen.append(field.name)
            visible += 1
    # A second pass in form order for the optional, unanswered fields, so the cap never
    # pushes out a required field that comes after them.
    for field in fields:
        if field.name in chosen or field.type == FieldType.HIDDEN:
            continue
        target = field.maps_to or ""
        if target in ("email", "marketing_consent") or field.required:
            continue
        if target and _is_known(known.get(target)):
            continue
        if cap is not None and visible >= cap:
            break
        chosen.append(field.name)
        visible += 1
    order = {field.name: i for i, field in enumerate(fields)}
    return sorted(chosen, key=order.__getitem__)
