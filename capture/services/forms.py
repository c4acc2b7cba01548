"""Writes to forms and their fields: what the builder, the forms API and duplication call.

Every rule about what a form may be lives here, once:

- every form has exactly one email field, required, filling the lead's email (it is how
  a submission finds its lead), created with the form and never removed;
- field names are slugs unique on the form (they are the inputs' names in posts), never
  starting with "_" (LeadHub's own ``_lh_*`` inputs) and never the honeypot's name;
- a field fills one lead field, one custom attribute ("attributes.<slug>") or nothing
  (""), no two fields fill the same one, and only from a type that fits it;
- allowed origins are normalised origins; a redirect URL is https on one of their hosts
  (never an open redirect); the consent text is versioned.

Errors are ``ValidationError``s keyed by setting name, and by ``fields.<i>.<attribute>``
for field ``i`` of the list given (``fields`` for the list as a whole), so the builder
can put each message beside its input and the API can nest them per field index.
"""

import math
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator, URLValidator, validate_slug
from django.db import transaction
from django.db.models import ProtectedError

# The module, not its names: capture.validation imports capture.services.leads, which
# runs this package's __init__ (and so this module) first.
from capture import validation
from capture.countries import COUNTRY_LOOKUP
from capture.models import DisposablePolicy, FieldType, Form, FormField, FormStatus
from capture.models.forms import ATTRIBUTE_PREFIX, CHOICE_TYPES, MAPPABLE_LEAD_FIELDS
from capture.services.leads import text_problem

# Settings form_create/form_update take, besides ``name``.
FORM_SETTINGS = (
    "name",
    "thank_you_message",
    "redirect_url",
    "allowed_origins",
    "consent_text",
    "double_opt_in",
    "notify_emails",
    "progressive_profiling",
    "max_fields",
    "disposable_emails",
    "proof_of_work",
    "min_seconds",
)
FIELD_ATTRIBUTES = (
    "name", "type", "label", "placeholder", "help_text", "required", "default", "options",
    "maps_to",
)

MAX_FIELDS = 50
MAX_OPTIONS = 200
MAX_OPTION_LENGTH = 200
MAX_ORIGINS = 20
MAX_NOTIFY_EMAILS = 10
MAX_MIN_SECONDS = 3600
MAX_TEXT = 5000  # thank-you message and consent text
MAX_NAME_LENGTH = 64
# "attributes." + the name must fit FormField.maps_to (110); lead attribute names ≤ 100.
MAX_ATTRIBUTE_NAME = 99
TEXT_LIMITS = {"label": 200, "placeholder": 200, "help_text": 500, "default": 500}
# Hosts a form may be posted from over plain http: a developer's own machine.
LOCAL_HOSTS = {"localhost", "127.0.0.1", "[::1]"}
DEFAULT_PORTS = {"http": 80, "https": 443}

EMAIL_FIELD = {
    "name": "email",
    "type": FieldType.EMAIL,
    "label": "Email",
    "required": True,
    "maps_to": "email",
}

# The field types that may fill each lead field. A type not listed for any lead field
# (multi-select, checkboxes) fills custom attributes or nothing.
_TEXT_TYPES = {FieldType.TEXT, FieldType.TEXTAREA, FieldType.SELECT, FieldType.HIDDEN}
TARGET_TYPES: dict[str, set[str]] = {
    "email": {FieldType.EMAIL},
    "first_name": _TEXT_TYPES,
    "last_name": _TEXT_TYPES,
    "company": _TEXT_TYPES,
    "job_title": _TEXT_TYPES,
    "industry": _TEXT_TYPES,
    "website": _TEXT_TYPES,
    "phone": {FieldType.PHONE, *_TEXT_TYPES},
    "country": {FieldType.COUNTRY, *_TEXT_TYPES},
    "company_size": {FieldType.NUMBER},
    "marketing_consent": {FieldType.CHECKBOX},
}
assert set(TARGET_TYPES) == set(MAPPABLE_LEAD_FIELDS)  # the two tables stay in step

