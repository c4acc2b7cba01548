"""The lead page's sales sections (deal, BANT, notes, tasks) and "my tasks". Plain
POST forms that redirect back to the lead page, so they work without JavaScript."""

from datetime import datetime, time

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views import View

from capture.models import Stage
from pipeline.board import ALL_STAGES, CardMaker, move_rules
from pipeline.models import (
    BANT_ITEMS,
    Bant,
    Deal,
    Note,
    NoteKind,
    PipelineSettings,
    ReasonKind,
    StageReason,
    Task,
)
from pipeline.services import (
    ALLOWED_TRANSITIONS,
    deal_update,
    note_add,
    note_edit,
    task_add,
    task_complete,
)
from pipeline.views.board import PIPELINE_PERMISSION
from pipeline.views.leads import LeadsAccess


class DealForm(forms.ModelForm):
    class Meta:
        model = Deal
        fields = ["value", "expected_close"]
        widgets = {"expected_close": forms.DateInput(attrs={"type": "date"})}


class BantForm(forms.ModelForm):
    class Meta:
        model = Deal
        fields = [f for item in BANT_ITEMS for f in (item, f"{item}_note")]


class NoteForm(forms.Form):
    kind = forms.ChoiceField(choices=NoteKind.choices, initial=NoteKind.NOTE, required=False)
    text = forms.CharField(max_length=10_000, widget=forms.Textarea(attrs={"rows": 3}))


class TaskForm(forms.Form):
    title = forms.CharField(max_length=300)
    due_date = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    due_time = forms.TimeField(required=False, widget=forms.TimeInput(attrs={"type": "time"}))

    def due_at(self) -> datetime:
        moment = datetime.combine(self.cleaned_data["due_date"],
                                  self.cleaned_data["due_time"] or time(17, 0))
        return timezone.make_aware(moment)


def _deal(lead) -> Deal:
    try:
        return lead.deal
    except Deal.DoesNotExist:
        return Deal(lead=lead)


def lead_page_context(request, lead) -> dict:
    """What the lead page adds for sales: move control, deal, BANT, notes, tasks."""
    deal = _deal(lead)
    can_work = request.user.has_perm(PIPELINE_PERMISSION)
    settings_row = PipelineSettings.load()
    card = CardMaker().card(lead)
    reasons = list(StageReason.objects.filter(active=True).values_list("kind", "label"))
    return {
        "can_work": can_work,
        "deal": deal,
        "deal_form": DealForm(instance=deal, prefix="deal"),
        "bant_rows": [
            {"item": item, "label": item.capitalize(), "value": getattr(deal, item),
             "note": getattr(deal, f"{item}_note"),
             "required": item in settings_row.required_bant}
            for item in BANT_ITEMS
        ],
        "bant_choices": Bant.choices,
        "move_options": [(s, Stage(s).label) for s in ALL_STAGES
                         if s in ALLOWED_TRANSITIONS[lead.stage]],
        "move_reasons": [label for kind, label in reasons],
        "reject_reasons": [label for kind, label in reasons if kind == ReasonKind.REJECT],
        "disqualify_reasons": [label for kind, label in reasons if kind == ReasonKind.DISQUALIFY],
        "move_rules": move_rules(),
        "sla_breach": card.sla_breach,
        "stale": card.stale,
        "notes": list(lead.notes.select_related("author")[:50]),
        "note_form": NoteForm(prefix="note"),
        "note_kinds": NoteKind.choices,
        "tasks": list(lead.tasks.select_related("assignee").order_by("done_at", "due_at")[:50]),
        "task_form": TaskForm(prefix="task"),
        "now": timezone.now(),
    }


class LeadWorkView(LeadsAccess, View):
    """Writes on the lead page: need work_pipeline (sales reps and admins)."""

    permission_required = ("capture.view_lead", PIPELINE_PERMISSION)

    def back(self, lead, anchor: str = ""):
        response = redirect("pipeline:lead_detail", pk=lead.pk)
        response["Location"] += f"#{anchor}" if anchor else ""
        return response

    def form_errors(self, form) -> None:
        for field, errors in form.errors.items():
            label = form.fields[field].label if field in form.fields else ""
            for error in errors:
                messages.error(self.request, f"{label}: {error}" if label else error)

    def service_errors(self, exc: ValidationError) -> None:
        for message in exc.messages:
            messages.error(self.request, message)


