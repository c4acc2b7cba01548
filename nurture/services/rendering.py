"""One step's email for one lead: merge fields (sandboxed), Markdown → sanitised HTML with
tracked links and the open pixel, a text part made from that HTML, the footer and the
headers.

Tokens in tracking links are signed (django.core.signing) with a salt per purpose, so
a token for an open cannot be replayed as an unsubscribe, and a click token carries the
exact URL that was in the email: the redirect goes there and nowhere else.
"""

import functools
import html as htmllib
import random
import re
import secrets
import sys
from dataclasses import dataclass
from email.utils import formataddr, formatdate, parseaddr
from urllib.parse import quote, urlsplit

import markdown as markdown_lib
from django.conf import settings
from django.core import signing
from django.core.mail import EmailMultiAlternatives
from django.core.mail.message import sanitize_address
from django.template import Context
from django.template.base import TextNode, VariableDoesNotExist, VariableNode
from django.template.defaulttags import IfNode
from django.template.loader import render_to_string
from django.urls import get_script_prefix, get_urlconf, reverse

from capture.markdown import sanitize_html
from capture.services.notify import header_safe
from nurture.merge import Compiled, merge_context
from nurture.models import EmailMessage, SendingSettings, Step
from nurture.services.plaintext import html_to_text

OPEN_SALT = "nurture.open"
CLICK_SALT = "nurture.click"
UNSUBSCRIBE_SALT = "nurture.unsubscribe"


# --- Tokens -------------------------------------------------------------------------------


def open_token(message_id: int) -> str:
    return signing.Signer(salt=OPEN_SALT).sign(str(message_id))


def click_token(message_id: int, url: str) -> str:
    return signing.dumps({"m": message_id, "u": url}, salt=CLICK_SALT, compress=True)


def unsubscribe_token(message_id: int) -> str:
    return signing.Signer(salt=UNSUBSCRIBE_SALT).sign(str(message_id))


def _unsign_id(token: str, salt: str) -> int | None:
    try:
        value = signing.Signer(salt=salt).unsign(token)
    except signing.BadSignature:
        return None
    return int(value) if value.isdigit() else None


def open_token_read(token: str) -> int | None:
    return _unsign_id(token, OPEN_SALT)


def unsubscribe_token_read(token: str) -> int | None:
    return _unsign_id(token, UNSUBSCRIBE_SALT)


def click_token_read(token: str) -> tuple[int, str] | None:
    try:
        payload = signing.loads(token, salt=CLICK_SALT)
    except (signing.BadSignature, ValueError):
        return None
    if not isinstance(payload, dict):
        return None
    message_id, url = payload.get("m"), payload.get("u")
    if not isinstance(message_id, int) or not isinstance(url, str):
        return None
    if urlsplit(url).scheme not in ("http", "https"):
        return None
    return message_id, url


_ROUTE_PLACEHOLDER = "routeplaceholder"
# What reverse() leaves unquoted in a path (django.urls.resolvers).
_PATH_SAFE = "!$&'()*+,;=" + "/~:@"


@functools.lru_cache(maxsize=32)
def _public_parts(name: str, public_url: str, script_prefix: str, urlconf) -> tuple[str, str]:
    path = reverse(name, args=[_ROUTE_PLACEHOLDER], urlconf=urlconf)
    before, mark, after = path.partition(_ROUTE_PLACEHOLDER)
    if not mark:
        raise ValueError(f"{name}: the route does not take the token")
    return public_url + before, after


def _public(name: str, token: str) -> str:
    """``PUBLIC_URL`` + ``reverse(name, args=[token])``, the route read once per process
    (several links per email: reverse() per link cost more than the rest of the URL).
    Tokens are signed values (letters, digits, ``-_:.``), which reverse() leaves as they
    are; other characters are quoted as reverse() quotes them."""
    before, after = _public_parts(name, settings.PUBLIC_URL, get_script_prefix(),
                                  settings.ROOT_URLCONF if get_urlconf() is None
                                  else get_urlconf())
    return before + quote(token, safe=_PATH_SAFE) + after


def unsubscribe_url(message_id: int) -> str:
    return _public("nurture-public:unsubscribe", unsubscribe_token(message_id))


# --- Rendering ----------------------------------------------------------------------------


def _markdown(text: str) -> str:
    return markdown_lib.markdown(
        text, extensions=["tables", "fenced_code", "sane_lists"], output_format="html")


# The tags and attributes of landing pages (capture.markdown); links in emails go to the
# web or to a mailbox, nothing else (no javascript:, data:, relative or in-page links);
# images over https only.
EMAIL_LINK_PREFIXES = ("http://", "https://", "mailto:")


def sanitize_email_html(html: str) -> str:
    """Marketer HTML (with the lead's values in it) as what an email may contain."""
    return sanitize_html(html, link_prefixes=EMAIL_LINK_PREFIXES)