_email_validator = EmailValidator()
_https_url = URLValidator(schemes=["https"])


# --- Small checks ---------------------------------------------------------------------------


class _Errors:
    """Messages collected by key, raised together: a marketer sees every problem at once."""

    def __init__(self) -> None:
        self.by_key: dict[str, list[str]] = {}

    def add(self, key: str, message: str) -> None:
        self.by_key.setdefault(key, []).append(message)

    def __contains__(self, key: str) -> bool:
        return key in self.by_key

    def raise_if_any(self) -> None:
        if self.by_key:
            raise ValidationError(self.by_key)


def _text(value: Any, key: str, errors: _Errors, *, limit: int, strip: bool = True) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        errors.add(key, "Enter text.")
        return ""
    value = value.strip() if strip else value
    if problem := text_problem(value):
        errors.add(key, problem)
    elif len(value) > limit:
        errors.add(key, f"Keep this to {limit} characters or fewer (it has {len(value)}).")
    return value


def _bool(value: Any, key: str, errors: _Errors) -> bool:
    if not isinstance(value, bool):
        errors.add(key, "Give true or false.")
        return False
    return value


def _int(value: Any, key: str, errors: _Errors, *, low: int, high: int) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or (
        isinstance(value, float) and (not math.isfinite(value) or value != int(value))
    ):
        errors.add(key, "Give a whole number.")
        return None
    if not low <= value <= high:
        errors.add(key, f"Give a number from {low} to {high}.")
        return None
    return int(value)


def _string_list(value: Any, key: str, errors: _Errors) -> list[str] | None:
    if value is None:
        return []
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        errors.add(key, "Give a list of text values.")
        return None
    return list(value)


def origin_normalize(value: str) -> str:
    """``value`` as an origin (lower-case scheme://host, with the port only when it is
    not the scheme's default), or ValueError with the reason. Only https, and http for
    the local machine: a form posted over plain http leaks what visitors type."""
    text = value.strip()
    if not text:
        raise ValueError("Empty.")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise ValueError(f"“{text[:100]}” is not an address.") from None
    scheme, host = parts.scheme.lower(), (parts.hostname or "")
    if scheme not in DEFAULT_PORTS or not host or parts.username or parts.password:
        raise ValueError(
            f"“{text[:100]}” is not an origin: write scheme://host, like "
            "https://www.example.com."
        )
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(
            f"“{text[:100]}” has a path: an origin is only scheme://host[:port], like "
            "https://www.example.com."
        )
    if ":" in host:  # an IPv6 literal, which urlsplit gives without its brackets
        host = f"[{host}]"
    if scheme == "http" and host not in LOCAL_HOSTS:
        raise ValueError(
            f"“{text[:100]}”: use https (plain http only for localhost while developing)."
        )
    if "*" in host:
        raise ValueError(f"“{text[:100]}”: list each site; wildcards are not supported.")
    suffix = f":{port}" if port and port != DEFAULT_PORTS[scheme] else ""
    return f"{scheme}://{host}{suffix}"


def _origins(value: Any, errors: _Errors) -> list[str]:
    items = _string_list(value, "allowed_origins", errors)
    if items is None:
        return []
    result: list[str] = []
    for item in items:
        if not item.strip():
            continue
        try:
            origin = origin_normalize(item)
        except ValueError as exc:
            errors.add("allowed_origins", str(exc))
            continue
        if origin not in result:
            result.append(origin)
    if len(result) > MAX_ORIGINS:
        errors.add("allowed_origins", f"List at most {MAX_ORIGINS} origins.")
    return result


