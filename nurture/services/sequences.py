"""Sequences with their triggers and steps: created and changed as a whole, checked
before anything is written.

Errors are a ``ValidationError`` keyed by field; list items are keyed
``steps.<index>.<field>`` / ``triggers.<index>.<field>`` (the API nests them as
``{"steps": {"1": {"body": [...]}}}``).
"""

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from capture.models import Form, Grade, LandingPage, Stage
from nurture.merge import template_problems
from nurture.models import (
    Enrollment,
    EnrollmentState,
    Reenrollment,
    Sequence,
    SequenceStatus,
    Step,
    Trigger,
    TriggerType,
)

MAX_STEPS = 50
MAX_TRIGGERS = 20
MAX_BODY = 100_000
MAX_DELAY_MINUTES = 366 * 24 * 60
SETTING_FIELDS = ("name", "status", "reenrollment", "exit_on_stage", "goal_kind", "tracking")
STEP_FIELDS = ("subject", "preheader", "body", "delay_minutes", "send_days", "send_hour_start",
               "send_hour_end")


def _settings_errors(values: dict[str, Any]) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if "name" in values and not str(values["name"] or "").strip():
        errors["name"] = ["Give the sequence a name."]
    elif len(str(values.get("name") or "")) > 200:
        errors["name"] = ["At most 200 characters."]
    if "status" in values and values["status"] not in SequenceStatus.values:
        errors["status"] = [f"Choose one of: {', '.join(SequenceStatus.values)}."]
    if "reenrollment" in values and values["reenrollment"] not in Reenrollment.values:
        errors["reenrollment"] = [f"Choose one of: {', '.join(Reenrollment.values)}."]
    if values.get("exit_on_stage") not in (None, "", *Stage.values):
        errors["exit_on_stage"] = [f"Choose one of: {', '.join(Stage.values)}, or empty."]
    if len(str(values.get("goal_kind") or "")) > 64:
        errors["goal_kind"] = ["At most 64 characters."]
    return errors


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value


def step_problems(spec: dict[str, Any]) -> dict[str, list[str]]:
    """What is wrong with one step's values, by field (empty: nothing)."""
    errors: dict[str, list[str]] = {}
    subject = spec.get("subject")
    if not isinstance(subject, str) or not subject.strip():
        errors["subject"] = ["Give the email a subject."]
    elif len(subject) > 200:
        errors["subject"] = ["At most 200 characters."]
    body = spec.get("body")
    if not isinstance(body, str) or not body.strip():
        errors["body"] = ["Write the email's body."]
    elif len(body) > MAX_BODY:
        errors["body"] = [f"At most {MAX_BODY} characters."]
    preheader = spec.get("preheader", "")
    if not isinstance(preheader, str) or len(preheader) > 200:
        errors["preheader"] = ["Text of at most 200 characters."]
    for name in ("subject", "preheader", "body"):
        if (name not in errors and isinstance(spec.get(name), str)
                and (problems := template_problems(spec[name]))):
            errors[name] = problems
    delay = _int(spec.get("delay_minutes", 0))
    if delay is None or not 0 <= delay <= MAX_DELAY_MINUTES:
        errors["delay_minutes"] = [f"A whole number of minutes from 0 to {MAX_DELAY_MINUTES}."]
    days = spec.get("send_days") or []
    if not isinstance(days, list) or any(_int(d) is None or not 0 <= d <= 6 for d in days):
        errors["send_days"] = ["Weekdays as numbers, 0 (Monday) to 6 (Sunday)."]
    start, end = spec.get("send_hour_start"), spec.get("send_hour_end")
    for name, value, high in (("send_hour_start", start, 23), ("send_hour_end", end, 24)):
        if value is not None and (_int(value) is None or not 0 <= value <= high):
            errors[name] = [f"An hour from 0 to {high}, or empty."]
    if (not errors.keys() & {"send_hour_start", "send_hour_end"} and start is not None
            and end is not None and start >= end):
        errors["send_hour_end"] = ["The window must end after it starts (same day)."]
    return errors


def trigger_problems(spec: dict[str, Any]) -> tuple[dict[str, list[str]], dict[str, Any]]:
    """(errors by field, the cleaned trigger: type, form, params)."""
    kind = spec.get("type")
    if kind not in TriggerType.values:
        return {"type": [f"Choose one of: {', '.join(TriggerType.values)}."]}, {}
    errors: dict[str, list[str]] = {}
    clean: dict[str, Any] = {"type": kind, "form": None, "params": {}}
    if kind == TriggerType.FORM_SUBMITTED and spec.get("form") is not None:
        form = Form.objects.filter(pk=_int(spec["form"]) or 0).first()
        if form is None:
            errors["form"] = ["No form with this id."]
        clean["form"] = form
    elif kind == TriggerType.LEAD_MAGNET and spec.get("page") is not None:
        if not LandingPage.objects.filter(pk=_int(spec["page"]) or 0).exists():
            errors["page"] = ["No landing page with this id."]
        clean["params"]["page"] = spec["page"]
    elif kind == TriggerType.CUSTOM_EVENT:
        event = spec.get("event")
        if not isinstance(event, str) or not event.strip() or len(event) > 64:
            errors["event"] = ["The event's name (up to 64 characters), e.g. trial_started."]
        else:
            clean["params"]["event"] = event.strip()
    elif kind == TriggerType.GRADE_REACHED:
        if spec.get("grade") not in Grade.values:
            errors["grade"] = [f"Choose one of: {', '.join(Grade.values)}."]
        clean["params"]["grade"] = spec.get("grade")
    elif kind == TriggerType.SCORE_REACHED:
        if _int(spec.get("score")) is None:
            errors["score"] = ["A whole number of points."]
        clean["params"]["score"] = spec.get("score")
    elif kind == TriggerType.STAGE_ENTERED:
        if spec.get("stage") not in Stage.values:
            errors["stage"] = [f"Choose one of: {', '.join(Stage.values)}."]
        clean["params"]["stage"] = spec.get("stage")
    return errors, clean


