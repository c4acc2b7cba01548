from django.conf import settings
from django.db import models

from capture.models import Lead, Stage


class StageTransition(models.Model):
    """One move of a lead between lifecycle stages: the source for funnel, velocity and
    conversion figures. Written only by pipeline.services.lead_change_stage."""

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="transitions")
    from_stage = models.CharField(max_length=20, choices=Stage.choices)
    to_stage = models.CharField(max_length=20, choices=Stage.choices)
    by_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # What moved it when no person did ("scoring", "api", "import"), or how a person did.
    by_system = models.CharField(max_length=50, blank=True)
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["lead", "-created_at"], name="pipeline_tr_lead_idx"),
            models.Index(fields=["to_stage", "created_at"], name="pipeline_tr_to_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(from_stage=models.F("to_stage")),
                name="pipeline_tr_changes_stage",
            )
        ]

    def __str__(self) -> str:
        return f"{self.lead_id}: {self.from_stage} → {self.to_stage}"

    @property
    def by_label(self) -> str:
        if self.by_user_id:
            return self.by_user.display_name
        return self.by_system or "system"