def _notify_emails(value: Any, errors: _Errors) -> list[str]:
    items = _string_list(value, "notify_emails", errors)
    if items is None:
        return []
    result: list[str] = []
    for item in items:
        email = item.strip()
        if not email:
            continue
        try:
            _email_validator(email)
        except ValidationError:
            errors.add("notify_emails", f"“{email[:100]}” is not a valid email address.")
            continue
        local, _, domain = email.rpartition("@")
        email = f"{local}@{domain.lower()}"
        if email.lower() not in (e.lower() for e in result):
            result.append(email)
    if len(result) > MAX_NOTIFY_EMAILS:
        errors.add("notify_emails", f"Notify at most {MAX_NOTIFY_EMAILS} people.")
    return result


def _redirect_problem(url: str, origins: list[str]) -> str | None:
    try:
        _https_url(url)
    except ValidationError:
        return "Enter a full https:// address (or leave it empty to show the thank-you message)."
    parts = urlsplit(url)
    if parts.username or parts.password:
        return "The redirect URL may not contain a user name or password."
    hosts = {urlsplit(o).hostname for o in origins}
    if parts.hostname not in hosts:
        # Only to the marketer's own sites: a redirect anywhere else would let the form
        # send visitors to a site of an attacker's choosing.
        return (
            f"The redirect URL must be on one of the allowed origins' hosts; add "
            f"https://{parts.hostname} to the allowed origins first."
        )
    return None


# --- Settings -------------------------------------------------------------------------------


def _clean_settings(values: dict[str, Any], *, form: Form, errors: _Errors) -> dict[str, Any]:
    """The given settings, checked and normalised (only those given)."""
    unknown = set(values) - set(FORM_SETTINGS)
    if unknown:
        # A programming error, not user input: callers pass only these settings.
        raise TypeError(f"Not a form setting: {', '.join(sorted(unknown))}")
    clean: dict[str, Any] = {}
    for key, value in values.items():
        if key == "name":
            clean[key] = _text(value, key, errors, limit=200)
            if not clean[key] and key not in errors:
                errors.add(key, "Give the form a name.")
        elif key in ("thank_you_message", "consent_text"):
            clean[key] = _text(value, key, errors, limit=MAX_TEXT)
        elif key == "redirect_url":
            clean[key] = _text(value, key, errors, limit=2000)
        elif key == "allowed_origins":
            clean[key] = _origins(value, errors)
        elif key == "notify_emails":
            clean[key] = _notify_emails(value, errors)
        elif key in ("double_opt_in", "progressive_profiling", "proof_of_work"):
            clean[key] = _bool(value, key, errors)
        elif key == "max_fields":
            clean[key] = None if value in (None, "") else _int(
                value, key, errors, low=1, high=MAX_FIELDS
            )
        elif key == "min_seconds":
            clean[key] = _int(value, key, errors, low=0, high=MAX_MIN_SECONDS)
        elif key == "disposable_emails":
            if value not in DisposablePolicy.values:
                errors.add(key, f"Choose one of: {', '.join(DisposablePolicy.values)}.")
            clean[key] = value

    redirect = clean.get("redirect_url", form.redirect_url)
    origins = clean.get("allowed_origins", form.allowed_origins)
    if redirect and "redirect_url" not in errors and "allowed_origins" not in errors:
        problem = _redirect_problem(redirect, origins)
        if problem:
            # Beside the input the marketer just changed.
            errors.add("redirect_url" if "redirect_url" in clean else "allowed_origins", problem)
    return clean


# --- Fields ---------------------------------------------------------------------------------


def _target_label(target: str) -> str:
    if target.startswith(ATTRIBUTE_PREFIX):
        return f"the custom attribute “{target[len(ATTRIBUTE_PREFIX):]}”"
    return MAPPABLE_LEAD_FIELDS.get(target, target)


def _type_labels(types: Iterable[str]) -> str:
    labels = [FieldType(t).label for t in FieldType.values if t in types]
    return labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " or " + labels[-1]


