"""HTML-only mail as text: sanitized with nh3 (scripts, styles and event handlers gone), then
written out as plain text with line breaks where blocks end, list bullets, link targets and
``>`` before quoted blocks (so the quote finder sees them)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import nh3

_KEEP = {
    "a", "p", "br", "div", "span", "li", "ul", "ol", "blockquote", "h1", "h2", "h3", "h4",
    "h5", "h6", "pre", "table", "thead", "tbody", "tr", "td", "th", "hr", "b", "strong", "i",
    "em", "u", "code", "font", "center", "section", "article", "header", "footer",
}  # fmt: skip
_BLOCKS = {
    "p", "div", "ul", "ol", "blockquote", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "table",
    "tr", "hr", "center", "section", "article", "header", "footer",
}  # fmt: skip
_SPACES = re.compile(r"[ \t\r\n\f\u00a0]+")


def sanitize(html: str) -> str:
    """Only harmless markup: no scripts, styles, event handlers, images or foreign links."""
    return nh3.clean(
        html,
        tags=_KEEP,
        clean_content_tags={"script", "style", "title", "noscript", "template"},
        attributes={"a": {"href"}},
        url_schemes={"http", "https", "mailto"},
        link_rel=None,
        strip_comments=True,
    )


class _TextWriter(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[tuple[int, str]] = []
        self.current: list[str] = []
        self.current_depth = 0
        self.depth = 0
        self.pre = 0
        self.href: list[str | None] = []
        self.link_text: list[str] = []

    def newline(self) -> None:
        self.lines.append((self.current_depth, "".join(self.current).rstrip()))
        self.current = []
        self.current_depth = self.depth

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if (tag in _BLOCKS or tag == "li") and self.current:
            self.newline()
        if tag == "blockquote":
            self.depth += 1
            self.current_depth = self.depth
        elif tag == "br":
            self.newline()
        elif tag == "li":
            self.current.append("- ")
        elif tag == "pre":
            self.pre += 1
        elif tag in {"td", "th"} and self.current:
            self.current.append("  ")
        elif tag == "hr":
            self.current.append("---")
            self.newline()
        elif tag == "a":
            self.href.append(dict(attrs).get("href"))
            self.link_text.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self.href:
            href = self.href.pop()
            text = self.link_text.pop().strip()
            target = (href or "").removeprefix("mailto:")
            if href and target and target != text:
                self.current.append(f" ({target})")
        elif tag == "pre":
            self.pre = max(self.pre - 1, 0)
        if tag in _BLOCKS or tag == "li":
            if self.current:
                self.newline()
            if tag == "blockquote":
                self.depth = max(self.depth - 1, 0)
                self.current_depth = self.depth
            if tag in {"p", "blockquote", "table", "ul", "ol"}:
                self.lines.append((self.depth, ""))

    def handle_data(self, data: str) -> None:
        if not self.pre:
            data = _SPACES.sub(" ", data)
            if not self.current or self.current[-1].endswith((" ", "\n")):
                data = data.lstrip(" ")
        if not data:
            return
        if not self.current:
            self.current_depth = self.depth
        if self.pre and "\n" in data:
            first, *rest = data.split("\n")
            self.current.append(first)
            for piece in rest:
                self.newline()
                self.current.append(piece)
        else:
            self.current.append(data)
        if self.link_text:
            self.link_text[-1] += data

    def text(self) -> str:
        if self.current:
            self.newline()
        out: list[str] = []
        for depth, line in self.lines:
            if not line and out and not out[-1].strip("> "):
                continue  # one blank line at most
            out.append(("> " * depth + line) if depth else line)
        return "\n".join(out).strip("\n")


def html_to_text(html: str) -> str:
    """Sanitize, then write the HTML out as plain text."""
    writer = _TextWriter()
    writer.feed(sanitize(html))
    writer.close()
    return writer.text()
