"""Mounted at ``/api/v1/`` by the project's urls: ninja's patterns, each behind the guard, and
a problem+json 404 for every other path under it."""

from __future__ import annotations

import re

from django.urls import URLPattern, URLResolver, re_path

from sellerdesk.api.guard import guarded, not_found_view
from sellerdesk.api.v1 import api

_patterns, _app, _namespace = api.urls
app_name = _namespace


def _guard(pattern: URLPattern | URLResolver) -> URLPattern:
    assert isinstance(pattern, URLPattern), pattern
    # The route as the OpenAPI document writes it: conversations/<conversation_id>
    # → /api/v1/conversations/{conversation_id} (the openapi and docs routes have none).
    path = "/api/v1/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", str(pattern.pattern))
    return URLPattern(
        pattern.pattern, guarded(pattern.callback, path), pattern.default_args, pattern.name
    )


urlpatterns = [*(_guard(p) for p in _patterns), re_path(r"", not_found_view, name="not_found")]
