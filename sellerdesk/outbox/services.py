"""Writing to the outbox. Call inside the transaction of the change that causes the message:
both are stored, or neither."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from django.db import transaction

from sellerdesk.core import rows
from sellerdesk.outbox.models import OutboxItem, OutboxKind, OutboxStatus

#: The kinds, once: ``OutboxKind.values`` builds its list on every use.
_KINDS = frozenset(OutboxKind.values)


def outbox_add(*, kind: str, key: str, payload: dict[str, Any], fresh_key: bool = False) -> bool:
    """Queue one delivery under an idempotency key; a second call with the same key is a
    no-op (returns False), so a retried request or a re-run timer never sends twice.

    ``fresh_key``: the key holds an id made for this call (a new event's), so the look-up
    is skipped; the unique constraint still drops a twin, but then True is returned."""
    if kind not in _KINDS:
        raise ValueError(f"unknown outbox kind {kind!r}")
    if not transaction.get_connection().in_atomic_block:
        # Outside a transaction there is no change to tie the message to: a caller bug.
        raise RuntimeError("outbox_add must run inside the transaction of its change")
    if not fresh_key and OutboxItem.objects.filter(key=key[:200]).exists():
        return False
    # A concurrent twin under the same key is dropped by the unique constraint. The
    # statement is built once (core.rows): a webhook event writes one per subscription. It is
    # sent with the transaction's next statement or its COMMIT (nothing reads it back here).
    rows.insert(
        OutboxItem(kind=kind, key=key[:200], payload=payload), ignore_conflicts=True, later=True
    )
    return True


def email_enqueue(
    *,
    key: str,
    to: Sequence[str],
    subject: str,
    body: str,
    headers: dict[str, str] | None = None,
    reply_to: Sequence[str] = (),
) -> bool:
    """Queue an e-mail (plain text). ``key`` names the cause, e.g. ``reminder:42:2026-12-01``."""
    payload = _email_payload(to, subject, body, headers, reply_to)
    if payload is None:
        return False
    return outbox_add(kind=OutboxKind.EMAIL, key=key, payload=payload)


def _email_payload(
    to: Sequence[str],
    subject: str,
    body: str,
    headers: dict[str, str] | None = None,
    reply_to: Sequence[str] = (),
) -> dict[str, Any] | None:
    recipients = sorted({address.strip().lower() for address in to if address.strip()})
    if not recipients:
        return None
    return {
        "to": recipients,
        "subject": subject,
        "body": body,
        "headers": headers or {},
        "reply_to": list(reply_to),
    }


def emails_enqueue(emails: Sequence[tuple[str, Sequence[str], str, str]]) -> int:
    """``email_enqueue`` for many (key, to, subject, body) at once, for the worker's batches:
    the same rows, in two statements. Returns how many were queued."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("emails_enqueue must run inside the transaction of its change")
    items: dict[str, dict[str, Any]] = {}
    for key, to, subject, body in emails:
        payload = _email_payload(to, subject, body)
        if payload is not None:
            items.setdefault(key[:200], payload)
    if not items:
        return 0
    existing = set(OutboxItem.objects.filter(key__in=list(items)).values_list("key", flat=True))
    rows = [
        OutboxItem(kind=OutboxKind.EMAIL, key=key, payload=payload)
        for key, payload in items.items()
        if key not in existing
    ]
    OutboxItem.objects.bulk_create(rows, ignore_conflicts=True, batch_size=500)
    return len(rows)


def outbox_retry(*, item: OutboxItem) -> None:
    """Send a failed item again (an admin's decision): same key, so still at most once for a
    receiver that honours it."""
    from django.utils import timezone

    OutboxItem.objects.filter(pk=item.pk, status=OutboxStatus.FAILED).update(
        status=OutboxStatus.PENDING, next_attempt_at=timezone.now(), claimed_until=None
    )


def message_id_for(key: str, domain: str) -> str:
    """A stable Message-ID for an outbox key: a repeat delivery carries the same one."""
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    return f"<{digest}@{domain}>"