def _list_errors(name: str, items: Any, limit: int, check) -> tuple[dict[str, list[str]], list]:
    if not isinstance(items, list | tuple):
        return {name: ["Give a list."]}, []
    if len(items) > limit:
        return {name: [f"At most {limit}."]}, []
    errors: dict[str, list[str]] = {}
    cleaned = []
    for index, spec in enumerate(items):
        if not isinstance(spec, dict):
            errors[f"{name}.{index}"] = ["Give an object."]
            continue
        problems, clean = check(spec)
        for field, messages in problems.items():
            errors[f"{name}.{index}.{field}"] = messages
        cleaned.append(clean)
    return errors, cleaned


def _check_step(spec):
    return step_problems(spec), {f: spec.get(f) for f in STEP_FIELDS if f in spec}


def _validate(values: dict[str, Any], *, creating: bool):
    errors = _settings_errors(values)
    if creating and "name" not in values:
        errors["name"] = ["Give the sequence a name."]
    triggers = steps = None
    if values.get("triggers") is not None:
        trigger_errors, triggers = _list_errors("triggers", values["triggers"], MAX_TRIGGERS,
                                                trigger_problems)
        errors.update(trigger_errors)
    if values.get("steps") is not None:
        step_errors, steps = _list_errors("steps", values["steps"], MAX_STEPS, _check_step)
        errors.update(step_errors)
    status = values.get("status")
    if status == SequenceStatus.ACTIVE and steps == [] and "steps" not in errors:
        errors["steps"] = ["An active sequence needs at least one step."]
    if errors:
        raise ValidationError(errors)
    return triggers, steps


def _set_triggers(sequence: Sequence, triggers: list[dict[str, Any]]) -> None:
    sequence.triggers.all().delete()
    Trigger.objects.bulk_create(
        Trigger(sequence=sequence, type=t["type"], form=t["form"], params=t["params"])
        for t in triggers
    )


def _set_steps(sequence: Sequence, steps: list[dict[str, Any]]) -> None:
    """Replace the steps by position, updating rows in place: enrollments waiting for a
    step and the emails already sent keep pointing at the same row. Removed steps are
    deleted (their waiting enrollments complete at their next due time)."""
    existing = {s.position: s for s in sequence.steps.all()}
    for position, spec in enumerate(steps, start=1):
        values = {
            "subject": spec["subject"],
            "preheader": spec.get("preheader") or "",
            "body": spec["body"],
            "delay_minutes": spec.get("delay_minutes") or 0,
            "send_days": spec.get("send_days") or [],
            "send_hour_start": spec.get("send_hour_start"),
            "send_hour_end": spec.get("send_hour_end"),
        }
        step = existing.pop(position, None)
        if step is None:
            Step.objects.create(sequence=sequence, position=position, **values)
        else:
            for name, value in values.items():
                setattr(step, name, value)
            step.save()
    if existing:
        Step.objects.filter(pk__in=[s.pk for s in existing.values()]).delete()


@transaction.atomic
def sequence_create(**values: Any) -> Sequence:
    """Create a sequence from its settings (SETTING_FIELDS), ``triggers`` and ``steps``."""
    triggers, steps = _validate(values, creating=True)
    sequence = Sequence(**{k: v for k, v in values.items() if k in SETTING_FIELDS})
    sequence.name = sequence.name.strip()
    sequence.exit_on_stage = sequence.exit_on_stage or ""
    sequence.full_clean()
    sequence.save()
    _set_triggers(sequence, triggers or [])
    _set_steps(sequence, steps or [])
    return sequence


@transaction.atomic
def sequence_update(*, sequence: Sequence, **values: Any) -> Sequence:
    """Change settings; ``triggers`` / ``steps``, when given, replace the whole list."""
    if (values.get("status") == SequenceStatus.ACTIVE and values.get("steps") is None
            and not sequence.steps.exists()):
        raise ValidationError({"steps": ["An active sequence needs at least one step."]})
    triggers, steps = _validate(values, creating=False)
    for name in SETTING_FIELDS:
        if name in values:
            setattr(sequence, name, values[name] if values[name] is not None else "")
    sequence.name = sequence.name.strip()
    sequence.full_clean()
    sequence.save()
    if triggers is not None:
        _set_triggers(sequence, triggers)
    if steps is not None:
        _set_steps(sequence, steps)
    return sequence


@transaction.atomic
def sequence_delete(*, sequence: Sequence) -> None:
    """Delete a sequence with its enrollments and sent-email records."""
    Enrollment.objects.filter(sequence=sequence, state=EnrollmentState.ACTIVE).update(
        next_due_at=None
    )
    sequence.delete()
