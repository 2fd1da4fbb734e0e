"""Errors as RFC 9457 problem details (``application/problem+json``), one shape everywhere.

``{"type", "title", "status", "detail"}`` and, for problems with fields, ``errors``: a list of
``{"detail", "pointer"}`` (a JSON pointer into the body, ``#/tags/0``) or ``{"detail",
"parameter"}`` (a query or path parameter) or ``{"detail", "header"}``.
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

from django.http import HttpResponse

CONTENT_TYPE = "application/problem+json"
#: ``type`` is ``urn:sellerdesk:problem:<slug>``; plain HTTP problems are ``about:blank``.
TYPE_PREFIX = "urn:sellerdesk:problem:"


class Problem(Exception):
    """A client's mistake (or a refusal), answered as problem+json with this status."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        slug: str = "",
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.slug = slug
        self.errors = errors
        self.headers = headers or {}

    def response(self) -> HttpResponse:
        return problem_response(
            self.status, self.detail, slug=self.slug, errors=self.errors, headers=self.headers
        )


def problem_response(
    status: int,
    detail: str,
    *,
    slug: str = "",
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> HttpResponse:
    body: dict[str, Any] = {
        "type": f"{TYPE_PREFIX}{slug}" if slug else "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    if errors is not None:
        body["errors"] = errors
    response = HttpResponse(
        json.dumps(body, ensure_ascii=False), status=status, content_type=CONTENT_TYPE
    )
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def unauthorized(detail: str = "send a valid API key: Authorization: Bearer <key>") -> Problem:
    return Problem(401, detail, slug="unauthorized", headers={"WWW-Authenticate": "Bearer"})


def forbidden(detail: str) -> Problem:
    return Problem(403, detail, slug="forbidden")


def not_found(detail: str = "no such resource") -> Problem:
    return Problem(404, detail, slug="not-found")


def invalid(detail: str, *, errors: list[dict[str, Any]] | None = None) -> Problem:
    """422: well-formed JSON that breaks a rule."""
    return Problem(422, detail, slug="validation", errors=errors if errors is not None else [])


def field_error(detail: str, *, pointer: str = "", parameter: str = "", header: str = "") -> dict:
    where = (
        {"pointer": pointer}
        if pointer
        else {"parameter": parameter}
        if parameter
        else {"header": header}
        if header
        else {}
    )
    return {"detail": detail, **where}


def pointer(path: tuple[Any, ...] | list[Any]) -> str:
    """A JSON pointer (RFC 6901) as a URI fragment: ``#/tags/0``."""
    parts = [str(p).replace("~", "~0").replace("/", "~1") for p in path]
    return "#/" + "/".join(parts) if parts else "#"
