"""Public pages websites and visitors reach without signing in: the plain HTML form
post (POST /f/<key>/), the hosted form and its thank-you page, landing pages
(/p/<slug>/), lead magnet downloads (/m/<token>/), the JS embed (/f/<key>/embed.js)
and the small JSON helpers it uses (/f/<key>/challenge/, /f/<key>/fields/)."""

import json
import re
import uuid
from functools import cache
from pathlib import Path, PurePath

from django.conf import settings
from django.contrib.staticfiles import finders
from django.core import signing
from django.core.serializers.json import DjangoJSONEncoder
from django.http import FileResponse, Http404, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers, patch_vary_headers
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from capture import public
from capture.models import Channel, LandingPageVariant, Lead, PageStatus, Submission, Visitor
from capture.profiling import fields_to_show, known_values
from capture.services.pages import (
    MAGNET_MAX_AGE,
    form_view_record,
    lead_magnet_download,
    lead_magnet_token,
    live_page,
    page_variants_showable,
    variant_choose,
    viewer_of,
)
from capture.services.submissions import (
    IdempotencyConflict,
    SubmissionContext,
    submission_record,
)
from capture.services.tracking import visitor_sign, visitor_unsign
from capture.spam import pow_challenge, pow_difficulty, read_render_token, render_token
from capture.templatetags.capture_forms import field_choices
from capture.validation import (
    PAGE_URL_FIELD,
    REFERRER_FIELD,
    TOKEN_FIELD,
    SubmissionInvalid,
)
from leadhub.net import client_ip
from leadhub.ratelimit import rate_limit_hit

THANKS_SALT = "capture.thanks"
THANKS_MAX_AGE = 24 * 3600
# The visitor's variant of a landing page, per page; signed so a visitor cannot pick one
# by hand (which would skew the split they are counted in).
AB_COOKIE = "lh_ab_{page_id}"
AB_SALT = "capture.ab"
AB_COOKIE_MAX_AGE = 90 * 24 * 3600
# LeadHub's first-party visitor cookie: a signed visitor id (capture.services.tracking).
# The tracking snippet (/t.js) keeps one on the customer's website; on LeadHub's own
# domain a successful post to /f/<key>/ sets it (the hosted form, landing pages and the
# plain snippet all post there), so the next visit to a hosted page is recognised
# (progressive profiling) once the submission's follow-up task has linked the id to the
# lead. HttpOnly: no script on LeadHub's pages reads it. SameSite=Lax: it must come
# along when a visitor follows a link to a landing page from an email or an ad.
VISITOR_COOKIE = "lh_vid"
VISITOR_COOKIE_MAX_AGE = 365 * 24 * 3600  # as long as /t.js keeps its own


def thanks_token(submission: Submission) -> str:
    return signing.dumps({"s": submission.pk}, salt=THANKS_SALT, compress=True)


# --- Who is this visitor (progressive profiling) ------------------------------------------


def visitor_lead(signed_id: str) -> Lead | None:
    """The lead behind a signed visitor id (the lh_vid cookie), or None."""
    visitor_id = visitor_unsign(signed_id)
    if visitor_id is None:
        return None
    visitor = Visitor.objects.select_related("lead").filter(pk=visitor_id).first()
    return visitor.lead if visitor else None


def shown_fields(form, fields, *, lead=None) -> list:
    """The form's fields to draw: all of them, or with progressive profiling, the ones
    capture.profiling chooses for this lead (None: a visitor nobody knows)."""
    if not form.progressive_profiling:
        return fields
    names = set(fields_to_show(fields, known=known_values(lead), max_fields=form.max_fields))
    return [f for f in fields if f.name in names]


# --- The form, drawn by LeadHub -----------------------------------------------------------


def pow_context(form) -> dict | None:
    """What the browser needs to solve the form's proof of work (None if it has none)."""
    if not form.proof_of_work:
        return None
    return {
        "challenge": pow_challenge(form_id=form.pk),
        "difficulty": pow_difficulty(),
        "url": reverse("capture-public:form_challenge", args=[form.key]),
    }


