"""The language switcher on the merchant-facing pages."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django import template
from django.conf import settings
from django.http import QueryDict
from django.utils.translation import get_language

from sellerdesk.core import i18n

register = template.Library()


@register.filter
def date_words(value: date | datetime | None, mode: str = "") -> str:
    """``{{ d|date_words }}`` 3 December 2026; ``:"time"`` with the time; ``:"short"`` no year."""
    return i18n.date_words(value, year=mode != "short", time=mode == "time")


@register.inclusion_tag("core/_language_switcher.html", takes_context=True)
def language_switcher(context: dict[str, Any], cacheable: bool = False) -> dict[str, Any]:
    """One button per language (POST to ``set_language`` with CSRF); ``next`` is this page
    without its ``?lang=``, so the choice is not overridden on the way back.

    ``cacheable``: a page that shared caches keep for anonymous readers (the help center)
    must not carry a CSRF token, which belongs to one visitor's cookie: there an anonymous
    reader gets ``?lang=`` links instead (the help center's links keep that language)."""
    request = context.get("request")
    next_url = "/"
    user = context.get("user")
    links = cacheable and not (user is not None and user.is_authenticated)
    if request is not None:
        query = QueryDict(mutable=True)
        query.update(request.GET)
        query.pop("lang", None)
        next_url = request.path + (f"?{query.urlencode()}" if query else "")
    return {
        "request": request,
        "csrf_token": context.get("csrf_token"),
        "languages": settings.LANGUAGES,
        "current": get_language(),
        "next_url": next_url,
        "links": links,
    }
