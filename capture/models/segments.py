"""Saved segments: a named, saved filter of the leads list (capture.segments reads and
checks them; capture.services.segments writes them)."""

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone


class Segment(models.Model):
    """``params`` are the leads list's filters in capture.segments.lead_filter_params'
    shape (``{"stage": ["mql"], "owner": "12"}``), "owner=me" already made a user's id:
    a segment means the same leads whoever opens it, and to a trigger with no user."""

    name = models.CharField(max_length=100)
    params = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = [Lower("name"), "id"]
        constraints = [
            # Names pick a segment from a menu: two that differ only in case would be
            # indistinguishable there.
            models.UniqueConstraint(
                Lower("name"), name="capture_segment_name_uniq",
                violation_error_message="A segment with this name exists already.",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        from capture.segments import segment_params_problems

        if problems := segment_params_problems(self.params):
            raise ValidationError({"params": problems})
