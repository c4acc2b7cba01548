"""Saving, renaming and deleting segments (capture.segments: what they are and how they
are read). Errors are ValidationErrors keyed ``name`` or ``params``."""

import unicodedata
from collections.abc import Mapping

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError, Value
from django.db.models.functions import Lower

from capture.models import Segment
from capture.segments import MAX_SEGMENT_NAME, segment_params_clean

DUPLICATE_NAME = "A segment with this name exists already."


def _clean_name(name: object, *, segment: Segment | None = None) -> str:
    name = " ".join(str(name or "").split())  # one line: it is a menu entry
    if not name:
        raise ValidationError({"name": ["Give the segment a name."]})
    if len(name) > MAX_SEGMENT_NAME:
        raise ValidationError({"name": [f"At most {MAX_SEGMENT_NAME} characters."]})
    if any(unicodedata.category(char) == "Cc" for char in name):
        # NUL and friends: Postgres refuses NUL in text outright.
        raise ValidationError({"name": ["The name may not contain control characters."]})
    # Compared as the unique index compares (lower() in the database), not Python's.
    taken = Segment.objects.alias(lower=Lower("name")).filter(lower=Lower(Value(name)))
    if segment is not None:
        taken = taken.exclude(pk=segment.pk)
    if taken.exists():
        raise ValidationError({"name": [DUPLICATE_NAME]})
    return name


def _save(segment: Segment) -> Segment:
    segment.full_clean(validate_constraints=False)  # the name's uniqueness: above
    try:
        # A savepoint: a concurrent save of the same name loses on the unique index and
        # gets the same per-field error.
        with transaction.atomic():
            segment.save()
    except IntegrityError as exc:
        raise ValidationError({"name": [DUPLICATE_NAME]}) from exc
    return segment


@transaction.atomic
def segment_create(*, name: str, params: Mapping | None, created_by) -> Segment:
    """Save the leads list's filters ``params`` (a QueryDict or dict) as a segment. "owner
    = me" is stored as ``created_by``'s id; no filter at all, or one the list would
    refuse, is an error on ``params``."""
    errors: dict[str, list[str]] = {}
    clean_name = clean_params = None
    try:
        clean_name = _clean_name(name)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    try:
        clean_params = segment_params_clean(params, user=created_by)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    return _save(Segment(name=clean_name, params=clean_params, created_by=created_by))


@transaction.atomic
def segment_rename(*, segment: Segment, name: str) -> Segment:
    segment.name = _clean_name(name, segment=segment)
    return _save(segment)


@transaction.atomic
def segment_delete(*, segment: Segment) -> None:
    """Delete a segment no sequence watches (a trigger that does protects it)."""
    try:
        segment.delete()
    except ProtectedError as exc:
        count = len(exc.protected_objects)
        raise ValidationError(
            f"“{segment.name}” is watched by {count} sequence trigger{'s' * (count != 1)}; "
            "remove the trigger from its sequence first.") from exc
