"""Webhooks: subscriptions, the events the workflow emits, and their signed delivery.

An event is written as one outbox item (kind ``webhook``) per matching active subscription, in
the transaction of the change that causes it: a rolled-back change sends nothing. The worker
delivers it (``deliver``, registered with the outbox) with the outbox's retries and backoff;
the outbox rows are the delivery log. Each request carries ``Webhook-Id`` (the item's key, the
same on every attempt and replay), ``Webhook-Timestamp`` (unix seconds, at sending) and
``Webhook-Signature: v1=<hex HMAC-SHA256 of "<timestamp>.<body>">`` under the subscription's
secret; ``verify`` is the receiver's side (README, "Webhooks").
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from sellerdesk.accounts.models import Merchant
from sellerdesk.api import targets
from sellerdesk.api.models import WebhookEvent, WebhookSubscription
from sellerdesk.core.errors import ValidationError
from sellerdesk.outbox import delivery
from sellerdesk.outbox.models import OutboxItem, OutboxKind, OutboxStatus
from sellerdesk.outbox.services import outbox_add
from sellerdesk.sla import config

#: The events, once: ``WebhookEvent.values`` builds its list on every use.
_EVENTS = frozenset(WebhookEvent.values)

if TYPE_CHECKING:
    from sellerdesk.conversations.models import Conversation, Message

TIMEOUT_SECONDS = 10
#: The hosts a development install may send to over plain http.
_LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
DELIVERIES_SHOWN = 100


# --- Subscriptions ---------------------------------------------------------------------------


def url_problem(url: str, *, resolve: bool = True) -> str:
    """Why ``url`` cannot receive webhooks, or "" if it can: https (or http to this machine
    outside production, or anywhere with ``SELLERDESK_WEBHOOK_ALLOW_HTTP``), to a host that
    is and resolves to public addresses only (unless ``SELLERDESK_WEBHOOK_ALLOW_PRIVATE``)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        return "the URL is not valid"
    if not host or parts.username or parts.password:
        return "the URL needs a host and no credentials"
    allowed = (
        parts.scheme == "https"
        or (parts.scheme == "http" and settings.SELLERDESK_WEBHOOK_ALLOW_HTTP)
        or (parts.scheme == "http" and host in _LOCAL_HOSTS and not settings.PRODUCTION)
    )
    if not allowed:
        return "the URL must be https (http only to localhost in development)"
    problem = targets.literal_problem(host)
    if problem or not resolve or settings.SELLERDESK_WEBHOOK_ALLOW_PRIVATE:
        return problem
    try:
        targets.resolve(host, parts.port or (443 if parts.scheme == "https" else 80))
    except targets.TargetRefused as refused:
        return str(refused)
    return ""


def webhook_subscribe(
    *, url: str, events: Sequence[str], merchant: Merchant | None = None
) -> tuple[WebhookSubscription, str]:
    """A new subscription and its secret, to show once."""
    problem = url_problem(url)
    if problem:
        raise ValidationError(problem)
    unknown = sorted(set(events) - set(WebhookEvent.values))
    if unknown:
        raise ValidationError(f"unknown event {unknown[0]!r}")
    if not events:
        raise ValidationError("subscribe to at least one event")
    secret = "whsec_" + secrets.token_urlsafe(32)
    subscription = WebhookSubscription.objects.create(
        url=url,
        events=sorted(set(events)),
        secret=secret,
        merchant=merchant,
        created_at=timezone.now(),
    )
    return subscription, secret


def webhook_delete(*, subscription: WebhookSubscription) -> None:
    """Remove it; what it still had to send fails, with the reason, rather than being tried."""
    with transaction.atomic():
        _items(subscription).filter(status=OutboxStatus.PENDING).update(
            status=OutboxStatus.FAILED, last_error="the subscription was deleted"
        )
        subscription.delete()


def webhook_replay(
    *,
    subscription: WebhookSubscription,
    delivery_ids: Sequence[int] = (),
    since: datetime | None = None,
) -> int:
    """Send deliveries again — those named, or every one created since a time — under their
    own keys (a receiver that already has one drops it). Returns how many were queued."""
    items = _items(subscription).exclude(status=OutboxStatus.PENDING)
    if delivery_ids:
        items = items.filter(pk__in=list(delivery_ids))
    elif since is not None:
        items = items.filter(created_at__gte=since)
    else:
        raise ValidationError("name the deliveries or a time to replay since")
    return items.update(
        status=OutboxStatus.PENDING,
        attempts=0,
        next_attempt_at=timezone.now(),
        claimed_until=None,
        last_error="",
        delivered_at=None,
    )


def webhook_list() -> QuerySet[WebhookSubscription]:
    return WebhookSubscription.objects.select_related("merchant").order_by("created_at", "id")


