from django.urls import path
from django.views.generic import RedirectView

app_name = "settings"

urlpatterns = [
    path("", RedirectView.as_view(url="/"), name="index"),  # replaced by the settings pages
]
