"""Every /api/v1/ route, gathered from the apps' api modules."""

from django.urls import re_path
from rest_framework.exceptions import NotFound
from rest_framework.permissions import AllowAny
from rest_framework.views import APIView

from capture.api.events import urlpatterns as event_urls
from capture.api.forms import urlpatterns as form_urls
from nurture.api import urlpatterns as nurture_urls
from pipeline.api import urlpatterns as pipeline_urls
from scoring.api import urlpatterns as scoring_urls


class APINotFound(APIView):
    """Any other path under /api/v1/ (``/leads/abc/``, a typo): a JSON 404 like the API's
    own, instead of Django's HTML page that an API client cannot read."""

    authentication_classes = []
    permission_classes = [AllowAny]
    schema = None

    def initial(self, request, *args, **kwargs):
        # Runs before DRF looks for a handler, so every method gets the 404, not a 405.
        super().initial(request, *args, **kwargs)
        raise NotFound()


urlpatterns = [
    # POST …/forms/<key>/submissions/ is the root URLconf's first route (leadhub/urls.py).
    *form_urls,
    *event_urls,
    *scoring_urls,
    *pipeline_urls,
    *nurture_urls,
    # Keep last. Only paths ending in a slash, so CommonMiddleware still redirects
    # /api/v1/leads to /api/v1/leads/ (a slash-less path resolving here would not be).
    re_path(r"^[\s\S]*/\Z", APINotFound.as_view()),  # [\s\S]: newlines too
]
