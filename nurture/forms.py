"""The sequence editor's input: a sequence's settings, its triggers and its ordered steps
(two formsets), plus the small forms of the sending settings and the suppression list.

These only read and lay out what the marketer typed; nurture.services.sequences checks
the rules (merge-field templates included) and writes. Its errors come back keyed by
setting name, ``steps.<i>.<field>`` or ``triggers.<i>.<field>`` and are put beside their
inputs by ``add_service_errors``.
"""

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.db.models.functions import Lower

from capture.models import Form, Grade, LandingPage, Segment, Stage
from nurture.models import (
    Reenrollment,
    SendingSettings,
    SequenceStatus,
    TriggerType,
    time_zone_names,
)
from nurture.services.sequences import MAX_BODY, MAX_DELAY_MINUTES, MAX_STEPS, MAX_TRIGGERS

STEPS_PREFIX = "steps"
TRIGGERS_PREFIX = "triggers"
DELAY_UNITS = {"minutes": 1, "hours": 60, "days": 24 * 60}
WEEKDAYS = [(0, "Mon"), (1, "Tue"), (2, "Wed"), (3, "Thu"), (4, "Fri"), (5, "Sat"),
            (6, "Sun")]
HOURS = [("", "—")] + [(h, f"{h:02d}:00") for h in range(25)]
# Which of a trigger's inputs each type uses (the page hides the others).
TRIGGER_INPUTS = {
    TriggerType.FORM_SUBMITTED: "form",
    TriggerType.LEAD_MAGNET: "page",
    TriggerType.CUSTOM_EVENT: "event",
    TriggerType.GRADE_REACHED: "grade",
    TriggerType.SCORE_REACHED: "score",
    TriggerType.STAGE_ENTERED: "stage",
    TriggerType.SEGMENT: "segment",
    TriggerType.MQL_REJECTED: "mql_rejected",  # no input: a note saying what it means
}
SEGMENT_TRIGGER_HELP = (
    "Leads that come to match the segment after the sequence is live are enrolled (within "
    "a minute). Leads already in it when the sequence goes live, or when this trigger is "
    "added to a live sequence, are not: to add them, open the segment on the leads list "
    "and use “Add to sequence…”. A lead that leaves the segment and comes back counts as "
    "coming to match again (if re-enrolment allows it).")


def no_line_breaks(value: str) -> None:
    if "\r" in value or "\n" in value:
        raise ValidationError("One line, please.")


class SequenceSettingsForm(forms.Form):
    name = forms.CharField(max_length=200)
    status = forms.ChoiceField(choices=SequenceStatus.choices,
                               help_text="Only active sequences enroll leads and send.")
    reenrollment = forms.ChoiceField(choices=Reenrollment.choices, label="Re-enrolment",
                                     help_text="May a lead go through it again?")
    exit_on_stage = forms.ChoiceField(
        choices=[("", "Never (stay until the last step)")]
        + [(v, label if v == Stage.DISQUALIFIED else f"{label} or later")
           for v, label in Stage.choices],
        required=False, label="Exit when the lead reaches",
    )
    goal_kind = forms.CharField(
        max_length=64, required=False, label="Goal activity",
        help_text="An activity kind that ends the sequence, e.g. demo_requested.",
        widget=forms.TextInput(attrs={"list": "activity-kinds", "autocomplete": "off"}),
    )
    tracking = forms.BooleanField(required=False, label="Track opens and clicks")

    @classmethod
    def for_sequence(cls, sequence) -> "SequenceSettingsForm":
        return cls(initial={name: getattr(sequence, name) for name in
                            ("name", "status", "reenrollment", "exit_on_stage", "goal_kind",
                             "tracking")})

    @classmethod
    def new(cls) -> "SequenceSettingsForm":
        return cls(initial={"status": SequenceStatus.DRAFT, "reenrollment": Reenrollment.NEVER,
                            "exit_on_stage": Stage.SQL, "tracking": True})


class RowFormSetMixin:
    """Every row is required (an added row left blank is an error, not silently
    dropped), and rows come back in the order of their position inputs."""

    def get_form_kwargs(self, index):
        return {"empty_permitted": False, "use_required_attribute": False}

    def sorted_forms(self) -> list:
        for index, row in enumerate(self.forms):
            row.index = index

        def key(row):
            raw = row["position"].value()
            try:
                return (int(raw), row.index)
            except (TypeError, ValueError):
                return (10**6, row.index)

        return sorted(self.forms, key=key)


