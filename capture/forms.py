"""The form builder's input: a form's settings and its ordered list of fields.

These only read and lay out what the marketer typed; capture.services.forms checks the
rules and writes (views never call ``save()`` on anything here). Its errors come back
keyed by setting name or ``fields.<i>.<attribute>`` and are put beside their inputs by
``add_service_errors``.
"""

import re
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.text import slugify

from capture.models import DisposablePolicy, FieldType, Form, FormField
from capture.models.forms import ATTRIBUTE_PREFIX, CHOICE_TYPES, MAPPABLE_LEAD_FIELDS
from capture.services.forms import MAX_FIELDS, MAX_MIN_SECONDS

TARGET_NONE = ""
TARGET_ATTRIBUTE = "attribute"
# What a field of each type fills when it is added (the marketer can change it).
SUGGESTED_TARGETS = {
    FieldType.PHONE: "phone",
    FieldType.COUNTRY: "country",
}
NEW_FIELD_OPTIONS = ["Option 1", "Option 2"]
# Types offered by "Add field": a form has exactly one email field, made with the form.
ADDABLE_TYPES = [(value, label) for value, label in FieldType.choices
                 if value != FieldType.EMAIL]


class LinesField(forms.CharField):
    """A list of short values typed one per line (commas and spaces separate too)."""

    widget = forms.Textarea(attrs={"rows": 2, "spellcheck": "false"})

    def to_python(self, value) -> list[str]:
        text = super().to_python(value)
        return [item for item in re.split(r"[\s,]+", text) if item]

    def prepare_value(self, value):
        if isinstance(value, list | tuple):
            return "\n".join(str(v) for v in value)
        return value


class OptionsField(forms.CharField):
    """A choice field's options, one per line (options may contain commas and spaces)."""

    widget = forms.Textarea(attrs={"rows": 3})

    def to_python(self, value) -> list[str]:
        text = super().to_python(value)
        return [line.strip() for line in text.splitlines() if line.strip()]

    def prepare_value(self, value):
        if isinstance(value, list | tuple):
            return "\n".join(str(v) for v in value)
        return value


class FormCreateForm(forms.Form):
    name = forms.CharField(
        max_length=200, help_text="What you call it; visitors see it as the hosted page's title."
    )


class FormSettingsForm(forms.Form):
    name = forms.CharField(max_length=200)
    thank_you_message = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        label="Thank-you message",
        help_text="Shown after a submission (on the hosted page and in the embed).",
    )
    redirect_url = forms.CharField(
        required=False,
        max_length=2000,
        label="Or redirect to",
        help_text="An https:// page on one of the allowed origins, instead of the thank-you "
        "page after a plain HTML post. Leave empty to show the message.",
        widget=forms.TextInput(attrs={"inputmode": "url", "placeholder": "https://"}),
    )
    allowed_origins = LinesField(
        required=False,
        label="Allowed origins",
        help_text="The websites that may post this form from the browser, one per line, "
        "like https://www.example.com.",
    )
    consent_text = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        label="Consent text",
        help_text="Shown beside the consent checkbox. Each submission records the version "
        "it agreed to; changing the text makes a new version.",
    )
    double_opt_in = forms.BooleanField(
        required=False,
        label="Double opt-in",
        help_text="Email new leads a confirmation link; no nurture email before they follow it.",
    )
    notify_emails = LinesField(
        required=False,
        label="Notify by email",
        help_text="People emailed about each submission, one address per line (up to 10).",
    )
    progressive_profiling = forms.BooleanField(
        required=False,
        label="Progressive profiling",
        help_text="Returning visitors see the next fields not yet answered instead of the "
        "ones already known.",
    )
    max_fields = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_FIELDS,
        label="Show at most",
        help_text="Fields shown to a visitor with progressive profiling (empty: no limit).",
    )
    disposable_emails = forms.ChoiceField(
        choices=DisposablePolicy.choices,
        label="Disposable email addresses",
    )
    proof_of_work = forms.BooleanField(
        required=False,
        label="Proof of work",
        help_text="Browsers solve a small puzzle before posting. Stops bulk spam; the plain "
        "HTML snippet can't solve it.",
    )
    min_seconds = forms.IntegerField(
        min_value=0,
        max_value=MAX_MIN_SECONDS,
        label="Minimum seconds to fill in",
        help_text="Posts sooner than this after LeadHub showed the form are filed as spam.",
    )

    @classmethod
    def for_form(cls, form: Form, data=None, **kwargs) -> "FormSettingsForm":
        initial = {name: getattr(form, name) for name in cls.base_fields}
        return cls(data, initial=initial, **kwargs)

    def settings(self) -> dict[str, Any]:
        values = dict(self.cleaned_data)
        if values.get("min_seconds") is None:
            values.pop("min_seconds", None)
        return values


