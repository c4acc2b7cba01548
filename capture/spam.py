"""Telling bots from people without asking anyone else (no third-party CAPTCHA: it leaks
visitors to a third party and breaks API submissions).

- A honeypot input that people never see and bots fill.
- A signed render token where LeadHub rendered the form (hosted page, embed): posts
  sooner than the form's ``min_seconds`` after rendering are bots. A plain HTML snippet
  or a server-to-server post carries no token and is judged by the other defences.
- Optionally per form, a proof of work: the browser finds a number whose hash with a
  signed challenge starts with enough zero bits (a second of work for one visitor,
  hours for a spammer posting thousands). Each challenge is good for one post.
- Disposable email domains, flagged or refused per form.

Judging happens before any database work; a spam verdict files the submission in the
Spam folder and the visitor sees the normal thank-you, so bots learn nothing.
"""

import hashlib
import math
import secrets
import time
from dataclasses import dataclass

from disposable_email_domains import blocklist as DISPOSABLE_DOMAINS
from django.conf import settings
from django.core import signing

from capture.cache import cache_add
from capture.models import DisposablePolicy

RENDER_SALT = "capture.render"
POW_SALT = "capture.pow"
RENDER_TOKEN_MAX_AGE = 7 * 24 * 3600  # an older page is judged as if it had no token
POW_MAX_AGE = 3600


# --- Render tokens ------------------------------------------------------------------------


def render_token(*, form_id: int, variant_id: int | None = None) -> str:
    """The time of rendering, signed; goes into the form as a hidden input."""
    # Rounded down: rounded up, a token could claim a render a few ms in the future, and
    # a form with min_seconds=0 would file an instant post as "too fast".
    payload = {"f": form_id, "v": variant_id, "t": math.floor(time.time() * 100) / 100}
    return signing.Signer(salt=RENDER_SALT).sign_object(payload)


@dataclass(frozen=True)
class RenderInfo:
    valid: bool  # signed by us, for this form
    age_seconds: float | None
    variant_id: int | None


def read_render_token(token: str, *, form_id: int) -> RenderInfo:
    try:
        payload = signing.Signer(salt=RENDER_SALT).unsign_object(token)
    except (signing.BadSignature, ValueError, TypeError):
        return RenderInfo(valid=False, age_seconds=None, variant_id=None)
    if not isinstance(payload, dict):
        return RenderInfo(valid=False, age_seconds=None, variant_id=None)
    rendered_at = payload.get("t")
    if payload.get("f") != form_id or not isinstance(rendered_at, int | float):
        return RenderInfo(valid=False, age_seconds=None, variant_id=None)
    variant = payload.get("v")
    age = time.time() - rendered_at
    return RenderInfo(
        valid=True,
        # A page left open for a week is judged as if it had no token.
        age_seconds=age if age <= RENDER_TOKEN_MAX_AGE else None,
        variant_id=variant if isinstance(variant, int) else None,
    )


# --- Proof of work ------------------------------------------------------------------------


def pow_difficulty() -> int:
    return settings.FORM_POW_DIFFICULTY


def pow_challenge(*, form_id: int) -> str:
    return signing.TimestampSigner(salt=POW_SALT).sign_object(
        {"f": form_id, "n": secrets.token_urlsafe(12), "d": pow_difficulty()}
    )


def _leading_zero_bits(digest: bytes) -> int:
    bits = 0
    for byte in digest:
        if byte == 0:
            bits += 8
            continue
        return bits + (8 - byte.bit_length())
    return bits


def pow_check(solution: str, *, form_id: int) -> str:
    """"" when ``solution`` ("<challenge>:<counter>") is a fresh, unused, valid proof of
    work for this form; otherwise why not."""
    challenge, _, counter = (solution or "").rpartition(":")
    if not challenge or not counter.isdigit() or len(counter) > 20:
        return "proof of work missing"
    try:
        payload = signing.TimestampSigner(salt=POW_SALT).unsign_object(
            challenge, max_age=POW_MAX_AGE
        )
    except signing.SignatureExpired:
        return "proof of work expired"
    except (signing.BadSignature, ValueError, TypeError):
        return "proof of work forged"
    if not isinstance(payload, dict) or payload.get("f") != form_id:
        return "proof of work for another form"
    difficulty = payload.get("d") if isinstance(payload.get("d"), int) else pow_difficulty()
    digest = hashlib.sha256(f"{challenge}:{counter}".encode()).digest()
    if _leading_zero_bits(digest) < difficulty:
        return "proof of work wrong"
    # One post per challenge: replaying a solved challenge is a bot's shortcut. With the
    # cache down the replay goes unnoticed (None): fail open, like the rate limits, since
    # the work itself was checked above and filing every genuine post of the form as
    # spam for as long as Redis is down would be worse than letting replays through.
    first_use = cache_add(f"pow-used:{hashlib.sha256(challenge.encode()).hexdigest()}", 1,
                          POW_MAX_AGE)
    if first_use is False:
        return "proof of work reused"
    return ""


# --- The verdict --------------------------------------------------------------------------


def is_disposable(email: str) -> bool:
    domain = email.rpartition("@")[2].lower().rstrip(".")
    # Subdomains of a disposable domain are disposable too (x.mailinator.com).
    parts = domain.split(".")
    return any(".".join(parts[i:]) in DISPOSABLE_DOMAINS for i in range(len(parts) - 1))


def spam_reason(
    *, form, email: str, honeypot: str, token: str | None, pow_solution: str | None
) -> tuple[str, int | None]:
    """Why this post is spam ("" if it is not), and the landing-page variant its render
    token names. ``disposable_emails == "block"`` is not judged here: it is a
    validation error the visitor sees (capture.services.submissions)."""
    variant_id = None
    if honeypot:
        return "honeypot field filled", None
    if token:
        info = read_render_token(token, form_id=form.id)
        if not info.valid:
            return "render token forged or for another form", None
        variant_id = info.variant_id
        if info.age_seconds is not None and info.age_seconds < form.min_seconds:
            return f"submitted {info.age_seconds:.1f} s after the form was shown", variant_id
    if form.proof_of_work and (problem := pow_check(pow_solution or "", form_id=form.id)):
        return problem, variant_id
    if form.disposable_emails == DisposablePolicy.FLAG and is_disposable(email):
        return "disposable email address", variant_id
    return "", variant_id
