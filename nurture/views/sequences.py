"""The sequences list (with its figures), the sequence editor with its preview and "send
a test to me", the active/paused switch and deleting a sequence.

The editor is one HTML form: the settings, the triggers and the ordered steps (two
formsets). Adding, removing and moving a row only change what is on the page (a round
trip that draws the rows again, unsaved and as typed); with JavaScript, moving happens
in the page (static/js/nurture-editor.js). "Save" hands everything to
``sequence_create`` / ``sequence_update``, which check it (merge-field templates too)
before writing anything; their errors are put beside the inputs they are about.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, Prefetch, Q
from django.http import HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.views import View

from capture.models import ActivityKind, LandingPage, Stage
from leadhub.ratelimit import rate_limit_hit
from nurture import schedule
from nurture.forms import (
    STEPS_PREFIX,
    TRIGGER_INPUTS,
    TRIGGERS_PREFIX,
    SequenceSettingsForm,
    StepFormSet,
    TriggerFormSet,
    add_service_errors,
    new_step,
    raw_rows,
    step_initial,
    trigger_initial,
)
from nurture.merge import MERGE_FIELDS
from nurture.models import (
    EmailMessage,
    Enrollment,
    EnrollmentState,
    MessageStatus,
    Sequence,
    SequenceStatus,
    Trigger,
    TriggerType,
)
from nurture.services import sequence_create, sequence_delete, sequence_update
from nurture.services.sequences import MAX_STEPS, MAX_TRIGGERS, step_problems, trigger_problems
from nurture.services.ui_actions import step_preview, step_test_send
from nurture.views.common import ManageNurtureAccess, NurtureAccess, pick_lead

SEQUENCES_PER_PAGE = 25
# "Send a test to me": enough to iterate on a step, not enough to spam anyone.
TEST_SEND_RATE = "5/minute"
SQL_OR_LATER = [Stage.SQL, Stage.OPPORTUNITY, Stage.CUSTOMER]


def _rate(part: int, whole: int) -> str | None:
    return None if not whole else f"{100 * part / whole:.1f} %"


def describe_trigger(trigger: Trigger, pages: dict[int, str]) -> str:
    params = trigger.params or {}
    if trigger.type == TriggerType.FORM_SUBMITTED:
        return f"Form “{trigger.form.name}” submitted" if trigger.form else "Any form submitted"
    if trigger.type == TriggerType.LEAD_MAGNET:
        page = params.get("page")
        return (f"Lead magnet on “{pages.get(page, f'page {page}')}”" if page
                else "Any lead magnet downloaded")
    if trigger.type == TriggerType.CUSTOM_EVENT:
        return f"Event “{params.get('event', '')}”"
    if trigger.type == TriggerType.GRADE_REACHED:
        return f"Grade {params.get('grade')} reached"
    if trigger.type == TriggerType.SCORE_REACHED:
        return f"Score {params.get('score')} reached"
    if trigger.type == TriggerType.STAGE_ENTERED:
        return f"Enters stage {Stage(params['stage']).label}" if params.get(
            "stage") in Stage.values else "Enters a stage"
    if trigger.type == TriggerType.SEGMENT:
        return (f"Comes to match segment “{trigger.segment.name}”" if trigger.segment
                else "Comes to match a segment")
    if trigger.type == TriggerType.MQL_REJECTED:
        return "MQL rejected (back to Lead)"
    return trigger.get_type_display()


def with_figures(sequences: list[Sequence]) -> list[Sequence]:
    """Each sequence's trigger texts and figures, in a fixed number of grouped queries
    whatever the number of sequences."""
    ids = [s.pk for s in sequences]
    if not ids:
        return sequences
    enrollments = {
        row["sequence_id"]: row for row in
        Enrollment.objects.filter(sequence_id__in=ids).order_by().values("sequence_id")
        .annotate(
            enrolled=Count("id"),
            active=Count("id", filter=Q(state=EnrollmentState.ACTIVE)),
            completed=Count("id", filter=Q(state=EnrollmentState.COMPLETED)),
            exited=Count("id", filter=Q(state=EnrollmentState.EXITED)),
            became_sql=Count("lead", distinct=True, filter=Q(lead__stage__in=SQL_OR_LATER)),
        )
    }
    sends = {
        row["sequence_id"]: row for row in
        EmailMessage.objects.filter(sequence_id__in=ids,
                                    status__in=[MessageStatus.SENT, MessageStatus.FAILED])
        .order_by().values("sequence_id").annotate(
            sent=Count("id", filter=Q(status=MessageStatus.SENT)),
            failed=Count("id", filter=Q(status=MessageStatus.FAILED)),
            opened=Count("id", filter=Q(status=MessageStatus.SENT, opened_at__isnull=False)),
            clicked=Count("id", filter=Q(status=MessageStatus.SENT, clicked_at__isnull=False)),
        )
    }
    page_ids = {t.params.get("page") for s in sequences for t in s.triggers.all()
                if t.type == TriggerType.LEAD_MAGNET and isinstance(t.params, dict)}
    pages = dict(LandingPage.objects.filter(pk__in=[p for p in page_ids if isinstance(p, int)])
                 .values_list("pk", "title")) if page_ids else {}
    for sequence in sequences:
        e = enrollments.get(sequence.pk, {})
        m = sends.get(sequence.pk, {})
        sent = m.get("sent", 0)
        sequence.figures = {
            "enrolled": e.get("enrolled", 0), "active": e.get("active", 0),
            "completed": e.get("completed", 0), "exited": e.get("exited", 0),
            "became_sql": e.get("became_sql", 0), "sent": sent, "failed": m.get("failed", 0),
            "open_rate": _rate(m.get("opened", 0), sent),
            "click_rate": _rate(m.get("clicked", 0), sent),
        }
        sequence.trigger_texts = [describe_trigger(t, pages) for t in sequence.triggers.all()]
    return sequences


# --- The list -------------------------------------------------------------------------------


class SequenceListView(NurtureAccess, View):
    def get(self, request):
        q = request.GET.get("q", "").strip()[:200]
        sequences = Sequence.objects.prefetch_related(
            Prefetch("triggers", queryset=Trigger.objects.select_related("form", "segment")),
        ).annotate(step_count=Count("steps")).order_by("-created_at", "-id")
        if q:
            sequences = sequences.filter(name__icontains=q)
        paginator = Paginator(sequences, SEQUENCES_PER_PAGE)
        page = paginator.get_page(request.GET.get("page"))
        with_figures(list(page.object_list))
        return render(request, "nurture/list.html", {
            "page_obj": page,
            "page_range": paginator.get_elided_page_range(page.number, on_each_side=2),
            "q": q,
            "can_manage": self.can_manage,
        })


class SequenceStatusView(ManageNurtureAccess, View):
    """The list's switch: activate or pause a sequence."""

    def post(self, request, pk: int):
        sequence = self.get_sequence(pk)
        wanted = request.POST.get("status")
        if wanted not in (SequenceStatus.ACTIVE, SequenceStatus.PAUSED):
            return HttpResponseBadRequest("Choose active or paused.")
        try:
            sequence_update(sequence=sequence, status=wanted)
        except ValidationError as exc:
            messages.error(request, f"“{sequence.name}” was not changed: "
                                    f"{' '.join(exc.messages)}")
        else:
            messages.success(request, f"“{sequence.name}” is now {wanted}.")
        return redirect(reverse("nurture:index") + f"#sequence-{sequence.pk}")


