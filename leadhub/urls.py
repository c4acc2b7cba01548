from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from leadhub import views

handler500 = "leadhub.views.server_error"

urlpatterns = [
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
