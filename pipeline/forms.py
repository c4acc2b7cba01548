"""The hand-edit form for a lead. It only validates and lays out input: the view writes
through capture.services and pipeline.services, never through ``form.save()``."""

import copy
import json

from crispy_forms.bootstrap import FormActions
from crispy_forms.helper import FormHelper
from crispy_forms.layout import HTML, Column, Fieldset, Layout, Row, Submit
from django import forms
from django.core.exceptions import ValidationError

from capture.models import Lead, Stage
from capture.services import EDITABLE_FIELDS
from pipeline.selectors import lead_owners
from pipeline.services import transition_refusal

PIPELINE_FIELDS = ("stage", "stage_reason", "owner")
MAX_ATTRIBUTES = 100
SIMPLE_TYPES = (str, int, float, bool, type(None))


class AttributesField(forms.JSONField):
    """A JSON object of name → simple value, edited as text."""

    default_error_messages = {
        "invalid": "Enter valid JSON, for example {\"plan\": \"pro\", \"seats\": 12}.",
    }

    def to_python(self, value):
        value = super().to_python(value)
        if value in (None, ""):
            return {}
        if not isinstance(value, dict):
            raise ValidationError(
                "Custom attributes must be a JSON object of name: value pairs, "
                "like {\"plan\": \"pro\"}.",
                code="not_object",
            )
        if len(value) > MAX_ATTRIBUTES:
            raise ValidationError(
                f"At most {MAX_ATTRIBUTES} custom attributes.", code="too_many"
            )
        for name, item in value.items():
            if not name.strip() or len(name) > 100:
                raise ValidationError(
                    "Attribute names must be 1 to 100 characters.", code="bad_name"
                )
            simple = isinstance(item, SIMPLE_TYPES) or (
                isinstance(item, list) and all(isinstance(i, SIMPLE_TYPES) for i in item)
            )
            if not simple:
                raise ValidationError(
                    "Attribute “%(name)s” must be text, a number, true/false, null or a list "
                    "of those (no nested objects).",
                    code="not_simple",
                    params={"name": name},
                )
        return value

    def bound_data(self, data, initial):
        # Show the text as typed when the form comes back with errors, not a re-dump.
        if self.disabled or data is None:
            return super().bound_data(data, initial)
        return forms.fields.InvalidJSONInput(data)

    def prepare_value(self, value):
        if isinstance(value, forms.fields.InvalidJSONInput):
            return value
        if value in (None, {}, ""):
            return ""
        return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)


def _model_field(name: str, **kwargs) -> forms.Field:
    """The form field Django derives from the Lead field (lengths, format, required)."""
    return Lead._meta.get_field(name).formfield(**kwargs)