def form_context(request, form, *, values=None, errors=None, token=None, variant_id=None,
                 fields=None, hidden_names=frozenset()):
    """What templates/capture/public/form.html needs to draw ``form``. ``fields``: the
    fields to draw (default: all of the form's); ``hidden_names``: those of them drawn
    hidden and disabled (progressive profiling: public-form.js shows them when the email
    typed is a lead's who has not answered them)."""
    return {
        "form": form,
        "fields": list(form.fields.all()) if fields is None else fields,
        "hidden_names": hidden_names,
        "fields_url": reverse("capture-public:form_fields", args=[form.key])
        if form.progressive_profiling else "",
        "values": values or {},
        "errors": errors or {},
        "post_url": reverse("capture-public:form_post", args=[form.key]),
        "token": token or render_token(form_id=form.pk, variant_id=variant_id),
        "page_url": request.POST.get(PAGE_URL_FIELD, "") if request.method == "POST"
        else request.build_absolute_uri(),
        "referrer": request.POST.get(REFERRER_FIELD, "") if request.method == "POST"
        else request.headers.get("Referer", ""),
        "pow": pow_context(form),
        "pow_id": f"lh-pow-{form.key}",
    }


def _visible_context(request, form, **kwargs) -> dict:
    """form_context with progressive profiling applied for the visitor's cookie, and on
    a failed post with every field that has an error or a value kept visible. Every
    field is drawn; those not shown are hidden and disabled (so they post nothing),
    for the page's script to show if the email typed calls for them."""
    fields = list(form.fields.all())
    lead = visitor_lead(request.COOKIES.get(VISITOR_COOKIE, "")) if (
        form.progressive_profiling) else None
    shown = {f.name for f in shown_fields(form, fields, lead=lead)}
    if request.method == "POST":
        shown |= set(kwargs.get("errors") or {}) | {
            name for name, value in (kwargs.get("values") or {}).items() if value
        }
    hidden = frozenset(f.name for f in fields if f.name not in shown)
    return form_context(request, form, fields=fields, hidden_names=hidden, **kwargs)


def _plain(status: int, message: str, retry_after: int | None = None) -> HttpResponse:
    response = render_plain(message, status)
    if retry_after:
        response["Retry-After"] = str(retry_after)
    return response


def render_plain(message: str, status: int) -> HttpResponse:
    return HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")


@csrf_exempt  # posted from other sites' pages; origins are checked per form instead
@require_http_methods(["GET", "HEAD", "POST"])
def form_endpoint(request, form_key: str):
    """/f/<key>/: GET shows the form on a page of its own; POST submits it."""
    if request.method == "POST":
        return form_post(request, form_key)
    return form_page(request, form_key)


def form_post(request, form_key: str):
    """POST /f/<key>/ from a plain HTML form (urlencoded or multipart): 303 to the
    thank-you page (or the form's own redirect URL); invalid input shows the hosted
    form (or the landing page it came from) again with the errors and the visitor's
    values."""
    return public.posted_to_live_form(
        form_key, lambda form, **how: _form_post(request, form, **how))


def _form_post(request, form, *, unchecked: bool, count: bool):
    if form is None:
        raise Http404("No such form.")
    if not public.origin_allowed(request, form):
        public.before_refusing(form, unchecked=unchecked)
        return _plain(403, "This website may not post to this form.")
    if public.body_too_large(request):
        return _plain(413, "The form post is too large.")
    throttled = public.throttle(request, form) if count else None
    if throttled:
        return _plain(429, "Too many submissions; please wait a moment and try again.",
                      throttled.retry_after)

    data = public.form_data(request.POST)
    # On LeadHub's own domain the visitor cookie is ours: it links the visitor's earlier
    # page views to the lead. A browser without one (or with one we did not sign) is
    # given one now, set below with the answer.
    cookie = request.COOKIES.get(VISITOR_COOKIE, "")
    visitor = cookie if visitor_unsign(cookie) is not None else visitor_sign(uuid.uuid4())
    context = SubmissionContext(
        channel=Channel.HOSTED if data.get(TOKEN_FIELD) else Channel.HTML,
        ip=client_ip(request),
        user_agent=request.headers.get("User-Agent", ""),
        page_url=request.headers.get("Referer", ""),
        idempotency_key=request.headers.get("Idempotency-Key"),
        visitor=visitor,
    )
    try:
        outcome = submission_record(
            form=form, fields=list(form.fields.all()), data=data, context=context,
            form_unchecked=unchecked,
        )
    except SubmissionInvalid as exc:
        public.before_refusing(form, unchecked=unchecked)
        token = data.get(TOKEN_FIELD) if isinstance(data.get(TOKEN_FIELD), str) else None
        variant = _variant_of_token(token, form)
        kwargs = {"values": exc.values, "errors": exc.errors, "token": token or None}
        if variant is not None:
            page = landing_context(request, variant.page, variant, **kwargs)
            return render(request, "capture/public/landing.html", page, status=400)
        page = _visible_context(request, form, **kwargs)
        return render(request, "capture/public/form_page.html", page, status=400)
    except IdempotencyConflict:
        return _plain(422, "This Idempotency-Key was used with a different form post.")
    # Only ever the URL from the form's settings, never one from the request.
    if form.redirect_url:
        response = _see_other(form.redirect_url)
    else:
        thanks = reverse("capture-public:form_thanks", args=[form.key])
        response = _see_other(f"{thanks}?s={thanks_token(outcome.submission)}")
    # Spam included: its answer must look like any other.
    if visitor != cookie:
        response.set_cookie(
            VISITOR_COOKIE, visitor, max_age=VISITOR_COOKIE_MAX_AGE, path="/",
            httponly=True, samesite="Lax",
            secure=settings.SESSION_COOKIE_SECURE or request.is_secure(),
        )
    return response


