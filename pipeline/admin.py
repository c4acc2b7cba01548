"""Stage transitions are history written by pipeline.services: read-only here."""

from django.contrib import admin

from capture.admin import ReadOnlyAdmin
from pipeline.models import StageTransition


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
