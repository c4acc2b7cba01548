"""Admin: a window on nurture's rows for superusers; sequences are edited through the
services (API), sends are history."""

from django.contrib import admin

from nurture.models import EmailMessage, Enrollment, SendingSettings, Sequence, Suppression


@admin.register(Sequence)
class SequenceAdmin(admin.ModelAdmin):
    list_display = ["name", "status", "exit_on_stage", "created_at"]
    list_filter = ["status"]
    readonly_fields = [f.name for f in Sequence._meta.fields]


@admin.register(Enrollment)
class EnrollmentAdmin(admin.ModelAdmin):
    list_display = ["lead", "sequence", "state", "next_due_at", "enrolled_at"]
    list_filter = ["state"]
    raw_id_fields = ["lead", "sequence", "next_step"]
    readonly_fields = [f.name for f in Enrollment._meta.fields]


@admin.register(EmailMessage)
class EmailMessageAdmin(admin.ModelAdmin):
    list_display = ["to_email", "subject", "status", "sent_at", "opened_at", "clicked_at"]
    list_filter = ["status"]
    search_fields = ["to_email"]
    readonly_fields = [f.name for f in EmailMessage._meta.fields]


@admin.register(Suppression)
class SuppressionAdmin(admin.ModelAdmin):
    list_display = ["email", "reason", "created_at"]
    search_fields = ["email"]


@admin.register(SendingSettings)
class SendingSettingsAdmin(admin.ModelAdmin):
    list_display = ["from_name", "from_email", "reply_to"]
