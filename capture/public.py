"""What every public form endpoint does before the submission service: find the live
form, check the origin, the body size and the rate limits. Small and paranoid; shared by
the JSON API (capture.api.submissions) and the HTML post (capture.views.public)."""

from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.db.models import Prefetch

from capture.models import Form, FormField, FormStatus
from leadhub.net import client_ip
from leadhub.ratelimit import rate_limit_hit


def live_form(key: str) -> Form | None:
    """The live form with this key and its fields (two queries), or None: unknown, draft
    and archived forms all look the same from outside."""
    if not key or len(key) > 32:
        return None
    return (
        Form.objects.filter(key=key, status=FormStatus.LIVE)
        .prefetch_related(Prefetch("fields", queryset=FormField.objects.order_by("position", "id")))
        .first()
    )


def origin_of(url: str) -> str:
    """scheme://host[:port] of a URL, lower-cased; "" if it has none."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return ""
    port = f":{parts.port}" if parts.port and parts.port not in (80, 443) else ""
    return f"{parts.scheme}://{parts.hostname}{port}".lower()


def own_origin(request) -> str:
    return origin_of(request.build_absolute_uri("/"))


def origin_allowed(request, form: Form) -> bool:
    """Browsers send Origin with every cross-site POST; a post without one comes from a
    server, or from LeadHub's own pages, and is judged by the other defences."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    origin = origin_of(origin)
    allowed = {origin_of(o) for o in form.allowed_origins}
    return bool(origin) and (origin in allowed or origin in (own_origin(request),
                                                                origin_of(settings.PUBLIC_URL)))


def body_too_large(request) -> bool:
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return True
    return length > settings.FORM_MAX_BODY_BYTES


@dataclass(frozen=True)
class Throttled:
    retry_after: int


def throttle(request, form: Form) -> Throttled | None:
    """Per client address (as seen through trusted proxies) and per form."""
    ip = client_ip(request) or "unknown"
    for key, rate in (
        (f"form-ip:{ip}", settings.FORM_RATE_PER_IP),
        (f"form:{form.pk}", settings.FORM_RATE_PER_FORM),
    ):
        result = rate_limit_hit(key, rate)
        if not result.allowed:
            return Throttled(result.retry_after)
    return None


def form_data(querydict) -> dict:
    """A QueryDict (urlencoded or multipart) as name → value, or a list where a name
    came more than once (checkboxes); uploaded files are not part of a submission."""
    return {name: values[0] if len(values) == 1 else values for name, values in querydict.lists()}
