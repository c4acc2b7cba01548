"""An email's text/plain part from its (sanitised) HTML body: what a reader without HTML
should see. Paragraphs and headings become blocks separated by a blank line, list items
``- …`` / ``1. …``, quotes ``> …``, a link ``text (url)`` (just the address when the text
is the address), an image its alt text, a table one line per row; ``<pre>`` keeps its
lines; every tag goes, entities are decoded, runs of spaces shrink to one."""

import re
from html.parser import HTMLParser

_BLOCKS = {"p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "table", "pre", "blockquote",
           "ul", "ol", "hr"}
_SPACES = re.compile(r"\s+")


class _Text(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.blocks: list[str] = []  # finished lines; "" separates blocks
        self.line: list[str] = []  # inline text of the line being built
        self.lists: list[list] = []  # [tag, next number] per open list
        self.links: list[tuple[str, int]] = []  # (href, where its text starts in line)
        self.marker = ""  # a list item's "  - " before its first line
        self.quotes = 0
        self.pre = 0
        self.cells = 0

    # Lines and blocks ----------------------------------------------------------------

    def _prefix(self) -> str:
        return "> " * self.quotes

    def _end_line(self) -> None:
        text = "".join(self.line)
        self.line = []
        lines = text.split("\n") if self.pre else [_SPACES.sub(" ", text).strip()]
        for line in lines:
            if line or self.pre:
                self.blocks.append(self._prefix() + self.marker + line.rstrip())
                self.marker = ""

    def _end_block(self) -> None:
        self._end_line()
        if self.blocks and self.blocks[-1] != "":
            self.blocks.append("")

    # Parser events -------------------------------------------------------------------

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in _BLOCKS or tag == "li":
            if tag == "li":
                self._end_line()
            elif not (tag in ("ul", "ol") and self.lists):
                self._end_block()
            else:
                self._end_line()
        if tag == "pre":
            self.pre += 1
        elif tag == "blockquote":
            self.quotes += 1
        elif tag in ("ul", "ol"):
            self.lists.append([tag, int(attrs.get("start") or 1)
                               if str(attrs.get("start") or "1").isdigit() else 1])
        elif tag == "li":
            depth = max(len(self.lists) - 1, 0)
            marker = "- "
            if self.lists and self.lists[-1][0] == "ol":
                marker = f"{self.lists[-1][1]}. "
                self.lists[-1][1] += 1
            self.marker = "  " * depth + marker
        elif tag == "br":
            self._end_line()
        elif tag == "hr":
            self.blocks.append(self._prefix() + "----")
            self.blocks.append("")
        elif tag == "a":
            self.links.append((attrs.get("href") or "", len(self.line)))
        elif tag == "img" and attrs.get("alt"):
            self.line.append(attrs["alt"])
        elif tag == "tr":
            self._end_line()
            self.cells = 0
        elif tag in ("td", "th"):
            if self.cells:
                self.line.append(" | ")
            self.cells += 1

    def handle_endtag(self, tag):
        if tag == "a" and self.links:
            href, start = self.links.pop()
            text = _SPACES.sub(" ", "".join(self.line[start:])).strip()
            address = href[len("mailto:"):] if href.lower().startswith("mailto:") else href
            if address and address != text:
                self.line.append(f" ({address})" if text else address)
        elif tag == "pre":
            self._end_block()
            self.pre = max(self.pre - 1, 0)
        elif tag == "blockquote":
            self._end_block()
            self.quotes = max(self.quotes - 1, 0)
        elif tag in ("ul", "ol"):
            if self.lists:
                self.lists.pop()
            if self.lists:
                self._end_line()
            else:
                self._end_block()
        elif tag in ("li", "tr"):
            self._end_line()
        elif tag in _BLOCKS:
            self._end_block()

    def handle_data(self, data):
        self.line.append(data)

    def text(self) -> str:
        self._end_block()
        return "\n".join(self.blocks).strip("\n")


def html_to_text(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    parser.close()
    return parser.text()
