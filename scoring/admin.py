"""Admin for scoring: a window for superusers. Rules and settings are edited in LeadHub
(or the API), where every change is validated and queues a rescore; here they are
read-only, as are contributions and jobs, which the engine writes."""

from django.contrib import admin

from capture.admin import ReadOnlyAdmin
from scoring.models import LeadScore, RescoreJob, Rule, ScoreCategory, ScoreContribution


@admin.register(Rule)
class RuleAdmin(ReadOnlyAdmin):
    list_display = ("name", "kind", "activity_kind", "category", "points", "max_times",
                    "expires_after_days", "count", "window_days", "active", "position")
    list_filter = ("kind", "active", "category")
    search_fields = ("name",)


@admin.register(ScoreCategory)
class ScoreCategoryAdmin(ReadOnlyAdmin):
    list_display = ("name", "key", "position")


@admin.register(ScoreContribution)
class ScoreContributionAdmin(ReadOnlyAdmin):
    list_display = ("lead", "rule", "activity", "points", "occurred_at", "expires_at")
    list_select_related = ("lead", "rule")
    raw_id_fields = ("lead", "rule", "activity")
    search_fields = ("lead__email",)
    show_full_result_count = False


@admin.register(LeadScore)
class LeadScoreAdmin(ReadOnlyAdmin):
    list_display = ("lead", "fit_score", "categories", "qualified", "next_expiry")
    list_select_related = ("lead",)
    raw_id_fields = ("lead",)
    search_fields = ("lead__email",)
    show_full_result_count = False


@admin.register(RescoreJob)
class RescoreJobAdmin(ReadOnlyAdmin):
    list_display = ("id", "status", "reason", "done", "total", "scores_changed",
                    "grades_changed", "promoted", "created_at", "finished_at")
    list_filter = ("status",)
