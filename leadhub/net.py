"""Who is on the other end of a request, behind the proxies we trust."""

import ipaddress
from functools import lru_cache

from django.conf import settings


@lru_cache(maxsize=1)
def _trusted(networks: tuple[str, ...]) -> tuple[ipaddress._BaseNetwork, ...]:
    return tuple(ipaddress.ip_network(n, strict=False) for n in networks)


def _is_trusted(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in _trusted(tuple(settings.TRUSTED_PROXIES)))


def client_ip(request) -> str | None:
    """The client's address. X-Forwarded-For is believed only as far as it was written
    by proxies listed in TRUSTED_PROXIES: walking it from the right (the hop nearest us),
    the first address we don't trust is the client. A client that sends its own
    X-Forwarded-For only adds entries to the left of that, so it cannot choose its
    address (and reset a per-IP rate limit) by forging the header."""
    remote = request.META.get("REMOTE_ADDR") or None
    if remote is None or not _is_trusted(remote):
        return remote
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    hops = [h.strip() for h in forwarded.split(",") if h.strip()]
    for hop in reversed(hops):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return remote  # a garbled header: don't guess
        if not _is_trusted(hop):
            return hop
    return hops[0] if hops else remote
