"""What every request to the API passes before django-ninja sees it, and what every answer
passes after: the body's size, type and JSON (413, 415, 400, 422), and problem+json for the
answers Django or ninja would otherwise give as HTML or text (404, 405, 500)."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from functools import cache, wraps
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    HttpResponseNotAllowed,
)

from sellerdesk.api.problems import Problem, field_error, invalid, pointer, problem_response
from sellerdesk.core.text import text_problem

logger = logging.getLogger("sellerdesk.api")

#: Where the parsed body waits for the API's parser (``JsonParser``).
PARSED = "_sellerdesk_json"
_LARGEST = 2**63 - 1
_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})


def guarded(
    view: Callable[..., HttpResponseBase], path: str = ""
) -> Callable[..., HttpResponseBase]:
    """``view`` behind the checks; ``path`` is its path in the OpenAPI document, whose query
    parameters are the only ones accepted (a misspelt filter is a mistake, not "no filter")."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        try:
            if path:
                _check_query(request, path)
            if request.method in _WITH_BODY:
                _read_body(request)
            response = view(request, *args, **kwargs)
        except Problem as problem:
            return problem.response()
        except Http404:
            return problem_response(404, "no such resource", slug="not-found")
        except RequestDataTooBig:
            return _too_large()
        except Exception:
            logger.exception("API request failed: %s %s", request.method, request.path)
            return internal_error()
        if isinstance(response, HttpResponseNotAllowed):
            return problem_response(
                405,
                f"{request.method} is not allowed here; allowed: {response['Allow']}",
                slug="method-not-allowed",
                headers={"Allow": response["Allow"]},
            )
        return response

    return wrapper


def _check_query(request: HttpRequest, path: str) -> None:
    known = query_parameters().get((path, request.method or ""))
    if known is None:
        return  # a method the path does not have: ninja answers 405
    unknown = sorted(name for name in request.GET if name not in known)
    if unknown:
        raise invalid(
            f"unknown query parameter {unknown[0]!r}",
            errors=[field_error("not a parameter of this operation", parameter=n) for n in unknown],
        )


@cache
def query_parameters() -> dict[tuple[str, str], frozenset[str]]:
    """(path, method) → the query parameters the OpenAPI document declares."""
    from sellerdesk.api.v1 import api

    document = api.get_openapi_schema()
    return {
        (path, method.upper()): frozenset(
            p["name"] for p in operation.get("parameters", []) if p["in"] == "query"
        )
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
    }


def not_found_view(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
    """Every path under the API that names no endpoint."""
    return problem_response(404, "no such endpoint", slug="not-found")


def internal_error() -> HttpResponse:
    # Nothing of the failure goes to the client: it is in the log.
    return problem_response(500, "the server failed to answer; the failure is logged")


def _too_large() -> HttpResponse:
    limit = settings.SELLERDESK_API_MAX_BODY_BYTES
    return problem_response(413, f"the body is larger than {limit} bytes", slug="too-large")


def _read_body(request: HttpRequest) -> None:
    """Check the body's size and type and parse its JSON once; raise a Problem if it is bad."""
    raw_length = request.META.get("CONTENT_LENGTH") or "0"
    try:
        length = int(raw_length)
    except ValueError:
        raise Problem(400, "Content-Length is not a number", slug="bad-request") from None
    if length > settings.SELLERDESK_API_MAX_BODY_BYTES:
        raise Problem(
            413,
            f"the body is larger than {settings.SELLERDESK_API_MAX_BODY_BYTES} bytes",
            slug="too-large",
        )
    body = request.body
    if len(body) > settings.SELLERDESK_API_MAX_BODY_BYTES:
        raise Problem(413, "the body is too large", slug="too-large")
    if not body:
        return
    content_type = (request.content_type or "").lower()
    if content_type != "application/json" and not content_type.endswith("+json"):
        raise Problem(
            415,
            f"send the body as application/json, not {request.content_type or 'untyped'}",
            slug="unsupported-media-type",
        )
    try:
        data = json.loads(body.decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise Problem(
            400, f"the body is not valid JSON: {_reason(error)}", slug="bad-json"
        ) from None
    errors = list(_value_problems(data))
    if errors:
        raise invalid("the body holds values no field can take", errors=errors)
    setattr(request, PARSED, data)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _reason(error: Exception) -> str:
    if isinstance(error, RecursionError):
        return "nested too deeply"
    if isinstance(error, UnicodeDecodeError):
        return "not UTF-8"
    return str(error)


def _value_problems(data: Any) -> Any:
    """Strings no database stores (NUL, lone surrogates) and integers no column holds, with
    where they are. Walked without recursion: JSON parsed from a bounded body."""
    stack: list[tuple[tuple[Any, ...], Any]] = [((), data)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            problem = text_problem(value)
            if problem:
                yield field_error(f"the text {problem}", pointer=pointer(path))
        elif isinstance(value, bool):
            continue
        elif isinstance(value, int):
            if not -_LARGEST <= value <= _LARGEST:
                yield field_error("the number is too large", pointer=pointer(path))
        elif isinstance(value, float):
            if not math.isfinite(value):
                yield field_error("the number is too large", pointer=pointer(path))
        elif isinstance(value, dict):
            for key, item in value.items():
                problem = text_problem(key)
                if problem:
                    yield field_error(f"a key {problem}", pointer=pointer(path))
                    continue
                stack.append(((*path, key), item))
        elif isinstance(value, list):
            stack.extend(((*path, index), item) for index, item in enumerate(value))
