"""Tags, for autocomplete and filters."""

from __future__ import annotations

from typing import Annotated

from django.http import HttpRequest, HttpResponse
from ninja import Query, Router

from sellerdesk.api import present, selectors
from sellerdesk.api.auth import READ
from sellerdesk.api.endpoints.common import answers, key_of
from sellerdesk.api.schemas import TagList, Text

router = Router()


@router.get(
    "",
    auth=READ,
    response=answers({200: TagList}),
    summary="Tags by prefix",
    description="Names starting with the prefix (case-insensitive), then names containing it. "
    "With a merchant's key: only the tags on that merchant's conversations.",
)
def tags_list(
    request: HttpRequest,
    prefix: Annotated[Text, Query("", max_length=200)] = "",
    limit: Annotated[int, Query(20, ge=1, le=100)] = 20,
) -> HttpResponse:
    tags = selectors.tags_matching(key=key_of(request), prefix=prefix, limit=limit)
    return present.respond(TagList, {"items": [present.tag(t) for t in tags]})
