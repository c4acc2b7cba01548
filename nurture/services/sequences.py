"""Sequences with their triggers and steps: created and changed as a whole, checked
before anything is written.

Errors are a ``ValidationError`` keyed by field; list items are keyed
``steps.<index>.<field>`` / ``triggers.<index>.<field>`` (the API nests them as
``{"steps": {"1": {"body": [...]}}}``).

Steps keep their identity across edits: a step sent back with its ``id`` keeps its row
(so which leads were sent it, and which wait for it, stays with it) and takes its new
place in the list; a step without an ``id`` is new, unless an existing step not sent
back has the very same subject and body (a client that sends the whole list again
without ids resends nothing it did not change); the steps left out are deleted. Leads
then follow the new order from the last step they were sent
(``nurture.services.progress``).
"""

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F

from capture.models import Form, Grade, LandingPage, Segment, Stage
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
from nurture.services.progress import enrollments_follow_edit
from nurture.services.segments import segment_watches_sync

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
    elif kind == TriggerType.SEGMENT:
        if spec.get("segment") is None:
            errors["segment"] = ["Choose the segment to watch."]
        else:
            segment = Segment.objects.filter(pk=_int(spec["segment"]) or 0).first()
            if segment is None:
                errors["segment"] = ["No segment with this id."]
            clean["segment"] = segment
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
    return step_problems(spec), {f: spec.get(f) for f in (*STEP_FIELDS, "id") if f in spec}


def _step_id_errors(sequence: Sequence | None, steps: list[dict[str, Any]]
                    ) -> dict[str, list[str]]:
    """Ids must name this sequence's steps, each at most once."""
    known = set(sequence.steps.values_list("pk", flat=True)) if sequence is not None else set()
    errors: dict[str, list[str]] = {}
    seen: dict[int, int] = {}
    for index, spec in enumerate(steps):
        step_id = spec.get("id")
        if step_id is None:
            continue
        if _int(step_id) is None:
            errors[f"steps.{index}.id"] = ["A step's id (a whole number), or none for a new "
                                           "step."]
        elif step_id not in known:
            errors[f"steps.{index}.id"] = ["No step with this id in this sequence."]
        elif step_id in seen:
            errors[f"steps.{index}.id"] = [f"The same step as step {seen[step_id] + 1}."]
        else:
            seen[step_id] = index
    return errors


def _validate(values: dict[str, Any], *, sequence: Sequence | None):
    errors = _settings_errors(values)
    if sequence is None and "name" not in values:
        errors["name"] = ["Give the sequence a name."]
    triggers = steps = None
    if values.get("triggers") is not None:
        trigger_errors, triggers = _list_errors("triggers", values["triggers"], MAX_TRIGGERS,
                                                trigger_problems)
        errors.update(trigger_errors)
    if values.get("steps") is not None:
        step_errors, steps = _list_errors("steps", values["steps"], MAX_STEPS, _check_step)
        errors.update(step_errors)
        if sequence is None:
            for spec in steps:  # ids name existing steps: a new sequence has none
                spec.pop("id", None)
        elif not step_errors:
            errors.update(_step_id_errors(sequence, steps))
    status = values.get("status")
    if status == SequenceStatus.ACTIVE and steps == [] and "steps" not in errors:
        errors["steps"] = ["An active sequence needs at least one step."]
    if errors:
        raise ValidationError(errors)
    return triggers, steps


def _set_triggers(sequence: Sequence, triggers: list[dict[str, Any]]) -> None:
    sequence.triggers.all().delete()
    Trigger.objects.bulk_create(
        Trigger(sequence=sequence, type=t["type"], form=t["form"], segment=t.get("segment"),
                params=t["params"])
        for t in triggers
    )
    # The segments it watches keep what they have seen across saves (services.segments).
    segment_watches_sync(sequence=sequence, segment_ids=[
        t["segment"].pk for t in triggers
        if t["type"] == TriggerType.SEGMENT and t.get("segment") is not None])


def _step_values(spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "subject": spec["subject"],
        "preheader": spec.get("preheader") or "",
        "body": spec["body"],
        "delay_minutes": spec.get("delay_minutes") or 0,
        "send_days": spec.get("send_days") or [],
        "send_hour_start": spec.get("send_hour_start"),
        "send_hour_end": spec.get("send_hour_end"),
    }


def _set_steps(sequence: Sequence, steps: list[dict[str, Any]]) -> None:
    """Make the sequence's steps ``steps``, in that order, keeping rows by identity (the
    module text), then move the waiting enrollments to the step that now follows what
    they were sent."""
    existing = list(sequence.steps.order_by("position"))
    by_id = {s.pk: s for s in existing}
    rows: list[Step | None] = [by_id.get(spec.get("id")) for spec in steps]
    free = [s for s in existing if s not in rows]
    for index, spec in enumerate(steps):
        if rows[index] is None:
            same = next((s for s in free if (s.subject, s.body) == (spec["subject"],
                                                                   spec["body"])), None)
            if same is not None:
                rows[index] = same
                free.remove(same)
    if free:
        Step.objects.filter(pk__in=[s.pk for s in free]).delete()
    kept = [row for row in rows if row is not None]
    if kept:
        # Out of the way of the final positions first: (sequence, position) is unique
        # at every statement, and rows change places.
        offset = max([s.position for s in existing] + [len(steps)]) + 1
        Step.objects.filter(pk__in=[s.pk for s in kept]).update(
            position=F("position") + offset)
    retimed: set[int] = set()
    for position, (spec, step) in enumerate(zip(steps, rows, strict=True), start=1):
        values = _step_values(spec)
        if step is None:
            Step.objects.create(sequence=sequence, position=position, **values)
            continue
        if (step.delay_minutes, step.send_days, step.send_hour_start, step.send_hour_end) != (
                values["delay_minutes"], values["send_days"], values["send_hour_start"],
                values["send_hour_end"]):
            retimed.add(step.pk)
        for name, value in values.items():
            setattr(step, name, value)
        step.position = position
        step.save()
    if existing:
        enrollments_follow_edit(sequence=sequence, retimed=retimed)


@transaction.atomic
def sequence_create(**values: Any) -> Sequence:
    """Create a sequence from its settings (SETTING_FIELDS), ``triggers`` and ``steps``."""
    triggers, steps = _validate(values, sequence=None)
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
    """Change settings; ``triggers`` / ``steps``, when given, replace the whole list (steps
    keep their rows by ``id``: the module text)."""
    if (values.get("status") == SequenceStatus.ACTIVE and values.get("steps") is None
            and not sequence.steps.exists()):
        raise ValidationError({"steps": ["An active sequence needs at least one step."]})
    triggers, steps = _validate(values, sequence=sequence)
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
