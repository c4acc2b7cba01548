"""Checking a submission against its form's fields: what was posted in, per-field
errors or clean values (plus what they write to the lead) out. Pure functions: no
database, so the public endpoint can judge a post before it opens a transaction."""

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qs, urlsplit

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator

from capture.countries import COUNTRY_LOOKUP
from capture.models import FieldType, Lead
from capture.models.forms import ATTRIBUTE_PREFIX, LIST_TYPES
from capture.services.leads import text_problem

# Names LeadHub's own forms (hosted page, embed, snippet) add beside the form's fields.
# They start with "_lh_" so no form field can take them (field names are slugs without
# a leading underscore), and are never reported as ignored.
META_PREFIX = "_lh_"
TOKEN_FIELD = "_lh_token"  # noqa: S105 (signed render time and landing-page variant)
POW_FIELD = "_lh_pow"  # proof-of-work solution
PAGE_URL_FIELD = "_lh_page"  # URL of the page the form sat on
REFERRER_FIELD = "_lh_ref"  # that page's referrer
VISITOR_FIELD = "_lh_vid"  # signed visitor id from the tracking cookie
# The honeypot: hidden from people by CSS (and from screen readers and the tab order);
# bots that fill every input fill it. A plausible name, so they do.
HONEYPOT_FIELD = "lh_url"

UTM_PARAMS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")

# Longest value kept per type; values mapped to a lead field are also capped at that
# field's own length.
TYPE_CAPS = {
    FieldType.TEXTAREA: 5000,
    FieldType.EMAIL: 254,
    FieldType.PHONE: 50,
}
DEFAULT_CAP = 500
# Names not on the form are never stored, only reported (Submission.ignored_fields and
# the answer): at most this many, each cut to this length, and only names that can be
# stored and sent at all (no NUL, no lone surrogate: Postgres' jsonb refuses them, and
# a JSON key "\ud800" cannot even be encoded as UTF-8 for the answer).
MAX_IGNORED_REPORTED = 50
MAX_IGNORED_NAME = 100
MAX_OPTIONS_CHOSEN = 100

_SURROGATE = re.compile("[\ud800-\udfff]")
_email_validator = EmailValidator()
TRUE_VALUES = {"1", "true", "on", "yes", "y", "checked"}
FALSE_VALUES = {"", "0", "false", "off", "no", "n"}


@dataclass
class CleanSubmission:
    """A submission that passed validation."""

    values: dict[str, Any]  # by field name, as stored on the Submission
    lead_values: dict[str, Any]  # by Lead field name
    attributes: dict[str, Any]  # custom attributes to merge into the lead's
    email: str
    consent_given: bool
    ignored: list[str] = field(default_factory=list)


class SubmissionInvalid(Exception):
    def __init__(self, errors: dict[str, list[str]], values: dict[str, Any]):
        super().__init__(errors)
        self.errors = errors
        self.values = values  # what the visitor typed, to show the form again


def field_cap(field_def) -> int:
    cap = TYPE_CAPS.get(field_def.type, DEFAULT_CAP)
    target = field_def.maps_to
    if target and not target.startswith(ATTRIBUTE_PREFIX):
        max_length = getattr(Lead._meta.get_field(target), "max_length", None)
        if max_length:
            cap = min(cap, max_length)
    return cap


def _first(raw: Any) -> Any:
    if isinstance(raw, list | tuple):
        if len(raw) > 1:
            raise ValidationError("Enter a single value.")
        return raw[0] if raw else ""
    return raw


def _as_list(raw: Any) -> list:
    if raw is None or raw == "":
        return []
    if isinstance(raw, list | tuple):
        return list(raw)
    return [raw]


def _text(raw: Any, cap: int) -> str:
    value = _first(raw)
    if value is None:
        return ""
    if isinstance(value, bool | int | float | Decimal):
        value = str(value)
    if not isinstance(value, str):
        raise ValidationError("Enter text.")
    value = value.strip()[:cap].strip()
    if problem := text_problem(value):
        raise ValidationError(problem)
    return value


