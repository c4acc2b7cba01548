"""Public URLs (no login): what websites link to and post to. Paths are a contract."""

from django.urls import include, path

from capture.views import public

app_name = "capture-public"

urlpatterns = [
    path("f/<str:form_key>/", public.form_endpoint, name="form_post"),
    path("f/<str:form_key>/thanks/", public.form_thanks, name="form_thanks"),
    path("", include("capture.public_urls_tracking")),
]