class TriggerForm(forms.Form):
    position = forms.IntegerField(widget=forms.HiddenInput, required=False)
    type = forms.ChoiceField(choices=TriggerType.choices, label="When")
    form = forms.ModelChoiceField(queryset=Form.objects.none(), required=False,
                                  empty_label="Any form", label="Form")
    page = forms.ModelChoiceField(queryset=LandingPage.objects.none(), required=False,
                                  empty_label="Any landing page", label="Landing page")
    event = forms.CharField(max_length=64, required=False, label="Event name",
                            widget=forms.TextInput(attrs={"placeholder": "trial_started"}))
    grade = forms.ChoiceField(choices=[("", "—"), *Grade.choices], required=False,
                              label="Grade")
    score = forms.IntegerField(required=False, label="Score", min_value=-1_000_000,
                               max_value=1_000_000)
    stage = forms.ChoiceField(choices=[("", "—"), *Stage.choices], required=False,
                              label="Stage")
    segment = forms.ModelChoiceField(queryset=Segment.objects.none(), required=False,
                                     empty_label="—", label="Segment",
                                     help_text=SEGMENT_TRIGGER_HELP)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["form"].queryset = Form.objects.order_by("name")
        self.fields["page"].queryset = LandingPage.objects.order_by("title")
        self.fields["segment"].queryset = Segment.objects.order_by(Lower("name"), "id")

    def spec(self) -> dict[str, Any]:
        data = self.cleaned_data
        kind = data["type"]
        spec: dict[str, Any] = {"type": kind}
        if kind == TriggerType.FORM_SUBMITTED:
            spec["form"] = data["form"].pk if data.get("form") else None
        elif kind == TriggerType.LEAD_MAGNET:
            spec["page"] = data["page"].pk if data.get("page") else None
        elif kind == TriggerType.CUSTOM_EVENT:
            spec["event"] = data.get("event") or ""
        elif kind == TriggerType.GRADE_REACHED:
            spec["grade"] = data.get("grade") or None
        elif kind == TriggerType.SCORE_REACHED:
            spec["score"] = data.get("score")
        elif kind == TriggerType.STAGE_ENTERED:
            spec["stage"] = data.get("stage") or None
        elif kind == TriggerType.SEGMENT:
            spec["segment"] = data["segment"].pk if data.get("segment") else None
        return spec


class BaseTriggerFormSet(RowFormSetMixin, forms.BaseFormSet):
    """The form, landing-page and segment pickers are read once for all rows, not once
    per row."""

    _shared_choices: dict[str, list] | None = None

    def _construct_form(self, i, **kwargs):
        form = super()._construct_form(i, **kwargs)
        if self._shared_choices is None:
            self._shared_choices = {name: list(form.fields[name].choices)
                                    for name in ("form", "page", "segment")}
        for name, choices in self._shared_choices.items():
            form.fields[name].choices = choices
        return form


TriggerFormSet = forms.formset_factory(TriggerForm, formset=BaseTriggerFormSet, extra=0,
                                       max_num=MAX_TRIGGERS, validate_max=True,
                                       absolute_max=MAX_TRIGGERS + 10)


def trigger_initial(trigger) -> dict[str, Any]:
    params = trigger.params or {}
    return {"type": trigger.type, "form": trigger.form_id, "page": params.get("page"),
            "event": params.get("event", ""), "grade": params.get("grade", ""),
            "score": params.get("score"), "stage": params.get("stage", ""),
            "segment": trigger.segment_id}


class StepForm(forms.Form):
    position = forms.IntegerField(widget=forms.HiddenInput, required=False)
    # The saved step this row is (empty: a new one): moved, changed or kept, the step
    # keeps its identity, so leads never get it twice (nurture.services.sequences).
    id = forms.IntegerField(widget=forms.HiddenInput, required=False, min_value=1)
    subject = forms.CharField(max_length=200, strip=False)
    preheader = forms.CharField(max_length=200, required=False, strip=False,
                                help_text="The line inboxes show after the subject.")
    body = forms.CharField(max_length=MAX_BODY, strip=False,
                           widget=forms.Textarea(attrs={"rows": 8, "spellcheck": "true"}),
                           help_text="Markdown, with merge fields such as "
                                     "{{ first_name|default:\"there\" }} and {{ company }}.")
    delay_value = forms.IntegerField(min_value=0, initial=0, label="Wait")
    delay_unit = forms.ChoiceField(choices=[(u, u) for u in DELAY_UNITS], initial="days",
                                   label="Unit")
    send_days = forms.TypedMultipleChoiceField(
        choices=WEEKDAYS, coerce=int, required=False, widget=forms.CheckboxSelectMultiple,
        label="Only on", help_text="None ticked: any day.")
    send_hour_start = forms.TypedChoiceField(choices=HOURS[:-1], coerce=int, empty_value=None,
                                             required=False, label="From")
    send_hour_end = forms.TypedChoiceField(choices=HOURS, coerce=int, empty_value=None,
                                           required=False, label="Until")

    def clean(self):
        data = super().clean()
        value, unit = data.get("delay_value"), data.get("delay_unit")
        if value is not None and unit in DELAY_UNITS:
            minutes = value * DELAY_UNITS[unit]
            if minutes > MAX_DELAY_MINUTES:
                self.add_error("delay_value", f"At most {MAX_DELAY_MINUTES // (24 * 60)} days.")
            data["delay_minutes"] = minutes
        return data

    def spec(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "id": data.get("id"),
            "subject": data["subject"],
            "preheader": data.get("preheader") or "",
            "body": data["body"],
            "delay_minutes": data["delay_minutes"],
            "send_days": sorted(set(data.get("send_days") or [])),
            "send_hour_start": data.get("send_hour_start"),
            "send_hour_end": data.get("send_hour_end"),
        }


