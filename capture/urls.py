from django.urls import path

from capture.views import forms as views

app_name = "capture"

urlpatterns = [
    path("", views.FormListView.as_view(), name="form_list"),
]