def _clean_field(raw: Any, i: int, errors: _Errors, *, consent_text: str) -> dict[str, Any]:
    key = f"fields.{i}"
    if not isinstance(raw, dict):
        errors.add(key, "Give each field as an object of name, type, label, …")
        return {}
    unknown = set(raw) - set(FIELD_ATTRIBUTES)
    if unknown:
        raise TypeError(f"Not a field attribute: {', '.join(sorted(unknown))}")

    kind = raw.get("type") or FieldType.TEXT
    if kind not in FieldType.values:
        errors.add(f"{key}.type", f"Choose one of: {', '.join(FieldType.values)}.")
        kind = FieldType.TEXT
    kind = FieldType(kind)
    spec: dict[str, Any] = {"type": kind}

    name = _text(raw.get("name"), f"{key}.name", errors, limit=MAX_NAME_LENGTH)
    if f"{key}.name" not in errors:
        if not name:
            errors.add(f"{key}.name", "Give the field a name (letters, digits, _ or -).")
        elif name.startswith("_"):
            errors.add(f"{key}.name", "Names starting with “_” are LeadHub's own.")
        elif name.lower() == validation.HONEYPOT_FIELD:
            errors.add(f"{key}.name", f"“{validation.HONEYPOT_FIELD}” is the spam trap's name.")
        else:
            try:
                validate_slug(name)
            except ValidationError:
                errors.add(f"{key}.name", "Use only letters, digits, _ and - in names.")
    spec["name"] = name

    for attr, limit in TEXT_LIMITS.items():
        spec[attr] = _text(raw.get(attr), f"{key}.{attr}", errors, limit=limit)

    required = raw.get("required")
    if required is None:
        required = kind == FieldType.EMAIL
    spec["required"] = _bool(required, f"{key}.required", errors)

    spec["options"] = []
    if kind in CHOICE_TYPES:
        spec["options"] = _options(raw.get("options"), f"{key}.options", errors)
    default = spec["default"]
    if default and f"{key}.default" not in errors:
        problem = _default_problem(kind, default, spec["options"])
        if problem:
            errors.add(f"{key}.default", problem)
    if kind == FieldType.HIDDEN and spec["required"] and not default:
        errors.add(
            f"{key}.required",
            "Visitors can't fill in a hidden field: give it a value, or make it optional.",
        )

    target = raw.get("maps_to")
    if target is None or (target == "" and kind == FieldType.EMAIL):
        target = "email" if kind == FieldType.EMAIL else ""
    spec["maps_to"] = _target(target, kind, f"{key}.maps_to", errors, consent_text=consent_text)
    return spec


def _options(value: Any, key: str, errors: _Errors) -> list[str]:
    items = _string_list(value, key, errors)
    if items is None:
        return []
    options = [item.strip() for item in items]
    if not options:
        errors.add(key, "Give at least one option.")
    elif len(options) > MAX_OPTIONS:
        errors.add(key, f"Give at most {MAX_OPTIONS} options (there are {len(options)}).")
    for option in options:
        if not option:
            errors.add(key, "Options can't be empty.")
            break
        if problem := text_problem(option):
            errors.add(key, problem)
            break
        if len(option) > MAX_OPTION_LENGTH:
            errors.add(key, f"Keep each option to {MAX_OPTION_LENGTH} characters or fewer.")
            break
    repeated = sorted({o for o in options if options.count(o) > 1})
    if repeated:
        errors.add(key, f"Each option once: “{repeated[0][:50]}” is there twice.")
    return options


def _default_problem(kind: str, default: str, options: list[str]) -> str | None:
    if kind == FieldType.SELECT and options and default not in options:
        return "The default must be one of the options."
    if kind == FieldType.NUMBER:
        try:
            float(default.replace(",", ""))
        except ValueError:
            return "The default of a number field must be a number."
    if kind == FieldType.COUNTRY and default.lower() not in COUNTRY_LOOKUP:
        return "The default must be a country's name or its two-letter code."
    if kind == FieldType.EMAIL:
        try:
            _email_validator(default)
        except ValidationError:
            return "The default must be a valid email address."
    return None