class LeadDealView(LeadWorkView):
    def post(self, request, pk: int):
        lead = self.get_lead(pk)
        form = DealForm(request.POST, instance=Deal(lead=lead), prefix="deal")
        if not form.is_valid():
            self.form_errors(form)
        else:
            try:
                deal_update(lead=lead, actor=request.user, **form.cleaned_data)
                messages.success(request, "Deal saved.")
            except ValidationError as exc:
                self.service_errors(exc)
        return self.back(lead, "deal")


class LeadBantView(LeadWorkView):
    def post(self, request, pk: int):
        lead = self.get_lead(pk)
        form = BantForm(request.POST, instance=Deal(lead=lead))
        if not form.is_valid():
            self.form_errors(form)
        else:
            try:
                deal_update(lead=lead, actor=request.user, **form.cleaned_data)
                messages.success(request, "Qualification saved.")
            except ValidationError as exc:
                self.service_errors(exc)
        return self.back(lead, "bant")


class LeadNoteCreateView(LeadWorkView):
    def post(self, request, pk: int):
        lead = self.get_lead(pk)
        form = NoteForm(request.POST, prefix="note")
        if form.is_valid():
            try:
                kind = form.cleaned_data["kind"] or NoteKind.NOTE
                note_add(lead=lead, author=request.user, text=form.cleaned_data["text"],
                         kind=kind)
                messages.success(request, "Note added." if kind == NoteKind.NOTE
                                 else f"{NoteKind(kind).label} logged.")
            except ValidationError as exc:
                self.service_errors(exc)
        else:
            self.form_errors(form)
        return self.back(lead, "notes")


class LeadNoteUpdateView(LeadWorkView):
    def post(self, request, pk: int, note_id: int):
        lead = self.get_lead(pk)
        note = get_object_or_404(Note, pk=note_id, lead=lead)
        if note.author_id != request.user.pk:
            raise PermissionDenied("Only the note's author may edit it.")
        form = NoteForm(request.POST, prefix=f"note-{note.pk}")
        if form.is_valid():
            try:
                note_edit(note=note, editor=request.user, text=form.cleaned_data["text"])
                messages.success(request, "Note saved.")
            except ValidationError as exc:
                self.service_errors(exc)
        else:
            self.form_errors(form)
        return self.back(lead, "notes")


class LeadTaskCreateView(LeadWorkView):
    def post(self, request, pk: int):
        lead = self.get_lead(pk)
        form = TaskForm(request.POST, prefix="task")
        if form.is_valid():
            try:
                task_add(lead=lead, creator=request.user, title=form.cleaned_data["title"],
                         due_at=form.due_at())
                messages.success(request, "Task added.")
            except ValidationError as exc:
                self.service_errors(exc)
        else:
            self.form_errors(form)
        return self.back(lead, "tasks")


class TaskDoneView(LeadsAccess, View):
    permission_required = ("capture.view_lead", PIPELINE_PERMISSION)

    def post(self, request, task_id: int):
        task = get_object_or_404(Task.objects.select_related("lead"), pk=task_id)
        if task.assignee_id != request.user.pk and task.created_by_id != request.user.pk \
                and not request.user.has_perm("leadhub.manage_users"):
            raise PermissionDenied("Only the task's assignee or creator may complete it.")
        task_complete(task=task, actor=request.user, done=request.POST.get("done") != "0")
        if request.POST.get("next") == "tasks":
            return redirect("pipeline:my_tasks")
        return redirect("pipeline:lead_detail", pk=task.lead_id)


class MyTasksView(LeadsAccess, View):
    def get(self, request):
        now = timezone.now()
        show_done = request.GET.get("done") == "1"
        tasks = Task.objects.filter(assignee=request.user).select_related("lead")
        tasks = tasks.order_by("-done_at", "due_at") if show_done else tasks.filter(
            done_at__isnull=True).order_by("due_at", "id")
        rows = list(tasks[:200])
        return render(request, "pipeline/my_tasks.html", {
            "tasks": rows,
            "now": now,
            "show_done": show_done,
            "overdue_count": sum(1 for t in rows if t.is_overdue(now)),
        })
