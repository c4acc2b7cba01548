from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from capture.api.submissions import FormSubmissionView
from leadhub import views

handler500 = "leadhub.views.server_error"

urlpatterns = [
    # The public submission endpoint first: websites post to it at every form
    # submission, and resolving it after every other app's routes was a twentieth of a
    # submission's CPU. (It is part of /api/v1/, whose other routes are below.)
    path("api/v1/forms/<str:form_key>/submissions/", FormSubmissionView.as_view(),
         name="form-submissions"),
    path("", views.home, name="home"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("settings/", include("leadhub.settings_urls")),
    path("", include("pipeline.urls")),  # /leads/…, /board/
    path("forms/", include("capture.urls")),
    path("", include("capture.public_urls")),  # /f/…, /p/…: public, no login
    path("", include("nurture.public_urls")),  # /e/…: email opens, clicks, unsubscribe
    path("scoring/", include("scoring.urls")),
    path("nurture/", include("nurture.urls")),
    path("api/v1/", include("leadhub.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
    path("admin/", admin.site.urls),
    path("healthz", include("leadhub.health")),  # probes: no login, no session, SELECT 1
]
