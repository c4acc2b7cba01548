"""URLs included under the "capture" namespace (see capture/urls.py)."""

urlpatterns: list = []
