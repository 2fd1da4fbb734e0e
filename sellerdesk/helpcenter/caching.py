"""Public help-center pages: an ETag from what the page shows, Cache-Control by who asks.

Anonymous readers get ``public`` pages that shared caches may keep for a few minutes; signed-in
people get ``private`` ones (their name and the comment form are on them). The language and the
person are part of the ETag, and ``Vary`` names what the page depends on.

A signed-in person's page carries a CSRF token (the comment form, the language switcher), and
Django gives the browser a new CSRF secret at each sign-in: the ETag names that secret (by a
hash, never the secret itself), so a copy holding a dead token is never answered with a 304.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.contrib.messages import get_messages
from django.http import HttpRequest, HttpResponse, HttpResponseNotModified
from django.middleware.csrf import get_token
from django.utils.cache import patch_vary_headers
from django.utils.http import http_date, parse_http_date_safe
from django.utils.translation import get_language

PUBLIC_MAX_AGE = 300


def cached_page(
    request: HttpRequest,
    parts: tuple[Any, ...],
    render: Callable[[], HttpResponse],
    *,
    last_modified: datetime | None = None,
    max_age: int = PUBLIC_MAX_AGE,
) -> HttpResponse:
    """``render()`` unless the reader's copy is still the page: its ETag (If-None-Match), or,
    for anonymous readers of a page that says when it last changed (``last_modified``: a
    published edition), its date (If-Modified-Since, when no If-None-Match is sent).

    The ETag covers the active translation (``get_language()``) as well as ``parts``."""
    user = request.user
    who = f"user:{user.pk}:{_csrf_secret_hash(request)}" if user.is_authenticated else "anonymous"
    digest = hashlib.sha256(repr((who, get_language(), *parts)).encode()).hexdigest()[:32]
    etag = f'W/"{digest}"'
    asked = request.headers.get("If-None-Match", "")
    # Only the anonymous page is dated: a date does not say whose page a browser holds.
    dated = last_modified if not user.is_authenticated else None
    # A flash message waiting ("thank you for your comment") must be shown, not a 304.
    waiting = bool(len(get_messages(request)))
    if not waiting and (
        etag in [tag.strip() for tag in asked.split(",")]
        or (not asked and dated is not None and _not_modified_since(request, dated))
    ):
        response: HttpResponse = HttpResponseNotModified()
    else:
        response = render()
    response["ETag"] = etag
    if dated is not None:
        response["Last-Modified"] = http_date(int(dated.timestamp()))
    response["Cache-Control"] = (
        "private, no-cache" if user.is_authenticated else f"public, max-age={max_age}"
    )
    patch_vary_headers(response, ("Cookie", "Accept-Language"))
    return response


def _csrf_secret_hash(request: HttpRequest) -> str:
    """A hash of the CSRF secret the signed-in page's token is made from. Without one (no
    cookie yet), the secret the page will carry is made now: it is new, so is the ETag."""
    if "CSRF_COOKIE" not in request.META:
        get_token(request)
    secret = str(request.META.get("CSRF_COOKIE", ""))
    return hashlib.sha256(f"sellerdesk-help-csrf:{secret}".encode()).hexdigest()[:16]


def _not_modified_since(request: HttpRequest, last_modified: datetime) -> bool:
    since = parse_http_date_safe(request.headers.get("If-Modified-Since", ""))
    return since is not None and int(last_modified.timestamp()) <= since