def _variant_of_token(token: str | None, form) -> LandingPageVariant | None:
    """The live landing-page variant a render token names (its form drawn on the page),
    to show a failed post on the page it came from."""
    if not token:
        return None
    info = read_render_token(token, form_id=form.pk)
    if not info.valid or info.variant_id is None:
        return None
    return (
        LandingPageVariant.objects.select_related("page")
        .filter(pk=info.variant_id, form=form, page__status=PageStatus.LIVE)
        .first()
    )


def _see_other(url: str) -> HttpResponse:
    response = HttpResponse(status=303)
    response["Location"] = url
    return response


def form_thanks(request, form_key: str):
    """The thank-you page after a post: the form's message and, for a post from a
    landing page with a lead magnet, the signed download link."""
    form = public.live_form(form_key)
    if form is None:
        raise Http404("No such form.")
    submission = None
    try:
        payload = signing.loads(request.GET.get("s", ""), salt=THANKS_SALT,
                                max_age=THANKS_MAX_AGE)
        submission = (
            Submission.objects.select_related("variant__page")
            .filter(pk=payload.get("s"), form=form)
            .first()
        )
    except (signing.BadSignature, AttributeError, TypeError):
        submission = None
    magnet_page = submission.variant.page if submission and submission.variant else None
    magnet_url = None
    if magnet_page is not None and magnet_page.lead_magnet:
        token = lead_magnet_token(page_id=magnet_page.pk, submission_id=submission.pk)
        magnet_url = reverse("capture-public:lead_magnet", args=[token])
    response = render(request, "capture/public/thanks.html", {
        "form": form,
        "submission": submission,
        "magnet_page": magnet_page if magnet_url else None,
        "magnet_url": magnet_url,
        "magnet_hours": MAGNET_MAX_AGE // 3600,
    })
    add_never_cache_headers(response)
    return response


def form_page(request, form_key: str):
    """GET /f/<key>/: the form on a page of its own (where a plain HTML post with errors
    lands, and a quick way to try a form). A GET counts as a view of the form (once per
    viewer and window, form_view_record)."""
    form = public.live_form(form_key)
    if form is None:
        raise Http404("No such form.")
    if request.method == "GET":
        form_view_record(form_id=form.pk, viewer=viewer_of(client_ip(request)))
    response = render(request, "capture/public/form_page.html", _visible_context(request, form))
    add_never_cache_headers(response)  # the render token inside is fresh per view
    return response


# --- Landing pages ------------------------------------------------------------------------


def landing_context(request, page, variant, *, preview: bool = False, **form_kwargs) -> dict:
    """What templates/capture/public/landing.html needs to draw ``variant`` of ``page``."""
    form = variant.form
    context = _visible_context(request, form, variant_id=variant.pk, **form_kwargs)
    canonical = f"{settings.PUBLIC_URL}{reverse('capture-public:landing_page', args=[page.slug])}"
    context.update({"page": page, "variant": variant, "canonical_url": canonical,
                    "preview": preview})
    return context


