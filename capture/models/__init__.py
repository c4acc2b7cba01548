"""capture's models, one module per area; import them from here."""

from capture.models.forms import (
    DisposablePolicy,
    FieldType,
    Form,
    FormField,
    FormStatus,
    FormViews,
)
from capture.models.leads import (
    Activity,
    ActivityKind,
    Grade,
    Lead,
    LeadQuerySet,
    Stage,
    normalize_email,
)
from capture.models.pages import LandingPage, LandingPageVariant, PageStatus
from capture.models.segments import Segment
from capture.models.submissions import Channel, Submission
from capture.models.tracking import TrackingSite, Visitor, VisitorEvent

__all__ = [
    "Activity",
    "ActivityKind",
    "Channel",
    "DisposablePolicy",
    "FieldType",
    "Form",
    "FormField",
    "FormStatus",
    "FormViews",
    "Grade",
    "LandingPage",
    "LandingPageVariant",
    "Lead",
    "LeadQuerySet",
    "PageStatus",
    "Segment",
    "Stage",
    "Submission",
    "TrackingSite",
    "Visitor",
    "VisitorEvent",
    "normalize_email",
]
