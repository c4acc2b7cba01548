"""Public tracking URLs (/t.js, confirmation links): included by capture/public_urls.py."""

urlpatterns: list = []