def _clean_value(field_def, raw: Any) -> Any:
    """One field's clean value ("" / [] / None when empty), or ValidationError."""
    kind = field_def.type
    if kind in LIST_TYPES:
        chosen = [_text(v, DEFAULT_CAP) for v in _as_list(raw)[:MAX_OPTIONS_CHOSEN]]
        chosen = [v for v in chosen if v]
        unknown = [v for v in chosen if v not in field_def.options]
        if unknown:
            raise ValidationError(f"“{unknown[0][:50]}” is not one of the choices.")
        return list(dict.fromkeys(chosen))
    if kind == FieldType.CHECKBOX:
        text = _text(raw, 20).lower()
        if text in TRUE_VALUES:
            return True
        if text in FALSE_VALUES:
            return False
        raise ValidationError("Tick the box or leave it empty.")

    text = _text(raw, field_cap(field_def))
    if not text:
        return ""
    if kind == FieldType.EMAIL:
        try:
            _email_validator(text)
        except ValidationError:
            raise ValidationError("Enter a valid email address.") from None
        local, _, domain = text.rpartition("@")
        return f"{local}@{domain.lower()}"
    if kind == FieldType.PHONE:
        return _normalize_phone(text)
    if kind == FieldType.NUMBER:
        try:
            number = Decimal(text.replace(",", ""))
        except InvalidOperation:
            raise ValidationError("Enter a number.") from None
        if not number.is_finite() or abs(number) > Decimal("1e15"):
            raise ValidationError("Enter a number.")
        if field_def.maps_to == "company_size":
            if number != number.to_integral_value() or number < 0 or number > 2_147_483_647:
                raise ValidationError("Enter a whole number of employees.")
            return int(number)
        return int(number) if number == number.to_integral_value() else float(number)
    if kind == FieldType.SELECT:
        if text not in field_def.options:
            raise ValidationError(f"“{text[:50]}” is not one of the choices.")
        return text
    if kind == FieldType.COUNTRY:
        country = COUNTRY_LOOKUP.get(text.lower())
        if country is None:
            raise ValidationError("Choose a country from the list.")
        return country
    return text


def _normalize_phone(text: str) -> str:
    """E.164 (+442079460000) when the number parses; as typed (trimmed) otherwise, since
    a phone number a parser doesn't know is still worth keeping for a person to dial."""
    region = getattr(settings, "DEFAULT_PHONE_REGION", None) or None
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        if not any(c.isdigit() for c in text):
            raise ValidationError("Enter a phone number.") from None
        return text
    if not phonenumbers.is_possible_number(number):
        raise ValidationError("Enter a complete phone number, with its country code.")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _is_empty(value: Any) -> bool:
    return value in ("", None, [], False)


def page_query(page_url: str) -> dict[str, list[str]]:
    """The query parameters of the page a form sat on ({} for no usable URL)."""
    page_url = _safe_url(page_url)
    return parse_qs(urlsplit(page_url).query) if page_url else {}


def _from_page(field_def, query: dict[str, list[str]]) -> str:
    """A hidden field's value from the page's query string: the parameter named like
    the field (``utm_source``, ``gclid``), else like the custom attribute it maps to (a
    field "campaign" mapped to ``attributes.utm_campaign`` takes ``utm_campaign``)."""
    names = [field_def.name]
    if (field_def.maps_to or "").startswith(ATTRIBUTE_PREFIX):
        names.append(field_def.maps_to[len(ATTRIBUTE_PREFIX):])
    for name in names:
        value = (query.get(name) or [""])[0].strip()
        # An unstorable value in somebody's link is no error the visitor could fix.
        if value and not text_problem(value):
            return value
    return ""