def _target_choices() -> list:
    lead_fields = [(name, label) for name, label in MAPPABLE_LEAD_FIELDS.items()
                   if name != "email"]
    return [
        (TARGET_NONE, "Keep on the submission only"),
        ("Lead field", lead_fields),
        ("Custom attribute", [(TARGET_ATTRIBUTE, "Custom attribute named …")]),
    ]


class FieldRowForm(forms.Form):
    """One field of the form being built: a row of the builder's field list."""

    label = forms.CharField(max_length=200, required=False)
    name = forms.CharField(
        max_length=64,
        required=False,
        help_text="The input's name in posts and the API. Letters, digits, _ and -.",
        widget=forms.TextInput(attrs={"class": "font-monospace", "spellcheck": "false",
                                      "autocapitalize": "off"}),
    )
    type = forms.ChoiceField(choices=FieldType.choices)
    placeholder = forms.CharField(max_length=200, required=False)
    help_text = forms.CharField(max_length=500, required=False, label="Help text")
    default = forms.CharField(
        max_length=500,
        required=False,
        help_text="Prefilled for the visitor; a hidden field sends it as its value "
        "unless the page’s address has a parameter of the field’s name.",
    )
    options = OptionsField(
        required=False, help_text="One per line (drop-down, multi-select and checkboxes)."
    )
    required = forms.BooleanField(required=False)
    target = forms.ChoiceField(choices=_target_choices, required=False, label="Fills")
    attribute = forms.CharField(
        max_length=99,
        required=False,
        label="Attribute name",
        widget=forms.TextInput(attrs={"class": "font-monospace", "spellcheck": "false",
                                      "autocapitalize": "off", "placeholder": "e.g. topic"}),
    )
    # Where the row sits; the browser renumbers these when rows are dragged or moved.
    position = forms.IntegerField(required=False, widget=forms.HiddenInput)
    # Whether the row's settings are unfolded, so an add/remove round trip keeps it so.
    expanded = forms.BooleanField(required=False, widget=forms.HiddenInput)
    # Added since the last save: its name may still follow its label as it is typed (a
    # saved field's name is in posts and snippets already, and is never changed for it).
    fresh = forms.BooleanField(required=False, widget=forms.HiddenInput)

    @property
    def index(self) -> int:
        """The row's number in this request's formset (its input names' prefix)."""
        return int(self.prefix.rsplit("-", 1)[-1])

    @property
    def field_type(self) -> str:
        return self["type"].value() or FieldType.TEXT

    @property
    def is_email(self) -> bool:
        return self.field_type == FieldType.EMAIL

    @property
    def type_label(self) -> str:
        kind = self.field_type
        return FieldType(kind).label if kind in FieldType.values else kind

    @property
    def summary_label(self) -> str:
        return (self["label"].value() or "").strip() or (self["name"].value() or "").strip() \
            or "Untitled field"

    @property
    def fills_label(self) -> str:
        if self.is_email:
            return "Email"
        target = self["target"].value() or ""
        if target == TARGET_ATTRIBUTE:
            return f"attribute “{(self['attribute'].value() or '').strip() or '…'}”"
        return MAPPABLE_LEAD_FIELDS.get(target, "")

    @property
    def is_required(self) -> bool:
        return self.is_email or self.flag("required")

    @property
    def is_open(self) -> bool:
        """Show the row's settings unfolded: it has errors, or the marketer left it open."""
        return bool(self.is_bound and self.errors) or self.flag("expanded")

    def preview_field(self, position: int) -> FormField:
        """The row as an unsaved FormField, valid or not, for the live preview: the
        preview shows what is typed before it is saved (or fixed)."""
        raw = self.raw()
        kind = raw["type"] if raw["type"] in FieldType.values else FieldType.TEXT
        options = self.fields["options"].to_python(
            self.fields["options"].prepare_value(raw["options"] or "")
        )
        target = raw["target"] or ""
        if kind == FieldType.EMAIL:
            target = "email"
        elif target == TARGET_ATTRIBUTE:
            target = f"{ATTRIBUTE_PREFIX}{raw['attribute'] or ''}"
        name = (raw["name"] or "").strip() or slugify(raw["label"] or "").replace("-", "_")
        return FormField(
            name=name or f"field_{position}",
            type=kind,
            label=(raw["label"] or "").strip()[:200],
            placeholder=(raw["placeholder"] or "")[:200],
            help_text=(raw["help_text"] or "")[:500],
            default=(raw["default"] or "")[:500],
            options=options[:200] if kind in CHOICE_TYPES else [],
            required=raw["required"] or kind == FieldType.EMAIL,
            maps_to=target,
            position=position,
        )

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("type") == FieldType.EMAIL:
            cleaned["maps_to"] = "email"
            # The email field's required box is shown ticked and fixed.
            cleaned["required"] = True
        elif cleaned.get("target") == TARGET_ATTRIBUTE:
            attribute = cleaned.get("attribute", "").strip()
            if not attribute:
                self.add_error("attribute", "Name the custom attribute this field fills.")
            cleaned["maps_to"] = f"{ATTRIBUTE_PREFIX}{attribute}"
        else:
            cleaned["maps_to"] = cleaned.get("target") or ""
        if not cleaned.get("name") and not self.has_error("name"):
            # Names come from labels unless the marketer chose one.
            derived = slugify(cleaned.get("label") or "").replace("-", "_")[:64]
            cleaned["name"] = derived
            if not derived:
                self.add_error("name", "Give the field a name or a label.")
        return cleaned

    def spec(self) -> dict[str, Any]:
        """The field as capture.services.forms takes it."""
        data = self.cleaned_data
        return {
            "name": data["name"],
            "type": data["type"],
            "label": data["label"],
            "placeholder": data["placeholder"],
            "help_text": data["help_text"],
            "required": data["required"],
            "default": data["default"],
            "options": data["options"] if data["type"] in CHOICE_TYPES else [],
            "maps_to": data["maps_to"],
        }

    def raw(self) -> dict[str, Any]:
        """What the row holds as typed, valid or not (to show it again)."""
        return {name: self.flag(name) if isinstance(field, forms.BooleanField)
                else self[name].value() for name, field in self.fields.items()}

    def flag(self, name: str) -> bool:
        # A hidden input posts "True"/"False" as text; to_python reads either.
        return bool(self.fields[name].to_python(self[name].value()))

    @property
    def is_fresh(self) -> bool:
        return self.flag("fresh")