class SequenceDeleteView(ManageNurtureAccess, View):
    def get(self, request, pk: int):
        sequence = self.get_sequence(pk)
        with_figures([sequence])
        return render(request, "nurture/confirm_delete.html", {"sequence": sequence})

    def post(self, request, pk: int):
        sequence = self.get_sequence(pk)
        name = sequence.name
        sequence_delete(sequence=sequence)
        messages.success(request, f"Deleted “{name}”.")
        return redirect("nurture:index")


# --- The editor -----------------------------------------------------------------------------


def _numbered(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for position, row in enumerate(rows):
        row["position"] = position
    return rows


def _error_summary(settings_form, trigger_rows, step_rows) -> tuple[list[dict], str]:
    """Every error in one list, each linked to its input, and the first input's id."""
    summary: list[dict] = []
    groups = [("", settings_form)]
    groups += [(f"Trigger {i + 1}", row) for i, row in enumerate(trigger_rows)]
    groups += [(f"Step {i + 1}", row) for i, row in enumerate(step_rows)]
    for where, form in groups:
        for name, errors in form.errors.items():
            field = form[name] if name in form.fields else None
            label = field.label if field is not None else ""
            prefix = ", ".join(part for part in (where, label) if part)
            summary += [{"text": f"{prefix}: {error}" if prefix else error,
                         "id": field.auto_id if field is not None else ""}
                        for error in errors]
    first = next((item["id"] for item in summary if item["id"]), "")
    return summary, first


def _index_of(formset, number: str) -> int | None:
    """The place in sorted order of the row drawn as ``<prefix>-<number>``."""
    rows = formset.sorted_forms()
    for at, row in enumerate(rows):
        if str(row.index) == number:
            return at
    return None


class SequenceEditorView(NurtureAccess, View):
    """GET: the editor (read-only for those who may not change nurture). POST
    ``_action``: "save" (default); "add_step", "add_trigger", "remove_step:<n>",
    "remove_trigger:<n>", "move_step:<n>:up|down" (the page again, unsaved);
    "preview:<n>[:<lead id>]" and "test:<n>" (the step as typed; a fragment for htmx).
    Rows are numbered as in the posted formsets."""

    sequence: Sequence | None = None

    def load(self, pk: int | None) -> None:
        self.sequence = self.get_sequence(pk) if pk is not None else None

    def get(self, request, pk: int | None = None):
        self.load(pk)
        if self.sequence is None:
            self.require_manage()
            settings_form = SequenceSettingsForm.new()
            triggers = TriggerFormSet(prefix=TRIGGERS_PREFIX, initial=[])
            steps = StepFormSet(prefix=STEPS_PREFIX, initial=_numbered([new_step(True)]))
        else:
            seq = self.sequence
            settings_form = SequenceSettingsForm.for_sequence(seq)
            triggers = TriggerFormSet(prefix=TRIGGERS_PREFIX, initial=_numbered(
                [trigger_initial(t) for t in seq.triggers.all()]))
            steps = StepFormSet(prefix=STEPS_PREFIX, initial=_numbered(
                [step_initial(s) for s in seq.steps.order_by("position")]))
        return self.show(settings_form, triggers, steps)

    def post(self, request, pk: int | None = None):
        self.require_manage()
        self.load(pk)
        settings_form = SequenceSettingsForm(request.POST)
        triggers = TriggerFormSet(request.POST, prefix=TRIGGERS_PREFIX)
        steps = StepFormSet(request.POST, prefix=STEPS_PREFIX)
        if not (triggers.management_form.is_valid() and steps.management_form.is_valid()):
            return HttpResponseBadRequest("The editor's form was incomplete; reload the page.")
        action = request.POST.get("_action", "save")
        if action == "save":
            return self.save(settings_form, triggers, steps)
        kind, _, arg = action.partition(":")
        if kind in ("preview", "test"):
            return self.preview(settings_form, triggers, steps, kind, arg)
        return self.rearrange(settings_form, triggers, steps, kind, arg)

    # Saving ---------------------------------------------------------------------------------

    def save(self, settings_form, triggers, steps):
        trigger_rows, step_rows = triggers.sorted_forms(), steps.sorted_forms()
        valid = [settings_form.is_valid(), triggers.is_valid(), steps.is_valid()]
        problems: list[str] = []
        if all(valid):
            values = {**settings_form.cleaned_data,
                      "triggers": [row.spec() for row in trigger_rows],
                      "steps": [row.spec() for row in step_rows]}
            try:
                if self.sequence is None:
                    sequence = sequence_create(**values)
                else:
                    sequence = sequence_update(sequence=self.sequence, **values)
            except ValidationError as exc:
                problems = add_service_errors(settings_form, trigger_rows, step_rows,
                                              triggers, steps, exc)
            else:
                messages.success(self.request, f"Saved “{sequence.name}”.")
                return redirect("nurture:edit", pk=sequence.pk)
        else:
            # Show every problem at once: also the templates and triggers of the rows
            # whose shape was right.
            for row in step_rows:
                spec = {name: row[name].value() or "" for name in ("subject", "preheader",
                                                                    "body")}
                for field, errors in step_problems(spec).items():
                    if field in spec and field not in row.errors:
                        row.add_error(field, errors)
            for row in trigger_rows:
                if not row.errors:
                    for field, errors in trigger_problems(row.spec())[0].items():
                        row.add_error(field if field in row.fields else None, errors)
        summary, focus = _error_summary(settings_form, trigger_rows, step_rows)
        return self.show(settings_form, triggers, steps, trigger_rows=trigger_rows,
                         step_rows=step_rows, problems=problems, failed=True, status=400,
                         error_summary=summary, focus=focus)

    # Rearranging ----------------------------------------------------------------------------

    def rearrange(self, settings_form, triggers, steps, kind: str, arg: str):
        trigger_values = raw_rows(triggers.sorted_forms())
        step_values = raw_rows(steps.sorted_forms())
        focus = ""
        if kind == "add_step" and len(step_values) < MAX_STEPS:
            step_values.append(new_step(not step_values))
            focus = f"step-{len(step_values) - 1}"
        elif kind == "add_trigger" and len(trigger_values) < MAX_TRIGGERS:
            trigger_values.append({"type": TriggerType.FORM_SUBMITTED})
            focus = f"trigger-{len(trigger_values) - 1}"
        elif kind in ("remove_step", "remove_trigger"):
            formset, values = ((steps, step_values) if kind == "remove_step"
                               else (triggers, trigger_values))
            at = _index_of(formset, arg)
            if at is not None:
                del values[at]
                focus = "add-step" if kind == "remove_step" else "add-trigger"
        elif kind == "move_step":
            number, _, direction = arg.partition(":")
            at = _index_of(steps, number)
            if at is not None:
                to = at - 1 if direction == "up" else at + 1
                if 0 <= to < len(step_values):
                    step_values[at], step_values[to] = step_values[to], step_values[at]
                    at = to
                focus = f"move-{at}-{direction}"
        else:
            return HttpResponseBadRequest("Unknown action.")
        triggers = TriggerFormSet(prefix=TRIGGERS_PREFIX, initial=_numbered(trigger_values))
        steps = StepFormSet(prefix=STEPS_PREFIX, initial=_numbered(step_values))
        unsaved = SequenceSettingsForm(initial={name: settings_form[name].value()
                                                for name in settings_form.fields})
        response = self.show(unsaved, triggers, steps, focus=focus)
        patch_vary_headers(response, ["HX-Request"])
        return response

    # Preview and test -----------------------------------------------------------------------

    def preview(self, settings_form, triggers, steps, kind: str, arg: str):
        number, _, lead_id = arg.partition(":")
        at = _index_of(steps, number)
        if at is None:
            return HttpResponseBadRequest("No such step.")
        row = steps.sorted_forms()[at]
        context = self.preview_context(row, at, lead_id, send=kind == "test")
        status = context.pop("status", 200)
        if self.request.htmx:
            response = render(self.request, "nurture/_preview.html", context, status=status)
        else:
            response = self.show(settings_form, triggers, steps, status=status, **context)
        patch_vary_headers(response, ["HX-Request"])
        return response

    def preview_context(self, row, at: int, lead_id: str, *, send: bool) -> dict[str, Any]:
        request = self.request
        search = (request.POST.get("preview_lead") or "").strip()[:200]
        context: dict[str, Any] = {"preview_step": at + 1, "preview_number": row.index,
                                   "preview_search": search, "preview_leads": [],
                                   "preview_problems": [], "preview": None,
                                   "preview_lead": None, "preview_sent": False,
                                   "editor_url": self.editor_url()}
        lead = None
        if search or lead_id:
            lead, found, problem = pick_lead(request.user, search, lead_id)
            if lead is None:
                context["preview_leads"] = found
                context["preview_problems"] = [problem] if problem else [
                    "Several leads match: choose one."]
                return context
        context["preview_lead"] = lead
        values = {name: row[name].value() or "" for name in ("subject", "preheader", "body")}
        try:
            if send:
                limit = rate_limit_hit(f"nurture-test-send:{request.user.pk}", TEST_SEND_RATE)
                if not limit.allowed:
                    context["preview_problems"] = [
                        f"Too many test emails; try again in {limit.retry_after} s."]
                    context["status"] = 429
                    return context
                context["preview"] = step_test_send(lead=lead, user=request.user, **values)
                context["preview_sent"] = True
            else:
                context["preview"] = step_preview(lead=lead, user=request.user, **values)
        except ValidationError as exc:
            named = []
            for field, errors in exc.message_dict.items():
                label = "" if field == "__all__" else f"{field.capitalize()}: "
                named += [f"{label}{error}" for error in errors]
            context["preview_problems"] = named
        return context

    def editor_url(self) -> str:
        if self.sequence is not None:
            return reverse("nurture:edit", args=[self.sequence.pk])
        return reverse("nurture:new")

    # Drawing --------------------------------------------------------------------------------

    def show(self, settings_form, triggers, steps, *, trigger_rows=None, step_rows=None,
             problems=(), failed=False, focus="", status: int = 200, **extra):
        can_manage = self.can_manage
        sequence = self.sequence
        context = {
            "sequence": sequence,
            "settings_form": settings_form,
            "triggers": triggers,
            "steps": steps,
            "trigger_rows": trigger_rows if trigger_rows is not None else triggers.sorted_forms(),
            "step_rows": step_rows if step_rows is not None else steps.sorted_forms(),
            "problems": problems,
            "failed": failed,
            "focus": focus,
            "can_manage": can_manage,
            "merge_fields": MERGE_FIELDS,
            "time_zone": str(schedule.account_zone()),
            "activity_kinds": ActivityKind.choices,
            "trigger_inputs": {str(k): v for k, v in TRIGGER_INPUTS.items()},
            "max_steps": MAX_STEPS,
            "max_triggers": MAX_TRIGGERS,
            "editor_url": self.editor_url(),
            **extra,
        }
        return render(self.request, "nurture/editor.html", context, status=status)

