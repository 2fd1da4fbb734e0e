"""Markdown for people who read it in a browser: CommonMark rendered with raw HTML off, then
sanitized with nh3 (the allow-list below), so nothing an author types runs in a reader's page."""

from __future__ import annotations

import nh3
from markdown_it import MarkdownIt

_MD = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")
ALLOWED_TAGS = {
    "a", "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "strong", "em",
    "code", "pre", "blockquote", "table", "thead", "tbody", "tr", "th", "td", "img",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title"},
    "th": {"style"},
    "td": {"style"},
}


def markdown_to_html(text: str) -> str:
    """Sanitized HTML for an article body written in Markdown."""
    return clean_html(_MD.render(text))


def clean_html(html: str) -> str:
    """``html`` with only the allow-list left. Articles are stored sanitized, and their pages
    sanitize again as they render: what reaches a reader never depends on how the row was
    written (an import, a restore, a hand-made fix in the database)."""
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
        filter_style_properties={"text-align"},
    )
