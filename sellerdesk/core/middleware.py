"""Request checks that hold for every page and endpoint, before any view runs."""

from __future__ import annotations

import json
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse


class RefuseNulCharactersMiddleware:
    """Answer 400 to a query string or form with a NUL character, whatever the view.

    No text a person types holds one, and PostgreSQL refuses it in any text value, so a view
    that filters or stores it would fail with a 500. The answer is a problem detail (RFC 9457),
    the shape the API answers every client mistake with. The API itself (``/api/``) is left
    to its schemas, which answer 422 naming the parameter or field.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info.startswith("/api/"):
            return self.get_response(request)
        for where, data in (("query string", request.GET), ("form", request.POST)):
            if any("\x00" in key or any("\x00" in v for v in data.getlist(key)) for key in data):
                return _bad_request(f"the {where} contains a NUL character")
        return self.get_response(request)


def _bad_request(detail: str) -> HttpResponse:
    body = {"type": "about:blank", "title": "Bad Request", "status": 400, "detail": detail}
    return HttpResponse(json.dumps(body), status=400, content_type="application/problem+json")