class LeadForm(forms.Form):
    """Contact, company, custom attributes and consent; plus stage and owner for people
    who work the pipeline (``can_work_pipeline``).

    A plain Form with fields derived from the model, not a ModelForm: a ModelForm would
    write the input onto the lead while validating and (Django 5.2) check the model's
    constraints, turning the lower(email) one into a second, non-field "already exists"
    error. The services validate the model and own "one lead per email"; their
    per-field errors come back through ``add_service_error``.
    """

    email = _model_field("email", widget=forms.EmailInput(attrs={"autocomplete": "off"}))
    first_name = _model_field("first_name")
    last_name = _model_field("last_name")
    job_title = _model_field("job_title")
    phone = _model_field("phone", widget=forms.TextInput(attrs={"type": "tel"}))
    company = _model_field("company")
    website = _model_field("website", assume_scheme="https")
    country = _model_field("country")
    industry = _model_field("industry")
    company_size = _model_field("company_size", label="Company size")
    attributes = AttributesField(
        required=False,
        label="Custom attributes",
        help_text='A JSON object, e.g. {"plan": "pro", "seats": 12}. Leave empty for none.',
        widget=forms.Textarea(attrs={"rows": 4, "class": "font-monospace", "spellcheck": "false"}),
    )
    marketing_consent = _model_field(
        "marketing_consent", label="Agreed to receive marketing email"
    )

    def __init__(self, data=None, *, lead: Lead | None = None, can_work_pipeline: bool = False,
                 **kwargs):
        initial = {name: getattr(lead, name) for name in EDITABLE_FIELDS} if lead else {}
        super().__init__(data, initial=initial, **kwargs)
        self.can_work_pipeline = can_work_pipeline
        self.current_stage = lead.stage if lead else Stage.LEAD
        creating = lead is None
        if can_work_pipeline:
            self.fields["stage"] = forms.ChoiceField(
                choices=Stage.choices, initial=lead.stage if lead else Stage.LEAD
            )
            self.fields["stage_reason"] = forms.CharField(
                required=False,
                max_length=2000,
                label="Reason for the stage change",
                help_text="Needed when disqualifying a lead or sending an MQL back to Lead.",
                widget=forms.Textarea(attrs={"rows": 2}),
            )
            self.fields["owner"] = forms.ModelChoiceField(
                queryset=lead_owners(),
                required=False,
                empty_label="Unassigned",
                initial=lead.owner_id if lead else None,
            )
            self.fields["owner"].label_from_instance = lambda user: user.display_name

        self.helper = FormHelper(self)
        self.helper.form_id = "lead-form"
        self.helper.attrs = {"novalidate": ""}
        sections = [
            Fieldset(
                "Contact",
                "email",
                Row(Column("first_name"), Column("last_name")),
                Row(Column("job_title"), Column("phone")),
            ),
            Fieldset(
                "Company",
                Row(Column("company"), Column("website")),
                Row(Column("country"), Column("industry"), Column("company_size")),
            ),
            Fieldset("Custom attributes", "attributes"),
            Fieldset("Consent", "marketing_consent"),
        ]
        if can_work_pipeline:
            sections.append(
                Fieldset("Pipeline", Row(Column("stage"), Column("owner")), "stage_reason")
            )
        sections.append(
            FormActions(
                Submit("save", "Create lead" if creating else "Save changes"),
                # Rendered with the page's context: the view passes cancel_url.
                HTML('<a class="btn btn-link" href="{{ cancel_url }}">Cancel</a>'),
            )
        )
        self.helper.layout = Layout(*sections)

    def clean(self):
        cleaned = super().clean()
        stage = cleaned.get("stage")
        if self.can_work_pipeline and stage and stage != self.current_stage:
            # Early, friendlier feedback beside the other errors; lead_change_stage checks
            # again under a row lock and stays the authority.
            refusal = transition_refusal(
                self.current_stage, stage, cleaned.get("stage_reason") or ""
            )
            if refusal:
                self.add_error("stage", refusal)
        return cleaned

    def lead_fields(self) -> dict:
        """The contact fields to hand to lead_create/lead_update."""
        return {name: self.cleaned_data[name] for name in EDITABLE_FIELDS}

    def add_service_error(self, exc: ValidationError) -> None:
        """Put a service's ValidationError beside the fields it names; errors about fields
        this form does not show become form-wide errors."""
        if not hasattr(exc, "error_dict"):
            self.add_error(None, exc)
            return
        for name, errors in exc.error_dict.items():
            self.add_error(name if name in self.fields else None, errors)


CONTACT_FIELDS = ("first_name", "last_name", "email", "phone", "job_title", "company",
                  "website", "country", "industry", "company_size")


class LeadContactForm(forms.Form):
    """The lead page's inline editor: contact and company fields only (attributes,
    consent, stage and owner stay on the full edit page)."""

    def __init__(self, data=None, *, lead: Lead):
        super().__init__(data, initial={name: getattr(lead, name) for name in CONTACT_FIELDS})
        for name in CONTACT_FIELDS:
            self.fields[name] = copy.deepcopy(LeadForm.base_fields[name])
        for name, field in self.fields.items():
            field.widget.attrs.setdefault("class", "form-control form-control-sm")
            field.widget.attrs["id"] = f"id_contact-{name}"

    def full_clean(self):
        super().full_clean()
        self.mark_errors()

    def mark_errors(self) -> None:
        """Invalid inputs say so to the eye and to screen readers."""
        for name in getattr(self, "_errors", None) or {}:
            if name in self.fields:
                attrs = self.fields[name].widget.attrs
                attrs["class"] = f"{attrs.get('class', '')} is-invalid".strip()
                attrs["aria-invalid"] = "true"
                attrs["aria-describedby"] = f"id_contact-{name}-error"

    def changed_fields(self) -> dict:
        return {name: self.cleaned_data[name] for name in self.changed_data}

    def add_service_error(self, exc: ValidationError) -> None:
        LeadForm.add_service_error(self, exc)
        self.mark_errors()
