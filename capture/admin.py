"""Admin for leads and their timeline: a window for superusers, not a second way to change
what services own. Score and grade belong to scoring, stage and owner to pipeline; the
timeline is append-only."""

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError

from capture import services
from capture.models import Activity, ActivityKind, Lead, Segment


class LeadAdminForm(forms.ModelForm):
    # Declared to pick the scheme Django 6 will assume ("example.com" → https://).
    website = forms.URLField(max_length=500, required=False, assume_scheme="https")

    class Meta:
        model = Lead
        fields = list(services.EDITABLE_FIELDS)

    def clean_attributes(self):
        # The same rule lead_create/lead_update apply, checked here so a bad value is a
        # form error rather than a ValidationError escaping save_model as a 500.
        value = self.cleaned_data.get("attributes")
        try:
            services.validate_attributes(value)
        except ValidationError as exc:
            raise forms.ValidationError(exc.message_dict["attributes"]) from exc
        return value


@admin.register(Lead)
class LeadAdmin(admin.ModelAdmin):
    form = LeadAdminForm
    list_display = ("email", "first_name", "last_name", "company", "stage", "grade", "score",
                    "owner", "created_at")
    list_filter = ("stage", "grade")
    search_fields = ("email", "first_name", "last_name", "company")
    list_select_related = ("owner",)
    raw_id_fields = ("owner",)
    # Owned by other services, or set by LeadHub itself.
    readonly_fields = ("score", "grade", "stage", "stage_changed_at", "owner", "source",
                       "consent_at", "consent_text", "unsubscribed_at", "created_at", "updated_at",
                       "last_activity_at",
                       *[f"{touch}_{f}" for touch in ("first", "last")
                         for f in Lead.ATTRIBUTION_FIELDS])
    fieldsets = (
        (None, {"fields": ("email", "first_name", "last_name", "company", "job_title",
                           "phone", "website", "country", "industry", "company_size")}),
        ("Pipeline and scoring", {"fields": ("stage", "stage_changed_at", "owner", "score",
                                             "grade")}),
        ("Consent", {"fields": ("marketing_consent", "consent_at", "consent_text",
                                "unsubscribed_at")}),
        ("Custom attributes", {"fields": ("attributes",)}),
        ("Attribution", {"classes": ("collapse",),
                         "fields": ("source",
                                    *[f"first_{f}" for f in Lead.ATTRIBUTION_FIELDS],
                                    *[f"last_{f}" for f in Lead.ATTRIBUTION_FIELDS])}),
        ("Dates", {"fields": ("created_at", "updated_at", "last_activity_at")}),
    )
    date_hierarchy = "created_at"
    # Counting a million leads for "N total" on every page view is slow and rarely read.
    show_full_result_count = False

    def save_model(self, request, obj, form, change):
        # Through capture.services, so an edit here leaves the same lead_created /
        # lead_updated activity as one in the app or API.
        fields = {
            name: form.cleaned_data[name]
            for name in form.changed_data
            if name in services.EDITABLE_FIELDS
        }
        if change:
            lead = Lead.objects.get(pk=obj.pk)
            services.lead_update(lead=lead, actor=request.user, **fields)
        else:
            lead = services.lead_create(actor=request.user, source="admin", **fields)
            obj.pk = lead.pk
        obj.refresh_from_db()

    def delete_model(self, request, obj):
        services.lead_delete(lead=obj)


class ActivityKindFilter(admin.SimpleListFilter):
    """Kinds LeadHub records, from the enum: a DISTINCT over millions of activities to
    build the list would make every page slow."""

    title = "kind"
    parameter_name = "kind"

    def lookups(self, request, model_admin):
        return ActivityKind.choices

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(kind=self.value())
        return queryset


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Activity)
class ActivityAdmin(ReadOnlyAdmin):
    list_display = ("occurred_at", "kind", "lead", "actor", "processed_at")
    list_filter = (ActivityKindFilter,)
    list_select_related = ("lead", "actor")
    raw_id_fields = ("lead", "actor")
    search_fields = ("lead__email",)
    show_full_result_count = False


@admin.register(Segment)
class SegmentAdmin(admin.ModelAdmin):
    """Segments are saved from the leads list (where their filters are chosen and
    checked); here they can be renamed and deleted, through capture.services."""

    list_display = ("name", "created_by", "created_at", "updated_at")
    search_fields = ("name",)
    list_select_related = ("created_by",)
    fields = ("name", "params", "created_by", "created_at", "updated_at")
    readonly_fields = ("params", "created_by", "created_at", "updated_at")

    def has_add_permission(self, request):
        return False

    def save_model(self, request, obj, form, change):
        services.segment_rename(segment=Segment.objects.get(pk=obj.pk),
                                name=form.cleaned_data["name"])
        obj.refresh_from_db()

    def delete_model(self, request, obj):
        services.segment_delete(segment=obj)