def _sticky_variant_id(request, page) -> int | None:
    value = request.get_signed_cookie(AB_COOKIE.format(page_id=page.pk), default=None,
                                      salt=AB_SALT, max_age=AB_COOKIE_MAX_AGE)
    return int(value) if value and value.isdigit() and len(value) < 19 else None


@require_http_methods(["GET", "HEAD"])
def landing_page(request, slug: str):
    """GET /p/<slug>/: a live landing page. Live pages split traffic evenly between
    their active variants; a signed cookie keeps each visitor on the one they got. A
    GET counts a view of that variant (once per viewer and window, form_view_record)."""
    page = live_page(slug)
    if page is None:
        raise Http404("No such page.")
    variants = page_variants_showable(page)
    sticky = _sticky_variant_id(request, page)
    variant = variant_choose(variants, sticky_id=sticky)
    if variant is None:
        raise Http404("No such page.")
    if request.method == "GET":
        form_view_record(form_id=variant.form_id, variant_id=variant.pk,
                         viewer=viewer_of(client_ip(request)))
    response = render(request, "capture/public/landing.html",
                      landing_context(request, page, variant))
    if sticky != variant.pk:
        response.set_signed_cookie(
            AB_COOKIE.format(page_id=page.pk), str(variant.pk), salt=AB_SALT,
            max_age=AB_COOKIE_MAX_AGE, path="/p/", httponly=True, samesite="Lax",
            secure=settings.SESSION_COOKIE_SECURE,
        )
    # Private: the page carries a per-visitor render token and variant.
    add_never_cache_headers(response)
    return response


@require_GET
def lead_magnet(request, token: str):
    """GET /m/<token>/: the page's lead magnet as a download, for a valid, unexpired
    link from a thank-you page; 404 otherwise. Records the download on the lead."""
    download = lead_magnet_download(token=token)
    if download is None:
        raise Http404("This download link is not valid (links expire after a day).")
    page = download.page
    try:
        handle = page.lead_magnet.open("rb")
    except FileNotFoundError:
        raise Http404("The file is no longer available.") from None
    extension = PurePath(page.lead_magnet.name).suffix
    name = (page.lead_magnet_name or PurePath(page.lead_magnet.name).stem).strip()
    filename = name if name.lower().endswith(extension.lower()) else f"{name}{extension}"
    response = FileResponse(handle, as_attachment=True, filename=filename.replace("/", "-"))
    response["Cache-Control"] = "private, no-store"
    response["X-Robots-Tag"] = "noindex"
    return response


# --- The JS embed and its helpers ---------------------------------------------------------


_JS_ESCAPES = {ord("<"): "\\u003C", ord(">"): "\\u003E", ord("&"): "\\u0026"}


def js_json(value) -> str:
    """JSON that is also safe JavaScript anywhere it is pasted: ASCII only (so U+2028
    and U+2029 are escaped), and no <, > or & (so "</script>" or "<!--" in a label
    cannot end an inline script)."""
    return json.dumps(value, cls=DjangoJSONEncoder, ensure_ascii=True).translate(_JS_ESCAPES)


def _static_source(name: str) -> str:
    if settings.DEBUG:
        return _read_static(name)
    return _cached_static(name)


def _read_static(name: str) -> str:
    """One of our own scripts, without its comments and indentation: the header
    comment, whole-line // comments and leading spaces go (the files are written so
    that this is safe: no code on comment lines, no multi-line strings)."""
    path = finders.find(name)
    if not path:
        raise FileNotFoundError(name)
    source = re.sub(r"\A\s*/\*.*?\*/\s*", "", Path(path).read_text(encoding="utf-8"),
                    flags=re.S)
    lines = (line.strip() for line in source.splitlines())
    return "".join(f"{line}\n" for line in lines if line and not line.startswith("//"))


@cache
def _cached_static(name: str) -> str:
    return _read_static(name)