class _BodyHTML:
    """The body as sanitised HTML for one lead's values.

    Markdown sees a placeholder for each ``{{ field }}``; the lead's HTML-escaped values
    replace the placeholders in Markdown's HTML, and only then is the result sanitised.
    So a lead's values are never read as Markdown (data stays data, whatever "*" or "[" a
    name holds), a field may be a link's address (``[our site]({{ website }})``: the
    sanitiser judges the lead's actual URL, and keeps it only if it is http(s) or
    mailto), and nothing a value holds can survive as markup. A body of text and fields
    only (the usual case) goes through Markdown once per batch; a body with ``{% if %}``
    once per lead, the conditions deciding which text Markdown sees. The sanitiser runs
    once per lead.
    """

    def __init__(self, source: str):
        self._nodes = list(Compiled(source, autoescape=True).nodelist)
        self._nonce = secrets.token_hex(4)
        self._static = None
        if all(isinstance(n, TextNode | VariableNode) for n in self._nodes):
            fields: list[VariableNode] = []
            self._static = (_markdown(self._flatten(self._nodes, None, fields)), fields)

    def _placeholder(self, index: int) -> str:
        return f"mergefield{self._nonce}n{index}e"

    def _flatten(self, nodes, context, fields: list) -> str:
        parts = []
        for node in nodes:
            if isinstance(node, TextNode):
                parts.append(node.s)
            elif isinstance(node, VariableNode):
                parts.append(self._placeholder(len(fields)))
                fields.append(node)
            elif isinstance(node, IfNode):
                for condition, branch in node.conditions_nodelists:
                    if condition is None or _holds(condition, context):
                        parts.append(self._flatten(branch, context, fields))
                        break
        return "".join(parts)

    def render(self, values: dict[str, str]) -> str:
        context = Context(values, autoescape=True)
        if self._static is not None:
            html, fields = self._static
        else:
            fields = []
            html = _markdown(self._flatten(self._nodes, context, fields))
        for index, node in enumerate(fields):
            html = html.replace(self._placeholder(index), node.render(context))
        return sanitize_email_html(html)


def _holds(condition, context) -> bool:
    try:
        return bool(condition.eval(context))
    except VariableDoesNotExist:
        return False


class CompiledStep:
    """A step's templates, checked and compiled once per batch."""

    def __init__(self, step: Step):
        self.subject = Compiled(step.subject, autoescape=False)
        self.preheader = Compiled(step.preheader or "", autoescape=False)
        self.body_html = _BodyHTML(step.body)


# The sanitiser's output is regular: every kept link is href="…" with its value escaped.
_HREF = re.compile(r'href="(https?://[^"]*)"', re.IGNORECASE)


def _track_links(html: str, message_id: int) -> str:
    """Rewrite web links (already sanitised) to the signed click redirect."""

    def rewrite(match: re.Match) -> str:
        url = htmllib.unescape(match[1])
        return f'href="{_public("nurture-public:click", click_token(message_id, url))}"'

    return _HREF.sub(rewrite, html)


@dataclass
class Rendered:
    subject: str
    preheader: str
    text: str
    html: str
    unsubscribe_url: str = ""


def render(message: EmailMessage, compiled: CompiledStep, *, tracking: bool,
           sending: SendingSettings) -> Rendered:
    values = merge_context(message.lead)
    subject = header_safe(compiled.subject.render(values))
    preheader = " ".join(compiled.preheader.render(values).split())
    body_html = compiled.body_html.render(values)
    # The text part is the HTML body made readable (links as "text (url)"), with the
    # links' own addresses: a plain-text reader sees where a link goes.
    body_text = html_to_text(body_html)
    if tracking:
        body_html = _track_links(body_html, message.pk)
    unsubscribe = unsubscribe_url(message.pk)
    context = {
        "subject": subject,
        "preheader": preheader,
        "body_html": body_html,
        "body_text": body_text,
        "unsubscribe_url": unsubscribe,
        "postal_address": sending.postal_address.strip(),
        "pixel_url": _public("nurture-public:open", open_token(message.pk)) if tracking else "",
    }
    return Rendered(
        subject=subject,
        preheader=preheader,
        text=render_to_string("nurture/email/message.txt", context),
        html=render_to_string("nurture/email/message.html", context),
        unsubscribe_url=unsubscribe,
    )


def from_address(sending: SendingSettings) -> str:
    """From header; names lose CR/LF and control characters (no header injection)."""
    if sending.from_email:
        return formataddr((header_safe(sending.from_name), header_safe(sending.from_email, 254)))
    name, address = parseaddr(settings.DEFAULT_FROM_EMAIL)
    return formataddr((header_safe(name), header_safe(address, 254)))


