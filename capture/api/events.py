"""POST /api/v1/events/ (a contract; see DESIGN.md): one path, two audiences.

- Page views from the tracking snippet (/t.js): the body names a tracking site
  (``"site": "<key>"``). No login; CORS per site; rate-limited per client address and per
  site. Answers the visitor's signed id, which the snippet keeps in its cookie.
- Custom events (and page views) from a product: no ``site``; token or session, with
  the ``capture.change_lead`` permission. The event becomes an activity on the lead,
  named by ``type``.

The audience is decided by the body, not by the credentials: a browser on a site that
shares LeadHub's domain may send LeadHub's session cookie with a page view, and that
must not turn it into an authenticated request (or a CSRF failure).
"""

import re

from django.conf import settings
from django.urls import path
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
)
from rest_framework import serializers
from rest_framework.exceptions import (
    APIException,
    ParseError,
    PermissionDenied,
    UnsupportedMediaType,
    ValidationError,
)
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from capture.models import ActivityKind, TrackingSite
from capture.public import origin_of
from capture.services import tracking
from capture.services.leads import text_problem
from leadhub.api import BAD_REQUEST, ERRORS_WRITES, JSONParser, has_capability
from leadhub.net import client_ip
from leadhub.ratelimit import rate_limit_hit

CORS_MAX_AGE = 86400
# A tracking site's key as capture.models.tracking.new_site_key makes it.
SITE_KEY = re.compile(r"[A-Za-z0-9_-]{1,32}")
MAX_URL = 2000
MAX_TITLE = 500


class PlainTextJSONParser(JSONParser):
    """JSON sent as text/plain: what the snippet sends, because a cross-site POST with
    that type is a "simple" request (no CORS preflight before every page view), and it
    is the type navigator.sendBeacon gives a string."""

    media_type = "text/plain"


class PayloadTooLarge(APIException):
    status_code = 413
    default_detail = "The body is too large."
    default_code = "too_large"


# --- Input ----------------------------------------------------------------------------------


def _text(value: str, limit: int, field: str) -> str:
    if problem := text_problem(value):
        raise ValidationError({field: [problem]})
    return value[:limit]


def _page_url(value: str, field: str = "url") -> str:
    value = _text(value.strip(), MAX_URL, field)
    if value and not origin_of(value):
        raise ValidationError({field: ["Give an http or https URL."]})
    return value


class PageViewSerializer(serializers.Serializer):
    """What /t.js sends."""

    site = serializers.CharField(max_length=32, help_text="The tracking site's public key.")
    type = serializers.CharField(default=ActivityKind.PAGE_VIEWED.value,
                                 help_text="`page_viewed` (the only type without a login).")
    url = serializers.CharField(max_length=MAX_URL, help_text="The page's address.")
    title = serializers.CharField(allow_blank=True, default="", trim_whitespace=False,
                                  help_text=f"Kept up to {MAX_TITLE} characters.")
    referrer = serializers.CharField(allow_blank=True, default="",
                                     help_text=f"Kept up to {MAX_URL} characters.")
    visitor = serializers.CharField(
        allow_blank=True, required=False, default="",
        help_text="The signed visitor id an earlier answer gave; absent on a first visit.",
    )

    def validate_type(self, value: str) -> str:
        if value != ActivityKind.PAGE_VIEWED:
            raise ValidationError(["The tracking snippet sends page views only (page_viewed); "
                                   "other events need a token and no site."])
        return value

    def validate_url(self, value: str) -> str:
        url = _page_url(value)
        if not url:
            raise ValidationError(["This field may not be blank."])
        return url

    def validate_title(self, value: str) -> str:
        return _text(" ".join(value.split()), MAX_TITLE, "title")

    def validate_referrer(self, value: str) -> str:
        # Browsers send what they send (an app's custom scheme, a stripped referrer);
        # a referrer that is not a web address is dropped, not refused.
        value = _text(value.strip(), MAX_URL, "referrer")
        return value if origin_of(value) else ""