def _target(value: Any, kind: str, key: str, errors: _Errors, *, consent_text: str) -> str:
    if not isinstance(value, str):
        errors.add(key, "Give a lead field, “attributes.<name>” or nothing.")
        return ""
    target = value.strip()
    if not target:
        return ""
    if target.startswith(ATTRIBUTE_PREFIX):
        name = target[len(ATTRIBUTE_PREFIX):]
        try:
            validate_slug(name)
        except ValidationError:
            errors.add(key, "Name the custom attribute with letters, digits, _ or - only.")
            return target
        if len(name) > MAX_ATTRIBUTE_NAME:
            errors.add(key, f"Keep attribute names to {MAX_ATTRIBUTE_NAME} characters.")
        elif kind == FieldType.EMAIL:
            errors.add(key, "The email field always fills the lead's email.")
        return target
    if target not in MAPPABLE_LEAD_FIELDS:
        errors.add(
            key,
            f"“{target[:50]}” is not a lead field; choose one of "
            f"{', '.join(MAPPABLE_LEAD_FIELDS)}, or “attributes.<name>”.",
        )
        return target
    if kind == FieldType.EMAIL and target != "email":
        errors.add(key, "The email field always fills the lead's email.")
    elif kind not in TARGET_TYPES[target]:
        errors.add(
            key,
            f"{MAPPABLE_LEAD_FIELDS[target]} can only be filled by a "
            f"{_type_labels(TARGET_TYPES[target])} field.",
        )
    elif target == "marketing_consent" and not consent_text:
        errors.add(
            key,
            "Write the consent text (in the form's settings) first: the checkbox shows it, "
            "and each submission records which wording was agreed to.",
        )
    return target


def _clean_fields(raw_fields: Any, errors: _Errors, *, form: Form, consent_text: str
                  ) -> list[dict[str, Any]]:
    if not isinstance(raw_fields, list | tuple):
        errors.add("fields", "Give the fields as a list.")
        return []
    if len(raw_fields) > MAX_FIELDS:
        errors.add("fields", f"A form has at most {MAX_FIELDS} fields.")
        return []
    specs = [_clean_field(raw, i, errors, consent_text=consent_text)
             for i, raw in enumerate(raw_fields)]

    seen_names: dict[str, int] = {}
    seen_targets: dict[str, int] = {}
    for i, spec in enumerate(specs):
        name, target = spec.get("name"), spec.get("maps_to")
        if name and f"fields.{i}.name" not in errors:
            if name in seen_names:
                errors.add(f"fields.{i}.name", f"Field {seen_names[name] + 1} is already "
                                               f"named “{name}”: each name once.")
            else:
                seen_names[name] = i
        if target and f"fields.{i}.maps_to" not in errors:
            if target in seen_targets:
                errors.add(f"fields.{i}.maps_to", f"Field {seen_targets[target] + 1} already "
                                                  f"fills {_target_label(target)}.")
            else:
                seen_targets[target] = i

    email_fields = [i for i, spec in enumerate(specs) if spec.get("type") == FieldType.EMAIL]
    if not email_fields:
        if form.pk and form.status == FormStatus.LIVE:
            errors.add("fields", "This form is live: it must keep its email field.")
        else:
            errors.add("fields", "A form needs its email field (it is how a submission "
                                 "finds its lead).")
    for i in email_fields[1:]:
        errors.add(f"fields.{i}.type", "A form has exactly one email field; make this one "
                                       "a text field or remove it.")
    if email_fields:
        first = email_fields[0]
        if specs[first].get("required") is False and f"fields.{first}.required" not in errors:
            errors.add(f"fields.{first}.required", "The email field is always required.")
    return specs


