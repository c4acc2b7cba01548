"""Marketer-written Markdown (landing-page bodies) to HTML that is safe to show visitors.

Markdown passes raw HTML through, so its output is only as safe as what the marketer
typed (or pasted from somewhere). nh3 (the Rust ammonia sanitiser) then keeps an
allow-list of tags and attributes and drops everything else: scripts and styles with
their content, event handlers, iframes, forms, and any URL whose scheme is not allowed.
"""

import markdown as markdown_lib
import nh3

ALLOWED_TAGS = {
    "h1", "h2", "h3", "h4", "h5", "h6",
    "p", "br", "hr",
    "ul", "ol", "li",
    "strong", "b", "em", "i", "del", "s", "sup", "sub",
    "a", "img",
    "blockquote",
    "code", "pre",
    "table", "thead", "tbody", "tr", "th", "td",
}
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "th": {"align"},
    "td": {"align"},
    "ol": {"start"},
}
# Removed together with their content (the default strips the tag but keeps the text).
REMOVE_WITH_CONTENT = {"script", "style", "template", "noscript", "iframe", "object", "svg",
                       "math", "textarea", "select", "title"}

LINK_PREFIXES = ("http://", "https://", "mailto:", "#")
IMAGE_PREFIXES = ("https://",)
LINK_REL = "noopener nofollow"


def _attribute_filter(link_prefixes: tuple[str, ...]):
    """Links only to what ``link_prefixes`` allow; images over https only (a plain-http
    image makes the page "mixed content"). Relative and protocol-relative URLs are
    dropped too: on a landing page or in an email they would point into LeadHub."""

    def allowed(tag: str, attribute: str, value: str) -> str | None:
        if attribute == "href":
            return value if value.strip().lower().startswith(link_prefixes) else None
        if attribute == "src":
            return value if value.strip().lower().startswith(IMAGE_PREFIXES) else None
        if attribute in ("width", "height", "start"):
            return value if value.isdigit() and len(value) <= 5 else None
        if attribute == "align":
            return value if value in ("left", "right", "center") else None
        return value

    return allowed


def sanitize_html(html: str, *, link_prefixes: tuple[str, ...] = LINK_PREFIXES) -> str:
    """Marketer HTML as what LeadHub shows: the tags and attributes above, links to the
    web, mail and (by default) this page's anchors."""
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        clean_content_tags=REMOVE_WITH_CONTENT,
        attributes=ALLOWED_ATTRIBUTES,
        attribute_filter=_attribute_filter(link_prefixes),
        url_schemes={"http", "https", "mailto"},
        link_rel=LINK_REL,
        strip_comments=True,
    )


def render_markdown(text: str) -> str:
    """Markdown (with tables and fenced code) as sanitised HTML."""
    html = markdown_lib.markdown(
        text or "",
        extensions=["tables", "fenced_code", "sane_lists"],
        extension_configs={"tables": {"use_align_attribute": True}},
        output_format="html",
    )
    return sanitize_html(html)
