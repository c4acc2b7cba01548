"""The product's URLs plus the two ceiling endpoints, which exist only under bench.settings."""

from django.urls import include, path

from bench import views

urlpatterns = [
    path("bench/json/", views.ceiling_json, name="bench-json"),
    path("bench/insert/", views.ceiling_insert, name="bench-insert"),
    path("", include("leadhub.urls")),
]
