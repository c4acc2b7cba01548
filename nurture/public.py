"""Public endpoints that sent emails link to (no login): the open pixel, the click
redirect and the unsubscribe page. Small and paranoid: a token that does not verify is a
404, the redirect goes only to the URL signed into the token, and a plain GET never
unsubscribes (corporate link scanners open every link in a mail)."""

import base64

from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils.cache import add_never_cache_headers
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_safe

from leadhub.ratelimit import rate_limit_hit
from nurture.models import EmailMessage
from nurture.services import click_record, lead_unsubscribe, open_record
from nurture.services import rendering as tokens

PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
# Opens and clicks recorded per message: beyond this the pixel and the redirect still
# work, but nothing more is written, so a token replayed in a loop cannot flood a lead's
# timeline. Per message, not per address: mail proxies fetch for many people from few.
TRACK_RATE = "30/hour"


def _may_record(message: EmailMessage) -> bool:
    return rate_limit_hit(f"nurture-track:{message.pk}", TRACK_RATE).allowed


def _message(message_id: int | None) -> EmailMessage:
    message = (EmailMessage.objects.select_related("lead").filter(pk=message_id).first()
               if message_id is not None else None)
    if message is None:
        raise Http404("No such email.")
    return message


def _private(response: HttpResponse) -> HttpResponse:
    # Tokens are capabilities: keep them out of caches, Referer headers and indexes.
    add_never_cache_headers(response)
    response["Referrer-Policy"] = "no-referrer"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


@require_safe
def open_pixel(request, token: str):
    message = _message(tokens.open_token_read(token))
    if request.method == "GET" and _may_record(message):
        open_record(message=message, user_agent=request.headers.get("User-Agent", ""))
    return _private(HttpResponse(PIXEL, content_type="image/gif"))


@require_safe
def click(request, token: str):
    read = tokens.click_token_read(token)
    if read is None:
        raise Http404("No such link.")
    message_id, url = read
    message = _message(message_id)
    if request.method == "GET" and _may_record(message):
        click_record(message=message, url=url,
                     user_agent=request.headers.get("User-Agent", ""))
    return _private(HttpResponseRedirect(url))


def _masked(email: str) -> str:
    local, _, domain = email.partition("@")
    return f"{local[:1]}{'•' * min(max(len(local) - 1, 1), 6)}@{domain}"


# RFC 8058: mail clients POST "List-Unsubscribe=One-Click" to the List-Unsubscribe URL,
# without cookies, so the POST is CSRF-exempt: the signed token is the capability.
@csrf_exempt
@require_http_methods(["GET", "HEAD", "POST"])
def unsubscribe(request, token: str):
    message = _message(tokens.unsubscribe_token_read(token))
    lead = message.lead
    context = {"email": _masked(lead.email)}
    if request.method == "POST":
        one_click = request.POST.get("List-Unsubscribe") == "One-Click"
        lead_unsubscribe(lead=lead, how="one-click" if one_click else "page", message=message)
        if one_click:
            return _private(HttpResponse("Unsubscribed.", content_type="text/plain"))
        return _private(render(request, "nurture/public/unsubscribed.html", context))
    context["already"] = lead.unsubscribed_at is not None
    return _private(render(request, "nurture/public/unsubscribe.html", context))