def message_id_header(message_id: int) -> str:
    # The same for every attempt at one message, so a duplicate is recognisable as one.
    host = urlsplit(settings.PUBLIC_URL).hostname or "leadhub.localhost"
    return f"<nurture.{message_id}@{host}>"


def build(message: EmailMessage, rendered: Rendered, sending: SendingSettings,
          connection=None) -> EmailMultiAlternatives:
    unsubscribe = rendered.unsubscribe_url or unsubscribe_url(message.pk)
    email = EmailMultiAlternatives(
        subject=rendered.subject,
        body=rendered.text,
        from_email=from_address(sending),
        to=[header_safe(message.to_email, 254)],
        reply_to=[header_safe(sending.reply_to, 254)] if sending.reply_to else None,
        connection=connection,
        headers={
            "Message-ID": message_id_header(message.pk),
            # RFC 2369 and RFC 8058: mail clients show an unsubscribe button, and the
            # one-click POST to this URL unsubscribes without a page.
            "List-Unsubscribe": f"<{unsubscribe}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "Precedence": "bulk",
        },
    )
    email.attach_alternative(rendered.html, "text/html")
    return email


# --- The bytes on the wire ------------------------------------------------------------------

# A plain address (dot-atom local part, ASCII host name): sanitize_address() returns it
# unchanged, so it is used as it is; anything else goes through sanitize_address().
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_PLAIN_ADDRESS = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@{_LABEL}(?:\.{_LABEL})*")
_NEWLINES = re.compile(r"\r\n|\r|\n")
_LINE_LIMIT = 998  # RFC 5322 2.1.1, as django.core.mail's RFC5322_EMAIL_LINE_LENGTH_LIMIT


@dataclass
class Outgoing:
    """One email as the SMTP server receives it: the envelope and the message bytes."""

    from_email: str
    to: list[str]
    data: bytes


def _envelope_address(address: str) -> str:
    if _PLAIN_ADDRESS.fullmatch(address):
        return address
    return sanitize_address(address, settings.DEFAULT_CHARSET)


@functools.lru_cache(maxsize=8)
def _envelope_sender(address: str) -> str:  # the same From for a whole batch
    return _envelope_address(address)


def outgoing(message: EmailMessage, rendered: Rendered, sending: SendingSettings) -> Outgoing:
    """The message's bytes: what ``build(...).message().as_bytes()`` produces, written
    directly when every header is plain ASCII and no body line is longer than 998 bytes
    (the usual case; the email package's generator is most of a send's CPU time), else
    by Django itself. Both parse to the same headers and parts (tests compare them)."""
    email = build(message, rendered, sending)
    envelope_from = _envelope_sender(email.from_email)
    to = [_envelope_address(address) for address in email.recipients()]
    data = _plain_bytes(email, rendered)
    if data is None:
        data = email.message().as_bytes(linesep="\r\n")
    return Outgoing(from_email=envelope_from, to=to, data=data)


def _plain_bytes(email: EmailMultiAlternatives, rendered: Rendered) -> bytes | None:
    headers = [("Subject", email.subject), ("From", email.from_email),
               ("To", ", ".join(email.to))]
    if email.reply_to:
        headers.append(("Reply-To", ", ".join(email.reply_to)))
    headers.append(("Date", formatdate(localtime=settings.EMAIL_USE_LOCALTIME)))
    headers += list(email.extra_headers.items())
    lines = []
    for name, value in headers:
        line = f"{name}: {value}"
        if not line.isascii() or "\r" in line or "\n" in line or len(line) > _LINE_LIMIT:
            return None
        lines.append(line)
    parts = []
    for subtype, body in (("plain", rendered.text), ("html", rendered.html)):
        try:
            encoded = body.encode("utf-8")
        except UnicodeEncodeError:
            return None
        # Django switches to quoted-printable when a line is too long: leave it to Django.
        if any(len(line) > _LINE_LIMIT for line in encoded.splitlines()):
            return None
        cte = "7bit" if body.isascii() else "8bit"
        parts.append((subtype, cte, _NEWLINES.sub("\r\n", body)))
    while True:
        boundary = "=" * 15 + f"{random.randrange(sys.maxsize):019d}" + "=="  # noqa: S311
        if not any(f"--{boundary}" in text for _, _, text in parts):
            break
    out = [f'Content-Type: multipart/alternative; boundary="{boundary}"', "MIME-Version: 1.0",
           *lines, ""]
    for subtype, cte, text in parts:
        out += [f"--{boundary}", f'Content-Type: text/{subtype}; charset="utf-8"',
                "MIME-Version: 1.0", f"Content-Transfer-Encoding: {cte}", "", text]
    out.append(f"--{boundary}--\r\n")
    return "\r\n".join(out).encode("utf-8")
