"""Stage transitions, notes and tasks are written by pipeline.services: read-only here.
The pipeline's settings, stage limits and reason lists are what admins edit here."""

from django.contrib import admin

from capture.admin import ReadOnlyAdmin
from pipeline.models import (
    AssignmentRule,
    Deal,
    Note,
    PipelineSettings,
    StageLimit,
    StageReason,
    StageTransition,
    Task,
)


@admin.register(StageTransition)
class StageTransitionAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "lead", "from_stage", "to_stage", "by_label", "reason")
    list_filter = ("to_stage", "from_stage", "by_system")
    list_select_related = ("lead", "by_user")
    raw_id_fields = ("lead", "by_user")
    search_fields = ("lead__email",)
    show_full_result_count = False

    @admin.display(description="by")
    def by_label(self, obj: StageTransition) -> str:
        return obj.by_label


@admin.register(PipelineSettings)
class PipelineSettingsAdmin(admin.ModelAdmin):
    list_display = ("__str__", "sla_minutes", "require_budget", "require_authority",
                    "require_need", "require_timing", "reps_move_others_leads")

    def has_add_permission(self, request):
        return not PipelineSettings.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(StageLimit)
class StageLimitAdmin(admin.ModelAdmin):
    list_display = ("stage", "stale_after_days")
    list_editable = ("stale_after_days",)


@admin.register(StageReason)
class StageReasonAdmin(admin.ModelAdmin):
    list_display = ("label", "kind", "position", "active")
    list_editable = ("position", "active")
    list_filter = ("kind", "active")


@admin.register(Deal)
class DealAdmin(ReadOnlyAdmin):
    list_display = ("lead", "value", "expected_close", "budget", "authority", "need", "timing")
    list_select_related = ("lead",)
    raw_id_fields = ("lead",)
    show_full_result_count = False


@admin.register(Note)
class NoteAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "lead", "author")
    list_select_related = ("lead", "author")
    show_full_result_count = False


@admin.register(Task)
class TaskAdmin(ReadOnlyAdmin):
    list_display = ("due_at", "title", "lead", "assignee", "done_at")
    list_select_related = ("lead", "assignee")
    show_full_result_count = False


@admin.register(AssignmentRule)
class AssignmentRuleAdmin(admin.ModelAdmin):
    list_display = ("name", "position", "active", "countries", "industries", "sources",
                    "min_company_size", "max_company_size", "manager", "dealt")
    list_editable = ("position", "active")
    filter_horizontal = ("members",)
