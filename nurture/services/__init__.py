"""nurture's write services, one module per area. Callers import from here."""

from nurture.services.dispatch import DispatchResult, dispatch_batch, dispatch_run
from nurture.services.enrollments import (
    BulkEnrollment,
    enrollment_create,
    enrollment_exit,
    enrollment_refusal,
    enrollments_create_bulk,
    is_suppressed,
    lead_exit_all,
    lead_unsubscribe,
    suppression_add,
)
from nurture.services.sequences import sequence_create, sequence_delete, sequence_update
from nurture.services.tracking import click_record, open_record

__all__ = [
    "BulkEnrollment",
    "DispatchResult",
    "click_record",
    "dispatch_batch",
    "dispatch_run",
    "enrollment_create",
    "enrollment_exit",
    "enrollment_refusal",
    "enrollments_create_bulk",
    "is_suppressed",
    "lead_exit_all",
    "lead_unsubscribe",
    "open_record",
    "sequence_create",
    "sequence_delete",
    "sequence_update",
    "suppression_add",
]
