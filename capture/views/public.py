"""Public pages websites and visitors reach without signing in: the plain HTML form
post (POST /f/<key>/), the hosted form and its thank-you page."""

from django.core import signing
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from capture import public
from capture.models import Channel, Submission
from capture.services.submissions import (
    IdempotencyConflict,
    SubmissionContext,
    submission_record,
)
from capture.spam import render_token
from capture.validation import PAGE_URL_FIELD, REFERRER_FIELD, TOKEN_FIELD, SubmissionInvalid
from leadhub.net import client_ip

THANKS_SALT = "capture.thanks"
THANKS_MAX_AGE = 24 * 3600


def thanks_token(submission: Submission) -> str:
    return signing.dumps({"s": submission.pk}, salt=THANKS_SALT, compress=True)


def form_context(request, form, *, values=None, errors=None, token=None, variant_id=None):
    """What templates/capture/public/form.html needs to draw ``form``."""
    return {
        "form": form,
        "fields": list(form.fields.all()),
        "values": values or {},
        "errors": errors or {},
        "post_url": reverse("capture-public:form_post", args=[form.key]),
        "token": token or render_token(form_id=form.pk, variant_id=variant_id),
        "page_url": request.POST.get(PAGE_URL_FIELD, "") if request.method == "POST"
        else request.build_absolute_uri(),
        "referrer": request.POST.get(REFERRER_FIELD, "") if request.method == "POST"
        else request.headers.get("Referer", ""),
    }


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
    form again with the errors and the visitor's values."""
    form = public.live_form(form_key)
    if form is None:
        raise Http404("No such form.")
    if not public.origin_allowed(request, form):
        return _plain(403, "This website may not post to this form.")
    if public.body_too_large(request):
        return _plain(413, "The form post is too large.")
    throttled = public.throttle(request, form)
    if throttled:
        return _plain(429, "Too many submissions; please wait a moment and try again.",
                      throttled.retry_after)

    # The raw body first (the size was checked above): multipart parsing consumes the
    # stream, and the body's hash recognises a retried post.
    body = request.body
    data = public.form_data(request.POST)
    context = SubmissionContext(
        channel=Channel.HOSTED if data.get(TOKEN_FIELD) else Channel.HTML,
        ip=client_ip(request),
        user_agent=request.headers.get("User-Agent", ""),
        page_url=request.headers.get("Referer", ""),
        idempotency_key=request.headers.get("Idempotency-Key"),
        body=body,
    )
    try:
        outcome = submission_record(
            form=form, fields=list(form.fields.all()), data=data, context=context
        )
    except SubmissionInvalid as exc:
        page = form_context(request, form, values=exc.values, errors=exc.errors,
                            token=data.get(TOKEN_FIELD) or None)
        return render(request, "capture/public/form_page.html", page, status=400)
    except IdempotencyConflict:
        return _plain(422, "This Idempotency-Key was used with a different form post.")
    # Only ever the URL from the form's settings, never one from the request.
    if form.redirect_url:
        return _see_other(form.redirect_url)
    thanks = reverse("capture-public:form_thanks", args=[form.key])
    return _see_other(f"{thanks}?s={thanks_token(outcome.submission)}")


def _see_other(url: str) -> HttpResponse:
    response = HttpResponse(status=303)
    response["Location"] = url
    return response


def form_thanks(request, form_key: str):
    """The thank-you page after a post (the form's message; later, a lead magnet)."""
    form = public.live_form(form_key)
    if form is None:
        raise Http404("No such form.")
    submission = None
    try:
        payload = signing.loads(request.GET.get("s", ""), salt=THANKS_SALT,
                                max_age=THANKS_MAX_AGE)
        submission = Submission.objects.filter(pk=payload.get("s"), form=form).first()
    except (signing.BadSignature, AttributeError, TypeError):
        submission = None
    return render(request, "capture/public/thanks.html",
                  {"form": form, "submission": submission})


def form_page(request, form_key: str):
    """GET /f/<key>/: the form on a page of its own (where a plain HTML post with errors
    lands, and a quick way to try a form)."""
    form = public.live_form(form_key)
    if form is None:
        raise Http404("No such form.")
    return render(request, "capture/public/form_page.html", form_context(request, form))