class CustomEventSerializer(serializers.Serializer):
    """What a product sends, with a token (or a session)."""

    type = serializers.CharField(
        max_length=64,
        help_text="The activity kind to record: `page_viewed` or your own event name "
        "(letters, digits, `_`, `-`; starting with a letter; not one of LeadHub's own kinds).",
    )
    lead = serializers.IntegerField(required=False, min_value=1, max_value=2**63 - 1,
                                    help_text="The lead's id (or give `email`).")
    email = serializers.EmailField(required=False, max_length=254,
                                   help_text="The lead's email (or give `lead`).")
    create_lead = serializers.BooleanField(
        default=False,
        help_text="With `email`: create the lead (source “api”) if there is none. "
        "Otherwise an unknown email is a 400 and nothing is stored.",
    )
    url = serializers.CharField(required=False, allow_blank=True, default="",
                                max_length=MAX_URL)
    title = serializers.CharField(required=False, allow_blank=True, default="",
                                  help_text="For `page_viewed`.")
    referrer = serializers.CharField(required=False, allow_blank=True, default="",
                                     help_text="For `page_viewed`.")
    properties = serializers.DictField(
        required=False, default=dict,
        help_text=f"Name → text, number, true/false or null; at most "
        f"{tracking.MAX_PROPERTIES} names.",
    )
    occurred_at = serializers.DateTimeField(
        required=False, allow_null=True, default=None,
        help_text="When it happened (ISO 8601; default now). At most a few minutes ahead.",
    )

    def validate_type(self, value: str) -> str:
        if problem := tracking.event_type_problem(value):
            raise ValidationError([problem])
        return value

    def validate_url(self, value: str) -> str:
        return _page_url(value)

    def validate_title(self, value: str) -> str:
        return _text(" ".join(value.split()), MAX_TITLE, "title")

    def validate_referrer(self, value: str) -> str:
        return _page_url(value, "referrer")

    def validate_properties(self, value):
        if problem := tracking.properties_problem(value):
            raise ValidationError([problem])
        return value

    def validate_occurred_at(self, value):
        if value is not None and (problem := tracking.occurred_at_problem(value)):
            raise ValidationError([problem])
        return value

    def validate(self, attrs):
        has_lead, has_email = attrs.get("lead") is not None, bool(attrs.get("email"))
        if has_lead == has_email:
            message = ("Give the lead's id or its email, not both." if has_lead
                       else "Give the lead's id (lead) or its email (email).")
            raise ValidationError({"lead": [message]})
        return attrs


# --- Output (for the schema) -------------------------------------------------------------


class VisitorSerializer(serializers.Serializer):
    visitor = serializers.CharField(help_text="The visitor's signed id: keep it and send it "
                                    "with the next page views.")


class EventCreatedSerializer(serializers.Serializer):
    activity = serializers.IntegerField(help_text="The recorded activity's id.")
    lead = serializers.IntegerField()
    kind = serializers.CharField()
    lead_created = serializers.BooleanField()


_DETAIL = {"type": "object", "properties": {"detail": {"type": "string"}},
           "required": ["detail"]}


# --- The view ---------------------------------------------------------------------------------