def _fields_write(form: Form, specs: list[dict[str, Any]]) -> None:
    """Make the form's fields exactly ``specs``, in order. Fields keep their row (and id)
    while they keep their name; the others are removed and the new ones added."""
    existing = {f.name: f for f in FormField.objects.filter(form=form)}
    wanted = {spec["name"] for spec in specs}
    gone = [f.pk for name, f in existing.items() if name not in wanted]
    if gone:
        FormField.objects.filter(pk__in=gone).delete()
    changed, new = [], []
    for position, spec in enumerate(specs):
        row = existing.get(spec["name"])
        if row is None:
            row = FormField(form=form, position=position, **spec)
            new.append(row)
        else:
            values = {**spec, "position": position}
            if any(getattr(row, k) != v for k, v in values.items()):
                for k, v in values.items():
                    setattr(row, k, v)
                changed.append(row)
        row.full_clean(exclude=["form"], validate_unique=False, validate_constraints=False)
    if changed:
        FormField.objects.bulk_update(changed, ["position", *FIELD_ATTRIBUTES])
    if new:
        FormField.objects.bulk_create(new)


def _consent_fields(specs: Iterable) -> bool:
    return any(
        _get(f, "type") == FieldType.CHECKBOX and _get(f, "maps_to") == "marketing_consent"
        for f in specs
    )


def _get(item: Any, attr: str) -> Any:
    return item.get(attr) if isinstance(item, dict) else getattr(item, attr)


# --- The services ---------------------------------------------------------------------------


def _status(value: Any, errors: _Errors) -> str:
    if value not in FormStatus.values:
        errors.add("status", f"Choose one of: {', '.join(FormStatus.values)}.")
        return FormStatus.DRAFT
    return value


@transaction.atomic
def form_create(
    *,
    name: str,
    actor=None,
    status: str = FormStatus.DRAFT,
    fields: list[dict[str, Any]] | None = None,
    **settings: Any,
) -> Form:
    """A new form with ``settings`` (see FORM_SETTINGS) and ``fields`` (dicts of
    FIELD_ATTRIBUTES, in order); without fields, just its email field."""
    errors = _Errors()
    form = Form(created_by=actor)
    clean = _clean_settings({"name": name, **settings}, form=form, errors=errors)
    status = _status(status, errors)
    for key, value in clean.items():
        setattr(form, key, value)
    form.consent_version = 1 if form.consent_text else 0
    specs = _clean_fields([dict(EMAIL_FIELD)] if fields is None else fields, errors,
                          form=form, consent_text=form.consent_text)
    errors.raise_if_any()
    form.status = status
    form.full_clean(validate_unique=False, validate_constraints=False)
    form.save()
    _fields_write(form, specs)
    return form


@transaction.atomic
def form_update(*, form: Form, fields: list[dict[str, Any]] | None = None,
                **settings: Any) -> Form:
    """Change a form's settings and, when ``fields`` is given, replace its fields with
    that ordered list (what the builder saves: additions, edits, removals and the new
    order at once). Settings and fields are checked together, so a consent checkbox and
    the consent text it needs can arrive in one save. Returns the updated form."""
    # Locked: two saves of one form (two tabs, a marketer and an integration) apply one
    # after the other instead of interleaving their field lists.
    locked = Form.objects.select_for_update().get(pk=form.pk)
    errors = _Errors()
    clean = _clean_settings(settings, form=locked, errors=errors)
    consent_text = clean.get("consent_text", locked.consent_text)
    specs = None
    if fields is not None:
        specs = _clean_fields(fields, errors, form=locked, consent_text=consent_text)
    elif "consent_text" in clean and not consent_text and "consent_text" not in errors and (
        _consent_fields(locked.fields.all())
    ):
        errors.add("consent_text", "The consent checkbox shows this text: remove the "
                                   "checkbox before the text.")
    errors.raise_if_any()

    if clean.get("consent_text", locked.consent_text) != locked.consent_text:
        # Submissions record the version they agreed to; a new wording is a new version.
        locked.consent_version += 1
    for key, value in clean.items():
        setattr(locked, key, value)
    locked.full_clean(validate_unique=False, validate_constraints=False)
    locked.save()
    if specs is not None:
        _fields_write(locked, specs)
    for field in Form._meta.concrete_fields:  # the caller's object shows what was saved
        setattr(form, field.attname, getattr(locked, field.attname))
    return form


