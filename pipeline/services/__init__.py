"""The pipeline's writes: stage and owner changes (stages.py), and a lead's deal,
qualification, notes and tasks (records.py). Import from here."""

from pipeline.services.notifications import notifications_mark_read, notify  # noqa: F401
from pipeline.services.records import (  # noqa: F401
    deal_update,
    lead_assign_by_rules,
    lead_touch,
    note_add,
    note_edit,
    task_add,
    task_complete,
)
from pipeline.services.stages import (  # noqa: F401
    ALLOWED_TRANSITIONS,
    BANT_CHECKED_STAGES,
    REASON_REQUIRED,
    REASON_REQUIRED_TO,
    bant_refusal,
    lead_assign_owner,
    lead_change_stage,
    leads_promote_to_mql,
    transition_refusal,
)