class EventView(APIView):
    parser_classes = [JSONParser, PlainTextJSONParser]
    permission_classes = [IsAuthenticated, has_capability("capture.change_lead")]
    public = False
    _unreadable: APIException | None = None

    def initial(self, request, *args, **kwargs):
        # Before DRF authenticates: the body decides the audience (see the module text).
        if _too_large(request):
            raise PayloadTooLarge(f"The body is larger than {settings.EVENT_MAX_BODY_BYTES} "
                                  "bytes.")
        self.public = self._is_page_view(request)
        if self.public:
            request.authenticators = ()  # anonymous: no session, so no CSRF check either
        super().initial(request, *args, **kwargs)

    def _is_page_view(self, request) -> bool:
        if request.method == "OPTIONS":
            return True
        if request.method != "POST":
            return False
        try:
            data = request.data
        except (ParseError, UnsupportedMediaType) as exc:
            # Answered after authentication: an anonymous client gets its 401 first.
            self._unreadable = exc
            return False
        return isinstance(data, dict) and "site" in data

    def get_permissions(self):
        return [AllowAny()] if self.public else super().get_permissions()

    def get_throttles(self):
        # Page views have their own per-address and per-site limits.
        return [] if self.public else super().get_throttles()

    def get_renderers(self):
        return [JSONRenderer()] if self.public else super().get_renderers()

    # -- CORS preflight --

    @extend_schema(exclude=True)
    def options(self, request, *args, **kwargs):
        """The snippet's posts need no preflight (text/plain); a page that posts JSON
        does. A preflight names no site, so any site's allowed origin passes it (the
        post itself is then checked against its own site)."""
        origin = origin_of(request.headers.get("Origin") or "")
        key = request.query_params.get("site", "")
        sites = TrackingSite.objects.filter(key=key) if key else TrackingSite.objects.all()
        allowed = bool(origin) and any(
            origin in {origin_of(o) for o in site.allowed_origins}
            for site in sites.only("allowed_origins").iterator()
        )
        if not allowed:
            return Response({"detail": "This origin may not send events."}, status=403)
        return _cors(Response(status=204), request.headers.get("Origin"))

    # -- POST --

    @extend_schema(
        summary="Record a page view (tracking snippet) or a custom event (your product)",
        description=(
            "**Page views from the tracking snippet** carry `site` (the site's public key) "
            "and need no login: browsers may send them only from the site's allowed origins "
            "(CORS; `text/plain` bodies holding JSON are accepted, so no preflight is "
            "needed). The answer is the visitor's signed id; send it back as `visitor` "
            "with later page views. Page views of a visitor not yet known as a lead are "
            "kept, and become the lead's activities when the visitor submits a form. "
            "Rate-limited per client address (429 with Retry-After).\n\n"
            "**Custom events from a product** carry no `site` and need a token (or a "
            "session) with permission to edit leads. The lead is given by `lead` (id) or "
            "`email`; an unknown email is refused unless `create_lead` is true. The event "
            "is recorded as an activity whose kind is `type`, and scored like any other."
        ),
        # JSON only here: the snippet's text/plain bodies hold the same JSON.
        request={"application/json": PolymorphicProxySerializer(
            component_name="EventIn",
            serializers=[PageViewSerializer, CustomEventSerializer],
            resource_type_field_name=None,
        )},
        # Page views need no credentials; custom events need a token or a session.
        auth=[{"tokenAuth": []}, {"cookieAuth": []}, {}],
        responses={
            201: PolymorphicProxySerializer(
                component_name="EventOut",
                serializers=[VisitorSerializer, EventCreatedSerializer],
                resource_type_field_name=None,
            ),
            400: BAD_REQUEST,
            404: OpenApiResponse(_DETAIL, description="No tracking site has this key."),
            413: OpenApiResponse(_DETAIL, description="The body is too large."),
            **ERRORS_WRITES,
        },
        examples=[
            OpenApiExample("Page view (tracking snippet)", request_only=True, value={
                "site": "k3y0fTh3S1te", "type": "page_viewed",
                "url": "https://www.example.com/pricing", "title": "Pricing",
                "referrer": "https://www.google.com/",
            }),
            OpenApiExample("Custom event (product)", request_only=True, value={
                "type": "trial_started", "email": "ann@example.com",
                "properties": {"plan": "pro", "seats": 5},
                "occurred_at": "2026-01-15T10:30:00Z",
            }),
        ],
    )
    def post(self, request, *args, **kwargs):
        if self.public:
            return self._page_view(request)
        if self._unreadable is not None:
            raise self._unreadable
        return self._custom_event(request)

    def _page_view(self, request) -> Response:
        origin = request.headers.get("Origin")
        data = PageViewSerializer(data=request.data)
        site_key = request.data.get("site")
        # Keys are secrets.token_urlsafe: anything else (a NUL byte, which Postgres
        # refuses in a text parameter, included) is no site's key, not a query.
        site = TrackingSite.objects.filter(key=site_key).first() if isinstance(
            site_key, str) and SITE_KEY.fullmatch(site_key) else None
        if site is None:
            return Response({"detail": "No tracking site has this key."}, status=404)
        if not tracking.site_origin_allowed(site, origin):
            return Response({"detail": "This origin may not send events for this site."},
                            status=403)
        throttled = _throttle(request, site)
        if throttled:
            response = Response({"detail": "Too many events; retry later."}, status=429)
            response["Retry-After"] = str(throttled)
            return _cors(response, origin)
        if not data.is_valid():
            return _cors(Response(data.errors, status=400), origin)
        values = data.validated_data
        outcome = tracking.page_view_record(
            site=site, visitor=values["visitor"], url=values["url"],
            title=values["title"], referrer=values["referrer"],
        )
        return _cors(Response({"visitor": outcome.visitor}, status=201), origin)

    def _custom_event(self, request) -> Response:
        if not isinstance(request.data, dict):
            raise ValidationError({"non_field_errors": ["Send a JSON object."]})
        data = CustomEventSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        user = request.user
        if values["create_lead"] and values.get("email") and not user.has_perm(
                "capture.add_lead"):
            raise PermissionDenied("Creating leads needs permission to add leads.")
        try:
            lead, created = tracking.lead_for_event(
                user=user, lead_id=values.get("lead"), email=values.get("email", ""),
                create=values["create_lead"],
            )
        except tracking.LeadNotFound as exc:
            raise ValidationError({exc.field: [exc.message]}) from exc
        activity = tracking.event_record(
            lead=lead, kind=values["type"], actor=user, url=values["url"],
            properties=values["properties"], occurred_at=values["occurred_at"],
            title=values["title"], referrer=values["referrer"],
        )
        return Response(
            {"activity": activity.pk, "lead": lead.pk, "kind": activity.kind,
             "lead_created": created},
            status=201,
        )


def _too_large(request) -> bool:
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return True
    return length > settings.EVENT_MAX_BODY_BYTES


def _throttle(request, site: TrackingSite) -> int | None:
    """Seconds to wait, or None. Per client address (as seen through trusted proxies)
    and per site."""
    ip = client_ip(request) or "unknown"
    for key, rate in ((f"event-ip:{ip}", settings.EVENT_RATE_PER_IP),
                      (f"event-site:{site.pk}", settings.EVENT_RATE_PER_SITE)):
        result = rate_limit_hit(key, rate)
        if not result.allowed:
            return result.retry_after
    return None


def _cors(response: Response, origin: str | None) -> Response:
    """Headers for an origin already checked against the site's allowed origins."""
    if origin:
        response["Access-Control-Allow-Origin"] = origin
        response["Access-Control-Allow-Methods"] = "POST, OPTIONS"
        response["Access-Control-Allow-Headers"] = "Content-Type"
        response["Access-Control-Max-Age"] = str(CORS_MAX_AGE)
    response["Vary"] = "Origin"
    return response


urlpatterns = [
    path("events/", EventView.as_view(), name="events"),
]
