"""Template filters of the help center."""

from __future__ import annotations

from django import template
from django.utils.safestring import SafeString, mark_safe

from sellerdesk.helpcenter.markup import clean_html

register = template.Library()


@register.filter(name="clean_html")
def clean_html_filter(html: str) -> SafeString:
    """Stored article HTML, sanitized again on the way out (see ``markup.clean_html``)."""
    return mark_safe(clean_html(html or ""))  # noqa: S308  (nh3's allow-list output)
