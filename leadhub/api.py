"""What every LeadHub API view shares: permissions, pagination, and how service errors
become responses. Authentication and throttling are set in settings.REST_FRAMEWORK."""

import base64
import binascii
import json
import logging
from datetime import UTC, datetime

from django.core.exceptions import FieldDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse
from rest_framework import pagination, parsers, permissions, throttling
from rest_framework.exceptions import NotFound, ParseError, ValidationError
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from leadhub.ratelimit import CACHE_ERRORS

logger = logging.getLogger(__name__)

# --- Error responses, so the schema describes every answer a client can get -------------

_DETAIL = {
    "type": "object",
    "properties": {"detail": {"type": "string"}},
    "required": ["detail"],
}
_MESSAGES = {"type": "array", "items": {"type": "string"}}
_FIELD_ERRORS = {
    "type": "object",
    "description": (
        'Messages per field, e.g. {"email": ["A lead with this email already exists."]}; '
        'per item for a list, e.g. {"kind": {"0": ["…"]}}; "non_field_errors" for the '
        'request as a whole; "detail" for unreadable JSON.'
    ),
    "additionalProperties": {
        "oneOf": [
            _MESSAGES,
            {"type": "object", "additionalProperties": _MESSAGES},
            {"type": "string"},
        ]
    },
}
BAD_REQUEST = OpenApiResponse(_FIELD_ERRORS, description="Invalid input, per field.")
UNAUTHENTICATED = OpenApiResponse(_DETAIL, description="No or invalid credentials.")
FORBIDDEN = OpenApiResponse(_DETAIL, description="Signed in, but not allowed to do this.")
NOT_FOUND = OpenApiResponse(_DETAIL, description="Not there, not visible to you, or a bad cursor.")
THROTTLED = OpenApiResponse(_DETAIL, description="Too many requests; see Retry-After.")
NOT_JSON = OpenApiResponse(_DETAIL, description="The body is not application/json.")
ERRORS_ALWAYS = {401: UNAUTHENTICATED, 403: FORBIDDEN, 429: THROTTLED}
ERRORS_WRITES = {**ERRORS_ALWAYS, 415: NOT_JSON}



class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, with JSON nested too deeply for Python's decoder answered as
    the 400 other unreadable JSON gets (DRF catches ValueError; that is RecursionError)."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise ParseError("JSON parse error - nested too deeply.") from exc


class UserRateThrottle(throttling.UserRateThrottle):
    """DRF's per-user rate limit (API_THROTTLE_RATE), failing open like
    leadhub.ratelimit: with the cache (Redis) unreachable a request is let through and
    the failure logged, instead of every API request answering 500."""

    def allow_request(self, request, view) -> bool:
        try:
            return super().allow_request(request, view)
        except CACHE_ERRORS as exc:
            logger.warning("API rate limit not checked, cache unavailable: %s", exc)
            return True


class ModelPermissions(permissions.DjangoModelPermissions):
    """Django model permissions, with reading needing the ``view`` permission too (DRF's
    default lets any authenticated user read)."""

    perms_map = {
        **permissions.DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
        "OPTIONS": ["%(app_label)s.view_%(model_name)s"],
    }


def has_capability(perm: str) -> type[permissions.BasePermission]:
    """A permission class that needs one Django permission, e.g. "leadhub.manage_users"."""

    class HasCapability(permissions.BasePermission):
        message = f"You need the “{perm}” permission for this."

        def has_permission(self, request, view) -> bool:
            return bool(request.user and request.user.has_perm(perm))

    HasCapability.__name__ = f"Has_{perm.replace('.', '_')}"
    return HasCapability


def read_write_permission(write_perm: str, message: str,
                          read_perm: str = "capture.view_lead") -> type[permissions.BasePermission]:
    """A permission class for a resource everyone who sees leads may read and only holders
    of ``write_perm`` may change (forms, rules, sequences); ``message`` explains a 403."""

    class ReadWrite(permissions.BasePermission):
        def has_permission(self, request, view) -> bool:
            user = request.user
            if not (user and user.is_authenticated and user.has_perm(read_perm)):
                return False
            return request.method in permissions.SAFE_METHODS or user.has_perm(write_perm)

    ReadWrite.message = message
    ReadWrite.__name__ = f"ReadWrite_{write_perm.replace('.', '_')}"
    return ReadWrite


