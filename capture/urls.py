"""The Forms section of the app (/forms/…): forms, landing pages, submissions, sites."""

from django.urls import include, path

from capture.views import forms as views
from capture.views import submissions

app_name = "capture"

urlpatterns = [
    path("", views.FormListView.as_view(), name="form_list"),
    path("new/", views.FormCreateView.as_view(), name="form_create"),
    path("<id:pk>/", views.FormBuilderView.as_view(), name="form_builder"),
    path("<id:pk>/preview/", views.FormPreviewView.as_view(), name="form_preview"),
    path("<id:pk>/publish/", views.FormPublishView.as_view(), name="form_publish"),
    path("<id:pk>/duplicate/", views.FormDuplicateView.as_view(), name="form_duplicate"),
    path("<id:pk>/delete/", views.FormDeleteView.as_view(), name="form_delete"),
    path("<id:pk>/submissions/", submissions.SubmissionListView.as_view(),
         name="form_submissions"),
    path("submissions/", submissions.SubmissionListView.as_view(), name="submission_list"),
    path("submissions/<id:pk>/", submissions.SubmissionDetailView.as_view(),
         name="submission_detail"),
    path("submissions/<id:pk>/not-spam/", submissions.SubmissionNotSpamView.as_view(),
         name="submission_not_spam"),
    path("pages/", include("capture.urls_pages")),
    path("sites/", include("capture.urls_sites")),
]