def form_set_fields(*, form: Form, fields: list[dict[str, Any]]) -> Form:
    """Replace the form's fields with ``fields``, in that order (see form_update)."""
    return form_update(form=form, fields=fields)


def _status_set(form: Form, status: str) -> Form:
    locked = Form.objects.select_for_update().get(pk=form.pk)
    if locked.status != status:
        if status == FormStatus.LIVE and not locked.fields.filter(
            type=FieldType.EMAIL, maps_to="email"
        ).exists():
            # Cannot happen through these services; forms made elsewhere (the admin, a
            # data migration) are checked before they take posts.
            raise ValidationError({"status": "Add an email field before publishing."})
        locked.status = status
        locked.save(update_fields=["status", "updated_at"])
    form.status, form.updated_at = locked.status, locked.updated_at
    return form


@transaction.atomic
def form_publish(*, form: Form) -> Form:
    """Live: the hosted page, the snippet and the embed take posts."""
    return _status_set(form, FormStatus.LIVE)


@transaction.atomic
def form_unpublish(*, form: Form) -> Form:
    """Back to draft: posts get a 404 (as for an unknown form) until it is published."""
    return _status_set(form, FormStatus.DRAFT)


@transaction.atomic
def form_archive(*, form: Form) -> Form:
    """Archived: out of the forms list, takes no posts, keeps its submissions."""
    return _status_set(form, FormStatus.ARCHIVED)


def form_status_set(*, form: Form, status: str) -> Form:
    errors = _Errors()
    _status(status, errors)
    errors.raise_if_any()
    service = {FormStatus.LIVE: form_publish, FormStatus.DRAFT: form_unpublish,
               FormStatus.ARCHIVED: form_archive}[FormStatus(status)]
    return service(form=form)


@transaction.atomic
def form_delete(*, form: Form) -> str:
    """Delete a form nothing refers to; archive one that has submissions or is used by
    a landing page (both keep a protected reference to it). Returns "deleted" or
    "archived"."""
    locked = Form.objects.select_for_update().get(pk=form.pk)
    if locked.submissions.exists() or locked.variants.exists():
        _status_set(form, FormStatus.ARCHIVED)
        return "archived"
    try:
        # A savepoint: a submission committed since the check above makes the delete
        # fail on the protected foreign key; the form is archived instead.
        with transaction.atomic():
            locked.delete()
    except ProtectedError:
        _status_set(form, FormStatus.ARCHIVED)
        return "archived"
    return "deleted"


def copy_value(value: Any) -> Any:
    return list(value) if isinstance(value, list) else value


@transaction.atomic
def form_duplicate(*, form: Form, actor=None, name: str | None = None) -> Form:
    """A draft copy of ``form``: its settings and fields, a new key, no submissions."""
    source = Form.objects.get(pk=form.pk)
    copy = Form(
        name=(name or f"{source.name} (copy)")[:200],
        created_by=actor,
        status=FormStatus.DRAFT,
        consent_version=1 if source.consent_text else 0,
        **{key: copy_value(getattr(source, key)) for key in FORM_SETTINGS if key != "name"},
    )
    copy.full_clean(validate_unique=False, validate_constraints=False)
    copy.save()
    FormField.objects.bulk_create(
        FormField(form=copy, position=position,
                  **{attr: copy_value(getattr(field, attr)) for attr in FIELD_ATTRIBUTES})
        for position, field in enumerate(source.fields.order_by("position", "id"))
    )
    return copy