def nested_errors_response(shape: str, description: str) -> OpenApiResponse:
    """The 400 of a resource with a list inside (a form's fields, a sequence's steps):
    messages per setting, and per item index and attribute; ``shape`` says how, with an
    example, for the schema's readers."""
    messages = {"type": "array", "items": {"type": "string"}}
    return OpenApiResponse(
        {
            "type": "object",
            "description": shape,
            "additionalProperties": {
                "oneOf": [messages, {"type": "object", "additionalProperties": True},
                          {"type": "string"}]
            },
        },
        description=description,
    )


class KeysetPagination(pagination.BasePagination):
    """Cursor pagination over a compound sort key such as ("-score", "-id").

    DRF's CursorPagination positions on the first sort field only and skips ties with an
    OFFSET capped at 1,000: sorting 100,000 leads by score (most of them 0) would repeat
    or lose rows past that. Here the cursor holds the whole key of the last row, and the
    next page is ``WHERE (score, id) < (s, i)`` written so the (score, id) index serves it.

    A view sets ``orderings`` ({param value: tuple of fields ending in a unique one})
    and ``default_ordering``; clients pick one with ``?ordering=``. Without them the
    order is newest first by ``created_at``.
    """

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
    cursor_query_param = "cursor"
    ordering_query_param = "ordering"
    invalid_cursor_message = "Invalid cursor."

    def paginate_queryset(self, queryset, request, view=None):
        orderings = _orderings(view)
        key = request.query_params.get(self.ordering_query_param) or _default_ordering(view)
        if key not in orderings:
            raise ValidationError(
                {self.ordering_query_param: [f"Choose one of: {', '.join(orderings)}."]}
            )
        self.request, self.ordering_key = request, key
        self.fields = orderings[key]
        self.page_size = self._page_size(request)
        direction, after = self._decode_cursor(request)
        fields = self.fields if direction == "next" else tuple(_flip(f) for f in self.fields)
        try:
            # filter() converts the cursor's values for their fields, so it is in the try.
            if after is not None:
                after = _comparable(queryset.model, fields, after)
                queryset = queryset.filter(_after(fields, after))
            rows = list(queryset.order_by(*fields)[: self.page_size + 1])
        except (ValueError, TypeError, OverflowError, DjangoValidationError) as exc:
            # A cursor edited by hand: values of the wrong type for their fields.
            raise NotFound(self.invalid_cursor_message) from exc
        has_more = len(rows) > self.page_size
        rows = rows[: self.page_size]
        if direction == "previous":
            rows.reverse()
            self.has_next, self.has_previous = after is not None, has_more
        else:
            self.has_next, self.has_previous = has_more, after is not None
        self.rows = rows
        return rows

    def _page_size(self, request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        try:
            size = int(raw)
        except ValueError:
            size = 0
        if not 1 <= size <= self.max_page_size:
            raise ValidationError(
                {self.page_size_query_param: [f"Give a number from 1 to {self.max_page_size}."]}
            )
        return size

    def _decode_cursor(self, request):
        raw = request.query_params.get(self.cursor_query_param)
        if not raw:
            return "next", None
        try:
            payload = json.loads(base64.urlsafe_b64decode(raw.encode("ascii")).decode("utf-8"))
            direction, key, values = payload["d"], payload["o"], payload["v"]
            if direction not in ("next", "previous") or key != self.ordering_key:
                raise ValueError
            if not isinstance(values, list) or len(values) != len(self.fields):
                raise ValueError
            return direction, values
        except (ValueError, KeyError, TypeError, UnicodeError, binascii.Error) as exc:
            raise NotFound(self.invalid_cursor_message) from exc

    def _encode_cursor(self, direction: str, row) -> str:
        values = [_cursor_value(getattr(row, f.lstrip("-"))) for f in self.fields]
        payload = json.dumps({"d": direction, "o": self.ordering_key, "v": values})
        return base64.urlsafe_b64encode(payload.encode("utf-8")).decode("ascii")

    def _link(self, direction: str, row) -> str:
        url = self.request.build_absolute_uri()
        url = replace_query_param(url, self.cursor_query_param, self._encode_cursor(direction, row))
        return url

    def get_next_link(self):
        return self._link("next", self.rows[-1]) if self.has_next and self.rows else None

    def get_previous_link(self):
        return self._link("previous", self.rows[0]) if self.has_previous and self.rows else None

    def get_paginated_response(self, data):
        return Response(
            {"next": self.get_next_link(), "previous": self.get_previous_link(), "results": data}
        )

    def get_paginated_response_schema(self, schema):
        link = {"type": "string", "nullable": True, "format": "uri"}
        return {
            "type": "object",
            "required": ["results"],
            "properties": {"next": link, "previous": link, "results": schema},
        }

    def get_schema_operation_parameters(self, view):
        return [
            {
                "name": self.cursor_query_param,
                "required": False,
                "in": "query",
                "description": "The pagination cursor value (from a next or previous link).",
                "schema": {"type": "string"},
            },
            {
                "name": self.page_size_query_param,
                "required": False,
                "in": "query",
                "description": f"Results per page, 1 to {self.max_page_size}.",
                "schema": {"type": "integer", "minimum": 1, "maximum": self.max_page_size},
            },
            {
                "name": self.ordering_query_param,
                "required": False,
                "in": "query",
                "description": "Sort order.",
                "schema": {"type": "string", "enum": list(_orderings(view))},
            },
        ]


DEFAULT_ORDERINGS = {"-created_at": ("-created_at", "-id")}


def _orderings(view) -> dict[str, tuple[str, ...]]:
    return getattr(view, "orderings", DEFAULT_ORDERINGS)


def _default_ordering(view) -> str:
    return getattr(view, "default_ordering", next(iter(_orderings(view))))


def _flip(field: str) -> str:
    return field[1:] if field.startswith("-") else f"-{field}"


def _cursor_value(value):
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _comparable(model, fields: tuple[str, ...], values: list) -> list:
    """The cursor's date-times as aware UTC values. Python parses offsets up to ±23:59
    (a cursor edited by hand), and Postgres answers those with an error, not rows."""
    result = []
    for field_name, value in zip(fields, values, strict=True):
        try:
            field = model._meta.get_field(field_name.lstrip("-"))
        except FieldDoesNotExist:
            field = None
        if isinstance(field, models.DateTimeField) and value is not None:
            value = field.to_python(value)
            if timezone.is_naive(value):
                value = timezone.make_aware(value, UTC)
            value = value.astimezone(UTC)
        result.append(value)
    return result


def _after(fields: tuple[str, ...], values: list) -> Q:
    """Rows strictly after ``values`` in the order ``fields``: the lexicographic
    comparison (a, b, c) > (x, y, z) as OR-ed prefixes, with a leading range on the first
    field so the database can start the index scan at the cursor instead of filtering."""
    names = [f.lstrip("-") for f in fields]
    ops = ["lt" if f.startswith("-") else "gt" for f in fields]
    condition = Q()
    for i in range(len(fields)):
        term = Q(**{f"{names[j]}": values[j] for j in range(i)})
        term &= Q(**{f"{names[i]}__{ops[i]}": values[i]})
        condition |= term
    first_bound = {f"{names[0]}__{ops[0]}e": values[0]}
    return Q(**first_bound) & condition


def exception_handler(exc, context):
    """Services raise Django's ValidationError keyed by field; answer it as DRF's 400
    with the same per-field messages, never a 500."""
    # Imported here: rest_framework.views reads these settings at import time, and this
    # module is one of them.
    from rest_framework.views import exception_handler as drf_exception_handler

    if isinstance(exc, DjangoValidationError):
        if hasattr(exc, "error_dict"):
            exc = ValidationError(
                {field: DjangoValidationError(errors).messages
                 for field, errors in exc.error_dict.items()}
            )
        else:
            exc = ValidationError({"non_field_errors": exc.messages})
    return drf_exception_handler(exc, context)