def embed_config(request, form) -> dict:
    fields = list(form.fields.all())
    base = settings.PUBLIC_URL
    return {
        "key": form.key,
        "endpoint": f"{base}{reverse('form-submissions', args=[form.key])}",
        "challengeUrl": f"{base}{reverse('capture-public:form_challenge', args=[form.key])}",
        "fieldsUrl": f"{base}{reverse('capture-public:form_fields', args=[form.key])}",
        "token": render_token(form_id=form.pk),
        "thanks": form.thank_you_message,
        "submitLabel": "Submit",
        "profiling": form.progressive_profiling,
        "show": [f.name for f in shown_fields(form, fields)] if form.progressive_profiling
        else None,
        "pow": {"challenge": pow_challenge(form_id=form.pk), "difficulty": pow_difficulty()}
        if form.proof_of_work else None,
        "fields": [
            {
                "name": f.name,
                "type": f.type,
                "label": (form.consent_text if f.maps_to == "marketing_consent"
                          and form.consent_text else f.label or f.name),
                "placeholder": f.placeholder,
                "help": f.help_text,
                "required": f.required,
                "default": f.default,
                "options": list(field_choices(f)) if f.type in (
                    "select", "country", "multiselect", "checkboxes") else None,
            }
            for f in fields
        ],
    }


def _javascript(body: str, status: int = 200) -> HttpResponse:
    response = HttpResponse(body, status=status, content_type="text/javascript; charset=utf-8")
    # Each copy carries a fresh render token (its time is the form's "shown at"), so no
    # browser or proxy may keep one.
    response["Cache-Control"] = "no-store, max-age=0"
    # Other sites load it with <script src>, including sites that isolate themselves.
    response["Cross-Origin-Resource-Policy"] = "cross-origin"
    return response


@require_GET
def embed_js(request, form_key: str):
    """GET /f/<key>/embed.js: a script that draws the form into the page that loads it
    and posts it to the JSON endpoint. A request counts as a view of the form (once per
    viewer and window, form_view_record)."""
    form = public.live_form(form_key)
    if form is None:
        return _javascript("/* LeadHub: this form does not exist or is not live. */\n",
                           status=404)
    form_view_record(form_id=form.pk, viewer=viewer_of(client_ip(request)))
    solver = _static_source("js/lh-pow.js") if form.proof_of_work else ""
    script = (
        "/* LeadHub form embed */\n(function () {\n"
        f"{solver}{_static_source('js/public-embed.js')}"
        f"lhEmbed({js_json(embed_config(request, form))}, "
        f"{'LeadHubPow' if form.proof_of_work else 'null'});\n"
        "})();\n"
    )
    return _javascript(script)


def _json(data: dict, status: int = 200) -> JsonResponse:
    response = JsonResponse(data, status=status)
    response["Cache-Control"] = "no-store"
    return response


@require_GET
def form_challenge(request, form_key: str):
    """GET /f/<key>/challenge/: a fresh proof-of-work challenge for the embed and API
    clients. Not secret (a challenge is only worth the work spent on it), so any page
    may read it."""
    form = public.live_form(form_key)
    if form is None:
        return _json({"detail": "Not found."}, status=404)
    response = _json({
        "challenge": pow_challenge(form_id=form.pk),
        "difficulty": pow_difficulty(),
        "required": form.proof_of_work,
    })
    response["Access-Control-Allow-Origin"] = "*"
    return response


@require_GET
def form_fields(request, form_key: str):
    """GET /f/<key>/fields/?email=…|vid=…: which fields the embed should show this
    visitor (progressive profiling). Answers names only, never values; rate-limited
    per address like posts, and readable only by the form's allowed origins."""
    form = public.live_form(form_key)
    if form is None:
        return _json({"detail": "Not found."}, status=404)
    if not public.origin_allowed(request, form):
        return _json({"detail": "This origin may not use this form."}, status=403)
    limit = rate_limit_hit(f"form-fields-ip:{client_ip(request) or 'unknown'}",
                           settings.FORM_RATE_PER_IP)
    if not limit.allowed:
        response = _json({"detail": "Too many requests; retry later."}, status=429)
        response["Retry-After"] = str(limit.retry_after)
        return response
    fields = list(form.fields.all())
    lead = None
    if form.progressive_profiling:
        email = request.GET.get("email", "").strip()
        if email and "@" in email and len(email) <= 254:
            lead = Lead.objects.with_email(email).first()
        elif request.GET.get("vid"):
            lead = visitor_lead(request.GET["vid"])
    response = _json({"fields": [f.name for f in shown_fields(form, fields, lead=lead)]})
    origin = request.headers.get("Origin")
    if origin:
        response["Access-Control-Allow-Origin"] = origin
    patch_vary_headers(response, ["Origin"])
    return response
