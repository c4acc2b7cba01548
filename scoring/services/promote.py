"""Promotion to MQL goes through the pipeline's stage transition, which scoring may not
import (capture ← scoring ← pipeline): settings.SCORING_MQL_PROMOTER names the function
("pipeline.services.leads_promote_to_mql"), resolved when it is called."""

from django.conf import settings
from django.utils.module_loading import import_string


def mql_promote(*, lead_ids: list[int], reason: str) -> int:
    """Ask the pipeline to move these leads (still in stage "lead") to MQL; returns how
    many it moved. No promoter configured: nobody is moved."""
    path = getattr(settings, "SCORING_MQL_PROMOTER", "")
    if not path or not lead_ids:
        return 0
    return import_string(path)(lead_ids=list(lead_ids), reason=reason)
