"""Public help-center pages: an ETag from what the page shows, Cache-Control by who asks.

Anonymous readers get ``public`` pages that shared caches may keep for a few minutes; signed-in
people get ``private`` ones (their name and the comment form are on them). The language and the
person are part of the ETag, and ``Vary`` names what the page depends on.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from django.contrib.messages import get_messages
from django.http import HttpRequest, HttpResponse, HttpResponseNotModified
from django.utils.cache import patch_vary_headers

PUBLIC_MAX_AGE = 300


def cached_page(
    request: HttpRequest, parts: tuple[Any, ...], render: Callable[[], HttpResponse]
) -> HttpResponse:
    """``render()`` unless the reader's copy (If-None-Match) is still the page."""
    user = request.user
    who = f"user:{user.pk}" if user.is_authenticated else "anonymous"
    digest = hashlib.sha256(repr((who, *parts)).encode()).hexdigest()[:32]
    etag = f'W/"{digest}"'
    asked = request.headers.get("If-None-Match", "")
    # A flash message waiting ("thank you for your comment") must be shown, not a 304.
    waiting = bool(len(get_messages(request)))
    if not waiting and etag in [tag.strip() for tag in asked.split(",")]:
        response: HttpResponse = HttpResponseNotModified()
    else:
        response = render()
    response["ETag"] = etag
    response["Cache-Control"] = (
        "private, no-cache" if user.is_authenticated else f"public, max-age={PUBLIC_MAX_AGE}"
    )
    patch_vary_headers(response, ("Cookie", "Accept-Language"))
    return response
