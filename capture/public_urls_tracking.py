"""Public tracking URLs (/t.js, confirmation links): included by capture/public_urls.py.
Paths are a contract: websites embed /t.js, and sent emails hold /confirm/… links."""

from django.urls import path

from capture.views import tracking

urlpatterns = [
    path("t.js", tracking.tracking_js, name="tracking_js"),
    path("confirm/<str:token>/", tracking.confirm, name="confirm"),
]
