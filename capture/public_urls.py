"""Public URLs (no login): what websites link to and post to. Paths are a contract."""

from django.urls import include, path

from capture.views import public

app_name = "capture-public"

urlpatterns = [
    path("f/<str:form_key>/", public.form_endpoint, name="form_post"),
    path("f/<str:form_key>/thanks/", public.form_thanks, name="form_thanks"),
    path("f/<str:form_key>/embed.js", public.embed_js, name="form_embed"),
    path("f/<str:form_key>/challenge/", public.form_challenge, name="form_challenge"),
    path("f/<str:form_key>/fields/", public.form_fields, name="form_fields"),
    path("p/<slug:slug>/", public.landing_page, name="landing_page"),
    path("m/<str:token>/", public.lead_magnet, name="lead_magnet"),
    path("", include("capture.public_urls_tracking")),
]
