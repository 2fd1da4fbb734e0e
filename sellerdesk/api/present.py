"""Rows as the API shows them, and the one way responses are written (through the response
schemas, so a stored idempotent response and a fresh one are the same bytes)."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from ninja import Schema

from sellerdesk.accounts.models import Merchant, User
from sellerdesk.api.models import ApiKey
from sellerdesk.conversations.models import Attachment, Conversation, Message, Tag


def respond(
    schema: type[Schema], data: Any, *, status: int = 200, location: str = ""
) -> HttpResponse:
    # pydantic writes the JSON itself (UTF-8, compact): no dict of Python objects between.
    body = schema.model_validate(data).model_dump_json(by_alias=True)
    response = HttpResponse(body, status=status, content_type="application/json")
    if location:
        response["Location"] = location
    return response


def merchant(row: Merchant) -> dict[str, Any]:
    return {
        "id": row.external_id,
        "name": row.name,
        "country": row.country,
        "status": row.status,
        "language": row.language,
        "created_at": row.created_at,
    }


def user(row: User) -> dict[str, Any]:
    return {
        "id": row.pk,
        "email": row.email,
        "full_name": row.full_name,
        "active": row.is_active,
        "password_set": row.has_usable_password(),
        "created_at": row.date_joined,
    }


def conversation(row: Conversation, key: ApiKey) -> dict[str, Any]:
    """``row`` with merchant, assignee, team and its tags (ordered by name) loaded."""
    internal = key.merchant_id is None
    return {
        "id": row.pk,
        "external_id": row.external_id,
        "merchant": {
            "id": row.merchant.external_id,
            "name": row.merchant.name,
            "country": row.merchant.country,
        },
        "country": row.country,
        "channel": row.channel,
        "kind": row.kind,
        "initiated_by": row.initiated_by,
        "subject": row.subject,
        "status": row.status,
        "priority": row.priority,
        "outcome": row.outcome,
        "spam": row.spam,
        "assignee": row.assignee.email if internal and row.assignee else None,
        "team": row.team.name if internal and row.team else None,
        "order_ref": row.order_ref,
        "product_ref": row.product_ref,
        "invoice_ref": row.invoice_ref,
        "tags": [tag.name for tag in row.tags.all()],
        "created_at": row.created_at,
        "updated_at": row.updated_at,
        "first_response_at": row.first_response_at,
        "resolved_at": row.resolved_at,
        "merchant_due_at": row.merchant_due_at,
    }


def message(row: Message, *, attachments: list[Attachment] | None = None) -> dict[str, Any]:
    """``row`` with its attachments loaded, or with ``attachments`` given (a message just
    written through the API has none: no query to learn it)."""
    if attachments is None:
        attachments = list(row.attachments.all())
    return {
        "id": row.pk,
        "author_type": row.author_type,
        "author_name": row.author_name,
        "public": row.public,
        "body": row.body,
        "created_at": row.created_at,
        "attachments": [
            {"id": a.pk, "filename": a.filename, "content_type": a.content_type, "size": a.size}
            for a in attachments
        ],
    }


def tag(row: Tag) -> dict[str, Any]:
    return {"name": row.name, "display_name": row.display_name}