class BaseStepFormSet(RowFormSetMixin, forms.BaseFormSet):
    pass


StepFormSet = forms.formset_factory(StepForm, formset=BaseStepFormSet, extra=0,
                                    max_num=MAX_STEPS, validate_max=True,
                                    absolute_max=MAX_STEPS + 10)


def split_delay(minutes: int) -> tuple[int, str]:
    """The largest unit that divides the delay evenly: 2880 → (2, "days")."""
    if not minutes:
        return 0, "days"
    for unit in ("days", "hours"):
        if minutes and minutes % DELAY_UNITS[unit] == 0:
            return minutes // DELAY_UNITS[unit], unit
    return minutes, "minutes"


def step_initial(step) -> dict[str, Any]:
    value, unit = split_delay(step.delay_minutes)
    return {"id": step.pk, "subject": step.subject, "preheader": step.preheader,
            "body": step.body, "delay_value": value, "delay_unit": unit,
            "send_days": step.send_days or [], "send_hour_start": step.send_hour_start,
            "send_hour_end": step.send_hour_end}


def new_step(first: bool) -> dict[str, Any]:
    return {"id": None, "subject": "", "preheader": "", "body": "",
            "delay_value": 0 if first else 2,
            "delay_unit": "days", "send_days": [], "send_hour_start": None,
            "send_hour_end": None}


def raw_rows(rows) -> list[dict[str, Any]]:
    """What was typed in each row, unchecked, to draw the rows again."""
    result = []
    for row in rows:
        values = {}
        for name, field in row.fields.items():
            if name == "position":
                continue
            value = row[name].value()
            if isinstance(field, forms.MultipleChoiceField):
                value = [v for v in (value or []) if str(v).isdigit()]
            values[name] = value
        result.append(values)
    return result


# Service error keys → the editor's input names.
STEP_FIELD_INPUTS = {"delay_minutes": "delay_value", "id": None}  # id: the row's errors


def add_service_errors(settings_form, trigger_rows, step_rows, trigger_formset, step_formset,
                       exc: ValidationError) -> list[str]:
    """Put the services' errors beside their inputs; returns those that have no input."""
    leftover: list[str] = []
    if not hasattr(exc, "error_dict"):
        return list(exc.messages)
    for key, errors in exc.message_dict.items():
        parts = key.split(".")
        if parts[0] in ("steps", "triggers") and len(parts) >= 2 and parts[1].isdigit():
            rows = step_rows if parts[0] == "steps" else trigger_rows
            index = int(parts[1])
            field = parts[2] if len(parts) == 3 else None
            if parts[0] == "steps":
                field = STEP_FIELD_INPUTS.get(field, field)
            if index < len(rows):
                row = rows[index]
                row.add_error(field if field in row.fields else None, errors)
                continue
            leftover += errors
        elif key in ("steps", "triggers"):
            formset = step_formset if key == "steps" else trigger_formset
            formset._non_form_errors = formset.error_class(
                list(formset.non_form_errors()) + errors)
        elif key in settings_form.fields:
            settings_form.add_error(key, errors)
        else:
            leftover += errors
    return leftover


# --- Sending settings and the suppression list ------------------------------------------------


def time_zone_choices() -> list[tuple[str, str]]:
    return [(name, name.replace("_", " ")) for name in sorted(time_zone_names())]


class SendingSettingsForm(forms.ModelForm):
    # Not required: a client that leaves it out gets the server's (settings.TIME_ZONE).
    time_zone = forms.ChoiceField(choices=time_zone_choices, label="Time zone", required=False,
                                  help_text="Steps' send windows (weekdays and hours) are in "
                                            "this time zone.")

    class Meta:
        model = SendingSettings
        fields = ["from_name", "from_email", "reply_to", "postal_address", "time_zone"]
        labels = {"from_email": "From address", "reply_to": "Reply-to address",
                  "postal_address": "Postal address"}
        help_texts = {
            "from_name": "Who the emails are from, as inboxes show it.",
            "from_email": "An address on a domain your mail server may send for (SPF, DKIM).",
            "reply_to": "Where replies go; empty: the from address.",
            "postal_address": "Shown in every email's footer; anti-spam laws require it.",
        }
        widgets = {"postal_address": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["from_name"].validators.append(no_line_breaks)
        self.fields["from_email"].required = True
        self.fields["postal_address"].required = True

    def clean_postal_address(self):
        value = self.cleaned_data["postal_address"].strip()
        if len(value) > 500:
            raise ValidationError("At most 500 characters.")
        return value


class SuppressionForm(forms.Form):
    email = forms.EmailField(max_length=254, label="Email address")
    detail = forms.CharField(max_length=500, required=False, label="Note",
                             help_text="Why, for whoever reads this list later.")


class LeadPickForm(forms.Form):
    lead = forms.CharField(max_length=200, required=False, label="Lead's email or name")
