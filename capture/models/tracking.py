"""Website visitors before and after they become leads (the tracking snippet, /t.js)."""

import secrets
import uuid

from django.db import models


def new_site_key() -> str:
    return secrets.token_urlsafe(12)


class TrackingSite(models.Model):
    """A website that runs the tracking snippet. Its key is public (it sits in the page);
    page views are accepted only from its allowed origins."""

    name = models.CharField(max_length=200)
    key = models.CharField(max_length=32, unique=True, default=new_site_key, editable=False)
    allowed_origins = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class Visitor(models.Model):
    """A browser, known by the random id in LeadHub's signed first-party cookie. Page
    views of a visitor nobody knows yet are kept as VisitorEvents and become the lead's
    activities when the visitor submits a form."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    lead = models.ForeignKey(
        "capture.Lead", null=True, blank=True, on_delete=models.SET_NULL, related_name="visitors"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return str(self.id)


class VisitorEvent(models.Model):
    """A page view (or event) of an anonymous visitor, waiting for them to be known."""

    visitor = models.ForeignKey(Visitor, on_delete=models.CASCADE, related_name="events")
    site = models.ForeignKey(TrackingSite, null=True, on_delete=models.SET_NULL, related_name="+")
    kind = models.CharField(max_length=64)
    data = models.JSONField(default=dict, blank=True)
    occurred_at = models.DateTimeField()

    class Meta:
        ordering = ["occurred_at", "id"]
        indexes = [models.Index(fields=["visitor", "occurred_at"], name="capture_vevent_idx")]

    def __str__(self) -> str:
        return f"{self.kind} by {self.visitor_id}"
