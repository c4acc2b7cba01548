"""What every public form endpoint does before the submission service: find the live
form, check the origin, the body size and the rate limits. Small and paranoid; shared by
the JSON API (capture.api.submissions) and the HTML post (capture.views.public)."""

import copy
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Prefetch
from django.db.models.signals import post_delete, post_save

from capture.models import Form, FormField, FormStatus
from leadhub.net import client_ip
from leadhub.ratelimit import rate_limit_hit

# Live forms with their fields, per process, keyed by form key. Loading a form and its
# fields (two queries and a dozen model instances) was a third of a submission's CPU; a
# cached form costs one indexed SELECT of (id, updated_at) instead, which also sees a form
# unpublished, archived or deleted at once (or nothing, for the public posts, whose write
# makes that check in its own statement: posted_to_live_form). Every change of a form or
# its fields goes through capture.services.forms, which saves the form and so moves
# updated_at. Fields written some other way (the shell) are reloaded after
# LIVE_FORM_CACHE_SECONDS at most, and at once in the process that wrote them (the
# signal below).
LIVE_FORM_CACHE_SIZE = 512
LIVE_FORM_CACHE_SECONDS = 60.0
_live_forms: OrderedDict[str, tuple[tuple[int, object], float, Form]] = OrderedDict()
_live_forms_lock = threading.Lock()  # gthread workers share one process


def live_form(key: str) -> Form | None:
    """The live form with this key and its fields, or None: unknown, draft and archived
    forms all look the same from outside. Two queries the first time a process sees the
    form, one after that (see above). The caller gets its own copy of the Form; its
    fields (``form.fields.all()``) are shared and must be treated as read-only."""
    if not key or len(key) > 32:
        return None
    cached = _live_form_cached(key)
    if cached is not None:
        stamp = _live_stamp(key)
        if stamp is None:
            live_form_forget(key)
            return None
        if stamp == cached[0]:
            return copy.copy(cached[2])
    return _live_form_load(key)


def live_form_unchecked(key: str) -> Form | None:
    """The form with this key as this process last saw it live, without asking the
    database, or None if it has not seen it lately: for a caller whose write checks the
    form is unchanged (capture.services.submissions, ``form_unchecked``) and that, on
    FormChanged, forgets it and asks ``live_form``."""
    cached = _live_form_cached(key) if key else None
    return copy.copy(cached[2]) if cached is not None else None


def live_form_changed(form: Form) -> bool:
    """Whether ``form`` (from live_form_unchecked) is no longer the live form as it is in
    the database: changed, unpublished or deleted."""
    return _live_stamp(form.key) != (form.pk, form.updated_at)


def posted_to_live_form(key: str, handle):
    """Handle a post to the form with this key: ``handle(form, unchecked=…, count=…)``
    with the form as this process has it cached (``unchecked``: the submission's write
    checks it, and FormChanged says it changed), and once more with the form as it is
    now if it did (``count`` False: the post was counted against the rate limits
    already). ``handle`` gets None for an unknown, draft or archived form."""
    from capture.services.submissions import FormChanged  # it imports this module

    form = live_form_unchecked(key)
    if form is None:
        return handle(live_form(key), unchecked=False, count=True)
    try:
        return handle(form, unchecked=True, count=True)
    except FormChanged:
        live_form_forget(key)
        return handle(live_form(key), unchecked=False, count=False)


def before_refusing(form: Form, *, unchecked: bool) -> None:
    """Before refusing a post for what the form says (its origins, its fields): a form
    taken unchecked from the cache must be the form as it is now (FormChanged if not,
    which posted_to_live_form answers by handling the post again)."""
    from capture.services.submissions import FormChanged

    if unchecked and live_form_changed(form):
        raise FormChanged(form.key)


def _live_form_cached(key: str):
    with _live_forms_lock:
        cached = _live_forms.get(key)
        if cached is None or time.monotonic() - cached[1] >= LIVE_FORM_CACHE_SECONDS:
            return None
        _live_forms.move_to_end(key)
        return cached


def _live_form_load(key: str) -> Form | None:
    form = (
        Form.objects.filter(key=key, status=FormStatus.LIVE)
        .prefetch_related(Prefetch("fields", queryset=FormField.objects.order_by("position", "id")))
        .first()
    )
    if form is None:
        live_form_forget(key)
        return None
    with _live_forms_lock:
        _live_forms[key] = ((form.pk, form.updated_at), time.monotonic(), copy.copy(form))
        _live_forms.move_to_end(key)
        while len(_live_forms) > LIVE_FORM_CACHE_SIZE:
            _live_forms.popitem(last=False)
    return form


# The (id, updated_at) check of a cached form, once per submission: the statement
# ``Form.objects.filter(key=…, status=LIVE).values_list("pk", "updated_at").first()``
# sends, written out once per database vendor (compiling that queryset cost three times
# what running it does), with updated_at converted as the ORM converts it.
_stamp_sql: dict[str, tuple[str, object, list]] = {}


def _live_stamp(key: str) -> tuple[int, object] | None:
    db = connections[DEFAULT_DB_ALIAS]  # not the proxy: a thread-local lookup per read
    vendor = db.vendor
    if vendor not in _stamp_sql:
        q = db.ops.quote_name
        table = q(Form._meta.db_table)
        pk, updated_at, key_field, status = (
            f"{table}.{q(Form._meta.get_field(name).column)}"
            for name in ("id", "updated_at", "key", "status")
        )
        col = Form._meta.get_field("updated_at").get_col(Form._meta.db_table)
        _stamp_sql[vendor] = (
            f"SELECT {pk}, {updated_at} FROM {table} "  # noqa: S608 (names from the model)
            f"WHERE ({key_field} = %s AND {status} = %s) ORDER BY {pk} ASC LIMIT 1",
            col,
            db.ops.get_db_converters(col) + col.get_db_converters(db),
        )
    sql, col, converters = _stamp_sql[vendor]
    with db.cursor() as cursor:
        cursor.execute(sql, [key, FormStatus.LIVE.value])
        row = cursor.fetchone()
    if row is None:
        return None
    pk, updated_at = row
    for converter in converters:
        updated_at = converter(updated_at, col, db)
    return pk, updated_at


def live_form_forget(key: str | None = None) -> None:
    """Drop one form (or, with no key, every form) from this process's cache."""
    with _live_forms_lock:
        if key is None:
            _live_forms.clear()
        else:
            _live_forms.pop(key, None)


def _field_changed(sender, **kwargs) -> None:
    live_form_forget()  # rare (the services write fields in bulk), so no lookup of the key


post_save.connect(_field_changed, sender=FormField, dispatch_uid="capture.live_form.field")
post_delete.connect(_field_changed, sender=FormField, dispatch_uid="capture.live_form.field_d")


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
