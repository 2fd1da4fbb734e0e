"""Conversations and their messages."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from ninja import Query, Router, Schema
from pydantic import Field

from sellerdesk.api import present, selectors, services
from sellerdesk.api.auth import READ, WRITE
from sellerdesk.api.endpoints.common import ConversationId, IdempotencyKey, answers, key_of
from sellerdesk.api.idempotency import idempotent
from sellerdesk.api.problems import field_error, invalid
from sellerdesk.api.schemas import (
    ConversationDetail,
    ConversationIn,
    ConversationPage,
    ConversationPatch,
    MessageIn,
    MessageList,
    MessageOut,
    Text,
)
from sellerdesk.conversations.models import Kind, Status
from sellerdesk.core.timeutil import TimestampError, parse_rfc3339

router = Router()


def _detail(request: HttpRequest, pk: int, *, status: int = 200) -> HttpResponse:
    key = key_of(request)
    row = selectors.conversation_get(key=key, pk=pk)
    data = {
        **present.conversation(row, key),
        "counts": selectors.conversation_counts(key=key, conversation=row),
    }
    location = reverse("api:conversation_get", kwargs={"conversation_id": row.pk})
    return present.respond(
        ConversationDetail, data, status=status, location=location if status == 201 else ""
    )


@router.post(
    "",
    auth=WRITE,
    response=answers({201: ConversationDetail}, body=True),
    summary="File a conversation for a merchant",
    description="The merchant is its author. A merchant's key files for its own merchant and "
    "sets no tags.",
)
def conversation_create(
    request: HttpRequest, payload: ConversationIn, idempotency_key: IdempotencyKey = None
) -> HttpResponse:
    key = key_of(request)

    def create() -> HttpResponse:
        conversation = services.conversation_create(
            key=key,
            merchant_id=payload.merchant_id,
            kind=payload.kind,
            subject=payload.subject,
            body=payload.body,
            channel=payload.channel,
            order_ref=payload.order_ref,
            product_ref=payload.product_ref,
            invoice_ref=payload.invoice_ref,
            author_name=payload.author_name,
            tags=payload.tags,
            actor_email=payload.actor_email,
        )
        return _detail(request, conversation.pk, status=201)

    return idempotent(request, key, idempotency_key, create)


class ConversationQuery(Schema):
    status: Status | None = None
    kind: Kind | None = None
    tag: Text | None = Field(default=None, max_length=200)
    merchant: Text | None = Field(default=None, max_length=200, description="a merchant's id")
    updated_since: Text | None = Field(
        default=None,
        max_length=40,
        description="RFC 3339; then ordered by updated_at, oldest first",
    )
    cursor: Text | None = Field(default=None, max_length=500, description="from `next`")
    limit: int = Field(default=50, ge=1, le=100)


@router.get(
    "",
    auth=READ,
    response=answers({200: ConversationPage}),
    summary="Conversations, a page at a time",
    description="Newest first; with updated_since, by updated_at, oldest first. Follow `next`.",
)
def conversations_list(
    request: HttpRequest, query: Annotated[ConversationQuery, Query()]
) -> HttpResponse:
    key = key_of(request)
    since = None
    if query.updated_since is not None:
        try:
            since = parse_rfc3339(query.updated_since)
        except TimestampError as error:
            raise invalid(
                str(error), errors=[field_error(str(error), parameter="updated_since")]
            ) from None
    filters = selectors.ConversationFilters(
        status=query.status or "",
        kind=query.kind or "",
        tag=query.tag or "",
        merchant=query.merchant or "",
        updated_since=since,
    )
    page = selectors.conversation_page(
        key=key, filters=filters, cursor=query.cursor, limit=query.limit
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
    return present.respond(
        ConversationPage,
        {"items": [present.conversation(row, key) for row in page.rows], "next": next_url},
    )


@router.get(
    "/{conversation_id}",
    auth=READ,
    response=answers({200: ConversationDetail}),
    summary="A conversation, with its tags and counts",
    url_name="conversation_get",
)
def conversation_get(request: HttpRequest, conversation_id: ConversationId) -> HttpResponse:
    return _detail(request, conversation_id)


@router.patch(
    "/{conversation_id}",
    auth=WRITE,
    response=answers({200: ConversationDetail}, body=True),
    summary="Change status, assignee, kind, outcome, priority or tags",
    description="Each change goes through the desk's workflow and its trail, all or nothing. "
    "A merchant's key may only set status to solved.",
)
def conversation_patch(
    request: HttpRequest, conversation_id: ConversationId, payload: ConversationPatch
) -> HttpResponse:
    key = key_of(request)
    conversation = selectors.conversation_get(key=key, pk=conversation_id)
    services.conversation_change(
        key=key, conversation=conversation, changes=payload.model_dump(exclude_unset=True)
    )
    return _detail(request, conversation_id)


@router.get(
    "/{conversation_id}/messages",
    auth=READ,
    response=answers({200: MessageList}),
    summary="The thread",
    description="Internal notes only for a key of no merchant.",
)
def messages_list(request: HttpRequest, conversation_id: ConversationId) -> HttpResponse:
    key = key_of(request)
    conversation = selectors.conversation_get(key=key, pk=conversation_id)
    messages = selectors.thread(key=key, conversation=conversation)
    return present.respond(MessageList, {"items": [present.message(m) for m in messages]})


@router.post(
    "/{conversation_id}/messages",
    auth=WRITE,
    response=answers({201: MessageOut}, body=True),
    summary="Reply, or write an internal note",
    description="With a merchant's key: the merchant's public reply. With a key of no "
    "merchant: a staff member's reply or note, named by author_email.",
)
def message_post(
    request: HttpRequest,
    conversation_id: ConversationId,
    payload: MessageIn,
    idempotency_key: IdempotencyKey = None,
) -> HttpResponse:
    key = key_of(request)

    def create() -> HttpResponse:
        # Read (404 when the key may not see it) and locked in one statement, with the
        # author it names, in the transaction that writes the message.
        conversation = selectors.conversation_lock(
            key=key, pk=conversation_id, author_email=payload.author_email
        )
        message = services.message_post(
            key=key,
            conversation=conversation,
            locked=True,
            body=payload.body,
            public=payload.public,
            author_email=payload.author_email,
            author_name=payload.author_name,
            status=payload.status,
        )
        # The API sends no files: the new message has no attachments.
        return present.respond(MessageOut, present.message(message, attachments=[]), status=201)

    return idempotent(request, key, idempotency_key, create)
