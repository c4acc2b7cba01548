from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone


class BenchLead(models.Model):
    """A lead-like row for the one-INSERT ceiling: a few text columns and a unique index
    on lower(email), like ``capture.Lead``'s."""

    email = models.CharField(max_length=254)
    first_name = models.CharField(max_length=150, blank=True)
    last_name = models.CharField(max_length=150, blank=True)
    company = models.CharField(max_length=200, blank=True)
    source = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(Lower("email"), name="bench_benchlead_email_lower_uniq"),
        ]

    def __str__(self) -> str:
        return self.email
