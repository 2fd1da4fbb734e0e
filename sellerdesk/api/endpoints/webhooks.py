"""Webhook subscriptions, their delivery log and replays: for write keys of no merchant."""

from __future__ import annotations

from typing import Annotated

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from ninja import Path, Router

from sellerdesk.accounts.models import Merchant
from sellerdesk.api import present, webhooks
from sellerdesk.api.auth import WRITE
from sellerdesk.api.endpoints.common import IdempotencyKey, answers, key_of
from sellerdesk.api.idempotency import idempotent
from sellerdesk.api.models import ApiKey, WebhookSubscription
from sellerdesk.api.problems import field_error, forbidden, invalid
from sellerdesk.api.schemas import (
    DeliveryList,
    WebhookCreated,
    WebhookIn,
    WebhookList,
    WebhookReplayed,
    WebhookReplayIn,
)
from sellerdesk.api.services import FieldError
from sellerdesk.core.errors import ValidationError
from sellerdesk.core.timeutil import TimestampError, parse_rfc3339

router = Router()

WebhookId = Annotated[int, Path(ge=1, le=2**63 - 1, description="the subscription's id")]


def _marketplace_key(request: HttpRequest) -> ApiKey:
    key = key_of(request)
    if key.merchant_id is not None:
        raise forbidden("webhooks are managed with a key of no merchant")
    return key


def _subscription(request: HttpRequest, pk: int) -> WebhookSubscription:
    _marketplace_key(request)
    return get_object_or_404(webhooks.webhook_list(), pk=pk)


def _shown(row: WebhookSubscription) -> dict:
    return {
        "id": row.pk,
        "url": row.url,
        "events": row.events,
        "active": row.active,
        "merchant_id": row.merchant.external_id if row.merchant else None,
        "created_at": row.created_at,
    }


@router.post(
    "",
    auth=WRITE,
    response=answers({201: WebhookCreated}, body=True),
    summary="Subscribe to events",
    description="The answer holds the secret that signs every delivery: it is shown this once.",
)
def webhook_create(
    request: HttpRequest, payload: WebhookIn, idempotency_key: IdempotencyKey = None
) -> HttpResponse:
    key = _marketplace_key(request)
    merchant = None
    if payload.merchant_id is not None:
        merchant = Merchant.objects.filter(external_id=payload.merchant_id).first()
        if merchant is None:
            raise FieldError("merchant_id", "no merchant has this id")

    def create() -> HttpResponse:
        try:
            row, secret = webhooks.webhook_subscribe(
                url=payload.url, events=[e.value for e in payload.events], merchant=merchant
            )
        except ValidationError as error:
            raise FieldError("url", str(error)) from None
        # A retry with the same Idempotency-Key gets this answer again, secret included: a
        # client that lost the first answer would otherwise hold a subscription it cannot verify.
        return present.respond(WebhookCreated, {**_shown(row), "secret": secret}, status=201)

    return idempotent(request, key, idempotency_key, create)


@router.get("", auth=WRITE, response=answers({200: WebhookList}), summary="Subscriptions")
def webhook_index(request: HttpRequest) -> HttpResponse:
    _marketplace_key(request)
    return present.respond(WebhookList, {"items": [_shown(r) for r in webhooks.webhook_list()]})


@router.delete("/{webhook_id}", auth=WRITE, response=answers({204: None}), summary="Unsubscribe")
def webhook_remove(request: HttpRequest, webhook_id: WebhookId) -> HttpResponse:
    webhooks.webhook_delete(subscription=_subscription(request, webhook_id))
    return HttpResponse(status=204)


@router.get(
    "/{webhook_id}/deliveries",
    auth=WRITE,
    response=answers({200: DeliveryList}),
    summary="The delivery log",
    description=f"The latest {webhooks.DELIVERIES_SHOWN} deliveries, newest first.",
)
def webhook_deliveries(request: HttpRequest, webhook_id: WebhookId) -> HttpResponse:
    items = webhooks.webhook_deliveries(subscription=_subscription(request, webhook_id))
    fields = ("id", "key", "status", "attempts", "last_error", "created_at")
    rows = [
        {
            **{name: getattr(item, name) for name in fields},
            "next_attempt_at": item.next_attempt_at,
            "delivered_at": item.delivered_at,
        }
        for item in items
    ]
    return present.respond(DeliveryList, {"items": rows})


@router.post(
    "/{webhook_id}/replay",
    auth=WRITE,
    response=answers({200: WebhookReplayed}, body=True),
    summary="Send deliveries again",
    description="`delivery_ids`, or `since` (RFC 3339): one of the two.",
)
def webhook_replay(
    request: HttpRequest, webhook_id: WebhookId, payload: WebhookReplayIn
) -> HttpResponse:
    subscription = _subscription(request, webhook_id)
    if (payload.delivery_ids is None) == (payload.since is None):
        raise invalid("send delivery_ids or since (one of the two)")
    since = None
    if payload.since is not None:
        try:
            since = parse_rfc3339(payload.since)
        except TimestampError as error:
            raise invalid(str(error), errors=[field_error(str(error), pointer="#/since")]) from None
    count = webhooks.webhook_replay(
        subscription=subscription, delivery_ids=payload.delivery_ids or (), since=since
    )
    return present.respond(WebhookReplayed, {"requeued": count})
