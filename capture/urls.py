"""The Forms section of the app (/forms/…): forms, landing pages, submissions, sites."""

from django.urls import include, path

from capture.views import forms as views

app_name = "capture"

urlpatterns = [
    path("", views.FormListView.as_view(), name="form_list"),
    path("pages/", include("capture.urls_pages")),
    path("sites/", include("capture.urls_sites")),
]
