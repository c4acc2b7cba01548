"""capture's write services, one module per area. Callers import from here."""

from capture.services.leads import (
    DUPLICATE_EMAIL_MESSAGE,
    EDITABLE_FIELDS,
    activity_record,
    attributes_problem,
    lead_create,
    lead_delete,
    lead_update,
    text_problem,
    validate_attributes,
)

__all__ = [
    "DUPLICATE_EMAIL_MESSAGE",
    "EDITABLE_FIELDS",
    "activity_record",
    "attributes_problem",
    "lead_create",
    "lead_delete",
    "lead_update",
    "text_problem",
    "validate_attributes",
]
