"""Search over conversations' subjects and messages (conversations.search)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse
from ninja import Query, Router, Schema
from pydantic import Field

from sellerdesk.api import present, selectors
from sellerdesk.api.auth import READ
from sellerdesk.api.endpoints.common import answers, key_of
from sellerdesk.api.schemas import SearchPage, Text
from sellerdesk.conversations import search
from sellerdesk.conversations.models import Kind, Status

router = Router()


class SearchQuery(Schema):
    q: Text = Field(
        min_length=1,
        max_length=search.MAX_QUERY_CHARS,
        description=f'words or "quoted phrases", at most {search.MAX_QUERY_CHARS} characters '
        f"and {search.MAX_TERMS} terms; each must be in the subject or in one message",
    )
    status: Status | None = None
    kind: Kind | None = None
    tag: Text | None = Field(default=None, max_length=200)
    merchant: Text | None = Field(default=None, max_length=200, description="a merchant's id")
    cursor: Text | None = Field(default=None, max_length=500, description="from `next`")
    limit: int = Field(default=50, ge=1, le=100)


@router.get(
    "",
    auth=READ,
    response=answers({200: SearchPage}),
    summary="Search conversations",
    description="Subjects and messages in any script, with the list's filters. Conversations "
    "whose subject matches come first, then those where a message does, each newest first. "
    "A merchant's key finds its own conversations and public messages only. Follow `next`.",
)
def search_conversations(
    request: HttpRequest, query: Annotated[SearchQuery, Query()]
) -> HttpResponse:
    key = key_of(request)
    filters = selectors.ConversationFilters(
        status=query.status or "",
        kind=query.kind or "",
        tag=query.tag or "",
        merchant=query.merchant or "",
    )
    page = selectors.search_page(
        key=key, text=query.q, filters=filters, cursor=query.cursor, limit=query.limit
    )
    next_url = None
    if page.next_cursor:
        params = {
            name: value
            for name, value in query.model_dump(mode="json").items()
            if value is not None and name != "cursor"
        }
        params["cursor"] = page.next_cursor
        next_url = request.build_absolute_uri(f"{request.path}?{urlencode(params)}")
    items = [
        {
            "conversation": present.conversation(hit.conversation, key),
            "matched": "subject" if hit.rank == search.SUBJECT else "message",
            "snippet": str(hit.snippet),
        }
        for hit in page.hits
    ]
    return present.respond(SearchPage, {"items": items, "next": next_url})
