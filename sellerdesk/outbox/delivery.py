"""Delivering the outbox: claim due items under a lease, send each, record the outcome.

A delivery is at least once and keyed: a worker killed after sending but before recording
leaves the item to be taken again when its lease ends, and the repeat carries the same
idempotency key (the e-mail's Message-ID, the webhook's id header) for the receiver to drop.
Everything else — a crash before sending, a failing transport — loses nothing: the item stays
pending and is retried with exponential backoff, then marked failed for an admin to resend.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from sellerdesk.outbox.models import OutboxItem, OutboxKind, OutboxStatus
from sellerdesk.outbox.services import message_id_for

logger = logging.getLogger(__name__)

Handler = Callable[[OutboxItem], None]
_HANDLERS: dict[str, Handler] = {}


def register(kind: str) -> Callable[[Handler], Handler]:
    """Declare the function that delivers one kind of item (raise to fail the attempt)."""

    def decorator(function: Handler) -> Handler:
        _HANDLERS[kind] = function
        return function

    return decorator


@register(OutboxKind.EMAIL)
def deliver_email(item: OutboxItem) -> None:
    payload = item.payload
    headers = {"Message-ID": message_id_for(item.key, settings.SELLERDESK_MAIL_DOMAIN)}
    headers.update(payload.get("headers") or {})
    message = EmailMultiAlternatives(
        subject=payload["subject"],
        body=payload["body"],
        from_email=payload.get("from") or settings.DEFAULT_FROM_EMAIL,
        to=payload["to"],
        reply_to=payload.get("reply_to") or None,
        headers=headers,
    )
    if payload.get("html"):
        # Optional: the same text as HTML, sent as an alternative part.
        message.attach_alternative(payload["html"], "text/html")
    with get_connection(fail_silently=False) as connection:
        connection.send_messages([message])


def backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min… capped at 6 hours, with ±20 % jitter so retries spread out."""
    base = min(30 * 2 ** max(attempts - 1, 0), 6 * 3600)
    return timedelta(seconds=base * random.uniform(0.8, 1.2))  # noqa: S311 - jitter, not secrecy


@dataclass
class DeliveryRun:
    claimed: int = 0
    delivered: int = 0
    retried: int = 0
    failed: int = 0


def _due() -> Q:
    now = timezone.now()
    return Q(status=OutboxStatus.PENDING, next_attempt_at__lte=now) & (
        Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
    )


def claim(*, limit: int, lease: timedelta) -> list[OutboxItem]:
    """Take up to ``limit`` due items for this worker: ``FOR UPDATE SKIP LOCKED`` on
    PostgreSQL, so workers side by side take different items; SQLite has one writer."""
    with transaction.atomic():
        rows = list(
            OutboxItem.objects.select_for_update(skip_locked=True)
            .filter(_due())
            .order_by("next_attempt_at", "id")[:limit]
        )
        if not rows:
            return []
        until = timezone.now() + lease
        OutboxItem.objects.filter(pk__in=[r.pk for r in rows]).update(claimed_until=until)
    for row in rows:
        row.claimed_until = until
    return rows


def deliver_one(item: OutboxItem) -> str:
    """Send one claimed item and record the outcome: 'delivered', 'retry' or 'failed'."""
    handler = _HANDLERS.get(item.kind)
    attempts = item.attempts + 1
    try:
        if handler is None:
            raise LookupError(f"no delivery for {item.kind!r} items")
        handler(item)
    except Exception as error:
        text = f"{type(error).__name__}: {error}"[:2000]
        give_up = attempts >= settings.SELLERDESK_OUTBOX_MAX_ATTEMPTS
        OutboxItem.objects.filter(pk=item.pk, status=OutboxStatus.PENDING).update(
            attempts=attempts,
            last_error=text,
            claimed_until=None,
            status=OutboxStatus.FAILED if give_up else OutboxStatus.PENDING,
            next_attempt_at=timezone.now() + backoff(attempts),
        )
        logger.warning("outbox %s attempt %d failed: %s", item.key, attempts, text)
        return "failed" if give_up else "retry"
    OutboxItem.objects.filter(pk=item.pk, status=OutboxStatus.PENDING).update(
        attempts=attempts,
        status=OutboxStatus.DELIVERED,
        delivered_at=timezone.now(),
        claimed_until=None,
        last_error="",
    )
    return "delivered"


def deliver_due(*, limit: int = 100, lease: timedelta | None = None) -> DeliveryRun:
    """Claim and deliver what is due, batch after batch, until nothing is left."""
    run = DeliveryRun()
    lease = lease or timedelta(seconds=settings.SELLERDESK_OUTBOX_LEASE_SECONDS)
    while True:
        batch = claim(limit=limit, lease=lease)
        if not batch:
            return run
        run.claimed += len(batch)
        for item in batch:
            outcome = deliver_one(item)
            if outcome == "delivered":
                run.delivered += 1
            elif outcome == "retry":
                run.retried += 1
            else:
                run.failed += 1


def has_due() -> bool:
    return OutboxItem.objects.filter(_due()).exists()
