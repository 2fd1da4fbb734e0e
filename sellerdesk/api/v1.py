"""``/api/v1/``: the API object, its error handlers and its routers."""

from __future__ import annotations

import json
import logging
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.db import IntegrityError, InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.parser import Parser

from sellerdesk.api import services
from sellerdesk.api.guard import PARSED, internal_error
from sellerdesk.api.problems import (
    CONTENT_TYPE,
    Problem,
    field_error,
    invalid,
    pointer,
    problem_response,
    unauthorized,
)
from sellerdesk.api.selectors import BadCursor
from sellerdesk.conversations.interchange import InterchangeError
from sellerdesk.conversations.workflow import PermissionDenied
from sellerdesk.core.errors import ValidationError
from sellerdesk.reports.config import ReportConfigError

logger = logging.getLogger("sellerdesk.api")

DESCRIPTION = """\
sellerdesk's REST API for the marketplace's systems.

**Auth**: `Authorization: Bearer <key>`; keys are made with `sellerdesk apikey create`.
Scopes: *read* (every GET but reports), *write* (read and every change), *reports* (the
reports endpoint only). A key of one merchant sees and changes that merchant only.

**Errors** are RFC 9457 problem details (`application/problem+json`).
**Idempotency**: send `Idempotency-Key` on a POST or PUT that creates; a retry gets the stored
response. **Rate limit**: per key and minute; a 429 says when to retry (`Retry-After`).
"""


class JsonParser(Parser):
    """The body was parsed and checked once already, by the guard (``guard.py``)."""

    def parse_body(self, request: HttpRequest) -> Any:
        if hasattr(request, PARSED):
            return getattr(request, PARSED)
        return json.loads(request.body)


class SellerdeskAPI(NinjaAPI):
    def get_openapi_schema(self, **kwargs: Any) -> Any:
        """ninja's document, with problems documented as ``application/problem+json``."""
        schema = super().get_openapi_schema(**kwargs)
        for path in schema.get("paths", {}).values():
            for operation in path.values():
                for parameter in operation.get("parameters", []):
                    # A parameter is sent or not: none is ever null.
                    _drop_null(parameter["schema"])
                for code, answer in operation.get("responses", {}).items():
                    content = answer.get("content", {})
                    if int(code) >= 400 and "application/json" in content:
                        answer["content"] = {CONTENT_TYPE: content["application/json"]}
        return schema


def _drop_null(schema: dict[str, Any]) -> None:
    options = schema.get("anyOf")
    if options is None:
        return
    kept = [option for option in options if option.get("type") != "null"]
    del schema["anyOf"]
    if len(kept) == 1:
        schema.update(kept[0])
    else:
        schema["anyOf"] = kept


api = SellerdeskAPI(
    title="sellerdesk",
    version="1",
    description=DESCRIPTION,
    urls_namespace="api",
    parser=JsonParser(),
)


@api.exception_handler(Problem)
def _problem(request: HttpRequest, exc: Problem) -> HttpResponse:
    return exc.response()


@api.exception_handler(AuthenticationError)
def _unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return unauthorized().response()


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    # ninja's own: "Cannot parse request body" and the like.
    return problem_response(exc.status_code, str(exc))


@api.exception_handler(NinjaValidationError)
def _invalid(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
    errors = [_field_problem(error) for error in exc.errors]
    sources = {str(error.get("loc", ("body",))[0]) for error in exc.errors}
    where = "the body" if sources == {"body"} else "the request"
    return invalid(f"{where} does not fit the schema", errors=errors).response()


def _field_problem(error: dict[str, Any]) -> dict[str, Any]:
    location = list(error.get("loc", ()))
    source = str(location[0]) if location else "body"
    message = str(error.get("msg", "invalid"))
    if source == "body":
        # ninja's location names the view's body argument second: not part of the document.
        return field_error(message, pointer=pointer(location[2:]))
    if source == "header":
        return field_error(message, header=str(location[1]) if len(location) > 1 else "")
    return field_error(message, parameter=str(location[-1]) if len(location) > 1 else source)


@api.exception_handler(services.FieldError)
def _field(request: HttpRequest, exc: services.FieldError) -> HttpResponse:
    return invalid(str(exc), errors=[field_error(str(exc), pointer=f"#/{exc.field}")]).response()


@api.exception_handler(services.Conflict)
def _conflict(request: HttpRequest, exc: services.Conflict) -> HttpResponse:
    return problem_response(409, str(exc), slug="conflict")


@api.exception_handler(PermissionDenied)
def _denied(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
    return problem_response(403, str(exc), slug="forbidden")


@api.exception_handler(ValidationError)
def _refused(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    return invalid(str(exc)).response()


@api.exception_handler(ReportConfigError)
def _report_config(request: HttpRequest, exc: ReportConfigError) -> HttpResponse:
    return invalid(str(exc)).response()


@api.exception_handler(InterchangeError)
def _interchange(request: HttpRequest, exc: InterchangeError) -> HttpResponse:
    # The format's rules, applied by the services too (a country code, a timestamp).
    return invalid(str(exc)).response()


@api.exception_handler(BadCursor)
def _bad_cursor(request: HttpRequest, exc: BadCursor) -> HttpResponse:
    return Problem(
        400, str(exc), slug="bad-cursor", errors=[field_error(str(exc), parameter="cursor")]
    ).response()


@api.exception_handler(IntegrityError)
def _integrity(request: HttpRequest, exc: IntegrityError) -> HttpResponse:
    # A concurrent request stored the same thing first (a user's address, a merchant's id).
    logger.info("API request conflicted: %s", exc)
    return problem_response(409, "a concurrent request stored the same thing", slug="conflict")


@api.exception_handler(Http404)
def _not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return problem_response(404, str(exc) or "no such resource", slug="not-found")


@api.exception_handler(RequestDataTooBig)
def _too_big(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    return problem_response(413, "the body is too large", slug="too-large")


@api.exception_handler(OperationalError)
@api.exception_handler(InterfaceError)
def _database_away(request: HttpRequest, exc: Exception) -> HttpResponse:
    # A database restart or failover: a moment later the same request succeeds. Whether a
    # commit went through when the connection broke is unknown, so the advice is to retry
    # with the same Idempotency-Key, which answers with what was stored, or stores it once.
    logger.warning(
        "API request met the database away: %s %s: %s", request.method, request.path, exc
    )
    return problem_response(
        503,
        "the database is unavailable for a moment: try again (with the same Idempotency-Key)",
        slug="unavailable",
        headers={"Retry-After": "5"},
    )


@api.exception_handler(Exception)
def _failed(request: HttpRequest, exc: Exception) -> HttpResponse:
    logger.exception("API request failed: %s %s", request.method, request.path)
    return internal_error()


def _routes() -> None:
    from sellerdesk.api.endpoints import conversations, merchants, reports, search, tags, webhooks

    api.add_router("/merchants", merchants.router, tags=["merchants"])
    api.add_router("/conversations", conversations.router, tags=["conversations"])
    api.add_router("/tags", tags.router, tags=["tags"])
    api.add_router("/search", search.router, tags=["search"])
    api.add_router("/reports", reports.router, tags=["reports"])
    api.add_router("/webhooks", webhooks.router, tags=["webhooks"])


_routes()
