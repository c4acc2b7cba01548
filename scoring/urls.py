from django.urls import path

from scoring.views import report, rescore, rules, settings

app_name = "scoring"

urlpatterns = [
    path("", rules.RuleListView.as_view(), name="index"),
    path("rules/new/", rules.RuleEditorView.as_view(), name="rule_new"),
    path("rules/new/preview/", rules.RulePreviewView.as_view(), name="rule_new_preview"),
    path("rules/new/test/", rules.RuleTestView.as_view(), name="rule_new_test"),
    path("rules/<id:pk>/", rules.RuleEditorView.as_view(), name="rule_edit"),
    path("rules/<id:pk>/preview/", rules.RulePreviewView.as_view(), name="rule_preview"),
    path("rules/<id:pk>/test/", rules.RuleTestView.as_view(), name="rule_test"),
    path("rules/<id:pk>/active/", rules.RuleActiveView.as_view(), name="rule_active"),
    path("rules/<id:pk>/delete/", rules.RuleDeleteView.as_view(), name="rule_delete"),
    path("categories/", rules.CategoryCreateView.as_view(), name="category_create"),
    path("settings/", settings.ScoringSettingsView.as_view(), name="settings"),
    path("effectiveness/", report.EffectivenessView.as_view(), name="effectiveness"),
    path("effectiveness.csv", report.EffectivenessCsvView.as_view(), name="effectiveness_csv"),
    path("rescore/", rescore.RescoreStartView.as_view(), name="rescore"),
    path("rescore/progress/", rescore.RescoreProgressView.as_view(), name="rescore_progress"),
]