class BaseFieldRowFormSet(forms.BaseFormSet):
    def sorted_forms(self) -> list[FieldRowForm]:
        """The rows in the order the marketer arranged them (by their position inputs;
        the formset's own order is the order they were first drawn in)."""

        def key(row: FieldRowForm):
            raw = row["position"].value()
            try:
                return (int(raw), row.index)
            except (TypeError, ValueError):
                return (row.index, row.index)

        return sorted(self.forms, key=key)


FieldRowFormSet = forms.formset_factory(
    FieldRowForm,
    formset=BaseFieldRowFormSet,
    extra=0,
    max_num=MAX_FIELDS,
    validate_max=True,
    absolute_max=MAX_FIELDS + 10,
)
FIELDS_PREFIX = "fields"


def row_initial(field) -> dict[str, Any]:
    """A saved FormField (or a field spec dict) as a builder row's initial values."""
    get = field.get if isinstance(field, dict) else lambda name, d=None: getattr(field, name, d)
    maps_to = get("maps_to", "") or ""
    attribute = ""
    target = maps_to
    if maps_to.startswith(ATTRIBUTE_PREFIX):
        target, attribute = TARGET_ATTRIBUTE, maps_to[len(ATTRIBUTE_PREFIX):]
    return {
        "label": get("label", ""),
        "name": get("name", ""),
        "type": get("type", FieldType.TEXT),
        "placeholder": get("placeholder", ""),
        "help_text": get("help_text", ""),
        "default": get("default", ""),
        "options": get("options", []) or [],
        "required": bool(get("required", False)),
        "target": target,
        "attribute": attribute,
    }


def new_row(kind: str, taken_names: set[str], taken_targets: set[str]) -> dict[str, Any]:
    """A field the marketer just added: a label and a free name from its type."""
    kind = kind if kind in FieldType.values and kind != FieldType.EMAIL else FieldType.TEXT
    label = FieldType(kind).label.split(" (")[0]
    base = slugify(label).replace("-", "_") or "field"
    name, n = base, 2
    while name in taken_names:
        name, n = f"{base}_{n}", n + 1
    target = SUGGESTED_TARGETS.get(kind, "")
    return {
        **row_initial({"name": name, "type": kind, "label": label}),
        "target": target if target not in taken_targets else "",
        "options": NEW_FIELD_OPTIONS if kind in CHOICE_TYPES else [],
        "expanded": True,
        "fresh": True,
    }


def add_service_errors(settings_form: FormSettingsForm, rows: list[FieldRowForm],
                       exc: ValidationError) -> list[str]:
    """Put a service's errors beside their inputs; returns those no input shows (about
    the field list as a whole)."""
    leftover: list[str] = []
    if not hasattr(exc, "error_dict"):
        return list(exc.messages)
    for key, errors in exc.error_dict.items():
        messages = ValidationError(errors).messages
        parts = key.split(".")
        if parts[0] == "fields" and len(parts) == 3 and parts[1].isdigit() and int(
            parts[1]
        ) < len(rows):
            row, attr = rows[int(parts[1])], parts[2]
            if attr == "maps_to":
                attr = "attribute" if row["target"].value() == TARGET_ATTRIBUTE else "target"
            if attr not in row.fields:
                attr = None
            for message in messages:
                row.add_error(attr, message)
        elif key in settings_form.fields:
            for message in messages:
                settings_form.add_error(key, message)
        else:
            leftover.extend(messages)
    return leftover
