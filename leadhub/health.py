"""``GET /healthz``: is this web process able to serve requests?

For load balancers, Docker's HEALTHCHECK and uptime monitors. It must stay cheap (it is
polled every few seconds by several callers) and must not need a login or a session, so
it runs one ``SELECT 1`` and touches nothing else. It does not look at Redis or the
workers: a broker outage only delays follow-up work (the outbox sweep catches up), and
taking web processes out of rotation for it would turn a delay into an outage.

Run as ``python -m leadhub.health`` it is the container's health probe (see Dockerfile).
"""

import logging
import os
import sys
import urllib.error
import urllib.request

from django.db import DatabaseError, connection
from django.http import JsonResponse
from django.urls import path
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

logger = logging.getLogger(__name__)


@never_cache
@require_safe
def healthz(request):
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError:
        # The reason goes to the log, not to whoever polls the (public) endpoint.
        logger.exception("Health check: the database query failed")
        return JsonResponse({"status": "error", "database": "error"}, status=503)
    return JsonResponse({"status": "ok", "database": "ok"})


# Included by leadhub/urls.py at ``healthz`` (no trailing slash, as probes expect).
urlpatterns = [path("", healthz, name="healthz")]


def probe(url: str = "", timeout: float = 5.0) -> tuple[bool, str]:
    """GET /healthz on this machine the way a reverse proxy would send it.

    Django answers only for ALLOWED_HOSTS, so the request names the first of them as
    its Host; and behind a TLS proxy (HTTPS=1 with PROXY_SSL_HEADER=1) a plain-http
    request would be redirected to https, so it says it came through one.
    """
    port = os.environ.get("PORT", "8000")
    url = url or f"http://127.0.0.1:{port}/healthz"
    hosts = [h.strip() for h in os.environ.get("ALLOWED_HOSTS", "").split(",") if h.strip()]
    host = next((h.lstrip(".") for h in hosts if h != "*"), "localhost")
    request = urllib.request.Request(  # noqa: S310 (a fixed http URL on this machine)
        url, headers={"Host": host, "X-Forwarded-Proto": "https"}
    )
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=timeout) as response:
            return response.status == 200, f"{response.status} {response.read(200).decode()}"
    except urllib.error.HTTPError as exc:
        hint = ""
        if exc.code in (301, 302, 307, 308):
            hint = " (redirected to https: set PROXY_SSL_HEADER=1 behind a TLS proxy)"
        return False, f"{exc.code} {exc.read(200).decode(errors='replace')}{hint}"
    except OSError as exc:
        return False, f"no answer from {url}: {exc}"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def main() -> int:
    ok, detail = probe()
    print(detail, file=sys.stdout if ok else sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