def webhook_deliveries(*, subscription: WebhookSubscription) -> list[OutboxItem]:
    """The delivery log: its latest outbox items, newest first."""
    return list(_items(subscription).order_by("-created_at", "-id")[:DELIVERIES_SHOWN])


def _items(subscription: WebhookSubscription) -> QuerySet[OutboxItem]:
    return OutboxItem.objects.filter(
        kind=OutboxKind.WEBHOOK, key__startswith=f"webhook:{subscription.pk}:"
    )


# --- Events ----------------------------------------------------------------------------------


def emit(event: str, conversation: Conversation, data: dict[str, Any] | None = None) -> int:
    """Queue ``event`` about ``conversation`` for every active subscription that wants it.
    Call inside the transaction of the change. One short statement when nobody subscribes
    (none inside ``sla.config.reuse()``); returns the number of deliveries queued."""
    if event not in _EVENTS:
        raise ValueError(f"unknown webhook event {event!r}")
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("webhooks.emit must run inside the transaction of its change")
    # The process's copy of the active subscriptions, as of the database's configuration
    # generation (sla.config): one short statement instead of a query of the table.
    subscriptions = config.current().subscribers(event, conversation.merchant_id)
    if not subscriptions:
        return 0
    event_id = str(uuid.uuid4())
    body = {
        "id": event_id,
        "type": event,
        "created_at": timezone.now().isoformat(),
        "data": {"conversation": conversation_data(conversation), **(data or {})},
    }
    for subscription in subscriptions:
        outbox_add(
            kind=OutboxKind.WEBHOOK,
            key=f"webhook:{subscription.pk}:{event}:{event_id}",
            payload={"subscription": subscription.pk, "body": body},
            fresh_key=True,  # the event id was made above
        )
    return len(subscriptions)


def conversation_data(conversation: Conversation) -> dict[str, Any]:
    merchant = conversation.merchant
    return {
        "id": conversation.pk,
        "external_id": conversation.external_id,
        "merchant_id": merchant.external_id,
        "subject": conversation.subject,
        "status": conversation.status,
        "kind": conversation.kind,
        "priority": conversation.priority,
        "channel": conversation.channel,
        "created_at": _iso(conversation.created_at),
        "updated_at": _iso(conversation.updated_at),
    }


def message_data(message: Message) -> dict[str, Any]:
    return {
        "message": {
            "id": message.pk,
            "author_type": message.author_type,
            "author_name": message.author_name,
            "body": message.body,
            "created_at": _iso(message.created_at),
        }
    }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


# --- Delivery --------------------------------------------------------------------------------


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``Webhook-Signature`` header's value."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def verify(
    secret: str,
    timestamp: str | int,
    body: bytes,
    signature: str,
    tolerance: int = 300,
    now: float | None = None,
) -> bool:
    """The receiver's check: the signature is ours and the timestamp within ``tolerance``
    seconds of now (a replayed capture is refused)."""
    try:
        moment = int(timestamp)
    except (TypeError, ValueError):
        return False
    if abs((time.time() if now is None else now) - moment) > tolerance:
        return False
    expected = sign(secret, moment, body)
    # The header may carry several signatures (a secret being rotated): any one will do.
    return any(hmac.compare_digest(expected, part.strip()) for part in signature.split(" "))


@delivery.register(OutboxKind.WEBHOOK)
def deliver(item: OutboxItem) -> None:
    """POST one event; a non-2xx answer or a network error raises, so the outbox retries."""
    subscription = WebhookSubscription.objects.filter(
        pk=item.payload["subscription"], active=True
    ).first()
    if subscription is None:
        raise LookupError("the subscription is gone or inactive")
    # Checked again at every attempt: the rules may have tightened since subscribing.
    problem = url_problem(subscription.url, resolve=False)
    if problem:
        raise targets.TargetRefused(problem)
    parts = urlsplit(subscription.url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    # Resolved now, checked, and connected to that address (DNS rebinding): raises
    # TargetRefused, and the outbox records the reason and retries.
    conn = targets.connection(parts.scheme, host, port, timeout=TIMEOUT_SECONDS)
    body = json.dumps(item.payload["body"], ensure_ascii=False, separators=(",", ":")).encode()
    timestamp = int(time.time())
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        conn.request(
            "POST",
            path,
            body=body,
            headers={
                "Content-Type": "application/json",
                "User-Agent": "sellerdesk-webhooks/1",
                "Webhook-Id": item.key,
                "Webhook-Timestamp": str(timestamp),
                "Webhook-Signature": sign(subscription.secret, timestamp, body),
            },
        )
        response = conn.getresponse()
        response.read()
        # No redirect is followed: never resend the body (and signature) elsewhere.
        if not 200 <= response.status < 300:
            raise RuntimeError(f"the receiver answered {response.status}")
    finally:
        conn.close()