def clean_submission(fields, data: dict[str, Any], *, page_url: str = "") -> CleanSubmission:
    """Check ``data`` (field name → value or list of values) against ``fields`` (the
    form's FormField rows, in order). ``page_url``: the page the form sat on, whose
    query string hidden fields take their values from. Raises SubmissionInvalid with
    per-field messages."""
    by_name = {f.name: f for f in fields}
    errors: dict[str, list[str]] = {}
    values: dict[str, Any] = {}
    query: dict[str, list[str]] | None = None  # parsed when a hidden field needs it
    for name, field_def in by_name.items():
        raw = data.get(name)
        if field_def.type == FieldType.HIDDEN and raw in (None, "", [], field_def.default):
            # A hidden field takes its value from the page's query string when the page
            # has it (utm_source=… in the link to the page), else its default (a
            # campaign tag, say); other fields' defaults only prefill what the visitor
            # sees. A posted default counts as no value: LeadHub's own forms (hosted
            # page, embed, snippet) post the default they were drawn with.
            if query is None:
                query = page_query(page_url)
            raw = _from_page(field_def, query) or field_def.default
        try:
            value = _clean_value(field_def, raw)
        except ValidationError as exc:
            errors[name] = exc.messages
            values[name] = raw if isinstance(raw, str | list) else ""
            continue
        values[name] = value
        if field_def.required and _is_empty(value):
            errors[name] = ["This field is required."]

    email_fields = [f for f in fields if f.maps_to == "email"]
    email = str(values.get(email_fields[0].name, "")) if email_fields else ""
    if email_fields and not email and email_fields[0].name not in errors:
        errors[email_fields[0].name] = ["This field is required."]
    if errors:
        raise SubmissionInvalid(errors, values)

    lead_values: dict[str, Any] = {}
    attributes: dict[str, Any] = {}
    consent = False
    for name, value in values.items():
        target = by_name[name].maps_to
        if by_name[name].type == FieldType.CHECKBOX and value is True and (
            target == "marketing_consent"
        ):
            consent = True
        if not target or _is_empty(value):
            continue  # blanks never erase what is known
        if target.startswith(ATTRIBUTE_PREFIX):
            attributes[target[len(ATTRIBUTE_PREFIX):]] = value
        elif target != "email":
            lead_values[target] = value
    return CleanSubmission(
        values=values,
        lead_values=lead_values,
        attributes=attributes,
        email=email,
        consent_given=consent,
        ignored=ignored_names(data, by_name),
    )


def ignored_names(data: dict[str, Any], by_name) -> list[str]:
    """The names in ``data`` that are not fields of the form (nor LeadHub's own), as
    they may be reported: unstorable ones left out, the rest cut to MAX_IGNORED_NAME
    characters, without repeats, at most MAX_IGNORED_REPORTED."""
    ignored: list[str] = []
    for name in data:
        if len(ignored) >= MAX_IGNORED_REPORTED:
            break
        if not isinstance(name, str) or name in by_name or name.startswith(META_PREFIX) or (
            name == HONEYPOT_FIELD
        ):
            continue
        name = name[:MAX_IGNORED_NAME]
        if name.strip() and not text_problem(name) and name not in ignored:
            ignored.append(name)
    return ignored


def storable_text(value: str) -> str:
    """``value`` without what no text column can hold (NUL, lone surrogates): for
    request metadata such as the User-Agent, which is kept, not judged."""
    return _SURROGATE.sub("", value.replace("\x00", "")) if text_problem(value) else value


def attribution_from(page_url: str, referrer: str) -> dict[str, str]:
    """UTM parameters and referrer, taken from the URL of the page the form sat on
    (not from fields a visitor could fill in)."""
    page_url = _safe_url(page_url)
    referrer = _safe_url(referrer)
    query = parse_qs(urlsplit(page_url).query) if page_url else {}
    result = {param: query.get(param, [""])[0][:200].strip() for param in UTM_PARAMS}
    result["referrer"] = referrer
    result["landing_url"] = page_url
    return result


def _safe_url(url: Any) -> str:
    if not isinstance(url, str):
        return ""
    url = url.strip()[:2000]
    if text_problem(url) or urlsplit(url).scheme not in ("http", "https"):
        return ""
    return url
