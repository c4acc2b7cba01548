"""Every /api/v1/ route, gathered from the apps' api modules."""

from pipeline.api import urlpatterns as pipeline_urls

urlpatterns = [*pipeline_urls]
