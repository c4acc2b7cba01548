"""capture's write services, one module per area. Callers import from here."""

from capture.services.bulk import activities_record_bulk
from capture.services.forms import (
    form_archive,
    form_create,
    form_delete,
    form_duplicate,
    form_publish,
    form_set_fields,
    form_status_set,
    form_unpublish,
    form_update,
)
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
from capture.services.optin import (
    awaiting_confirmation_q,
    lead_awaiting_confirmation,
    lead_confirm,
)
from capture.services.segments import segment_create, segment_delete, segment_rename
from capture.services.tracking import (
    event_record,
    page_view_record,
    tracking_site_create,
    tracking_site_delete,
    tracking_site_update,
    visitor_link,
    visitor_sign,
    visitor_unsign,
)

__all__ = [
    "DUPLICATE_EMAIL_MESSAGE",
    "EDITABLE_FIELDS",
    "activities_record_bulk",
    "activity_record",
    "attributes_problem",
    "awaiting_confirmation_q",
    "event_record",
    "form_archive",
    "form_create",
    "form_delete",
    "form_duplicate",
    "form_publish",
    "form_set_fields",
    "form_status_set",
    "form_unpublish",
    "form_update",
    "lead_awaiting_confirmation",
    "lead_confirm",
    "lead_create",
    "lead_delete",
    "lead_update",
    "page_view_record",
    "segment_create",
    "segment_delete",
    "segment_rename",
    "text_problem",
    "tracking_site_create",
    "tracking_site_delete",
    "tracking_site_update",
    "validate_attributes",
    "visitor_link",
    "visitor_sign",
    "visitor_unsign",
]
