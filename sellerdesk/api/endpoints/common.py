"""Pieces every operation shares: the problems it documents, path and header parameters."""

from __future__ import annotations

from typing import Annotated, Any

from django.http import HttpRequest
from ninja import Header, Path

from sellerdesk.api.models import ApiKey
from sellerdesk.api.schemas import ProblemOut, Text

#: Problems any operation may answer with.
_ALWAYS = (400, 401, 403, 404, 422, 429, 500)
#: And those with a body.
_WITH_BODY = (409, 413, 415)


def answers(ok: dict[int, Any], *, body: bool = False) -> dict[Any, Any]:
    """The ``response`` of an operation: its own answers and the problems it documents."""
    return {**ok, (_ALWAYS + _WITH_BODY) if body else _ALWAYS: ProblemOut}


ConversationId = Annotated[int, Path(ge=1, le=2**63 - 1, description="the conversation's id")]
MerchantId = Annotated[
    Text, Path(min_length=1, max_length=200, description="the marketplace's id of the merchant")
]
IdempotencyKey = Annotated[
    Text | None,
    Header(
        alias="Idempotency-Key",
        # Checked by ``idempotency.idempotent`` (a 400 for any malformed key, long ones too),
        # not by the schema, which would answer a long one alone with a 422.
        description="1 to 200 printable ASCII characters; a retry with the same key and body "
        "gets the stored response",
    ),
]


def key_of(request: HttpRequest) -> ApiKey:
    key = request.auth  # type: ignore[attr-defined]
    assert isinstance(key, ApiKey)
    return key
