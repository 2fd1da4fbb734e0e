"""``Idempotency-Key`` on the requests that create: a retry with the same key and the same body
gets the stored response and creates nothing; the same key with another body is a 422.

The record is written in the transaction that creates, after the work, under a unique (API key,
idempotency key) constraint: a concurrent twin's insert waits on that constraint until the
first commits (PostgreSQL), or the twin waits on the write lock (SQLite); its insert then
fails, its work is rolled back, and it answers with the committed response. A retry that
comes after the first committed does the same, so nothing is read before the work: the
request that is not a retry (nearly all of them) pays one INSERT. A request that fails stores
nothing, so it may be retried.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from sellerdesk.api.guard import PARSED
from sellerdesk.api.models import ApiKey, IdempotencyRecord
from sellerdesk.api.problems import Problem, field_error
from sellerdesk.core import rows

HEADER = "Idempotency-Key"
MAX_LENGTH = 200


def idempotent(
    request: HttpRequest, key: ApiKey, value: str | None, create: Callable[[], HttpResponse]
) -> HttpResponse:
    """Run ``create`` (which raises on failure) at most once per idempotency key ``value``
    (the request's ``Idempotency-Key``, or None)."""
    if value is None:
        with transaction.atomic():
            return create()
    if not value or len(value) > MAX_LENGTH or not value.isascii() or not value.isprintable():
        raise Problem(
            400,
            f"{HEADER} must be 1 to {MAX_LENGTH} printable ASCII characters",
            slug="bad-idempotency-key",
            errors=[field_error("1 to 200 printable ASCII characters", header=HEADER)],
        )
    fingerprint = _fingerprint(request)
    now = timezone.now()
    _prune(key, now)
    for attempt in range(2):
        try:
            with transaction.atomic():
                response = create()
                # Built once (core.rows): every create writes one. Sent with the COMMIT on
                # PostgreSQL: a twin's refusal is then raised by the commit, here as well.
                rows.insert(
                    IdempotencyRecord(
                        api_key=key,
                        key=value,
                        fingerprint=fingerprint,
                        status=response.status_code,
                        body=response.content.decode(),
                        location=response.get("Location", ""),
                        created_at=now,
                    ),
                    later=True,
                )
        except IntegrityError:
            stored = _stored(key, value)
            if stored is not None:
                return _replay(stored, fingerprint)
            if attempt == 0 and _forget_expired(key, value, now):
                continue  # the key's record had expired but was still stored
            raise
        except Exception:
            # A retry whose work would now fail (the conversation closed since, say) still
            # gets the first response; a first attempt that fails stores nothing.
            stored = _stored(key, value)
            if stored is not None:
                return _replay(stored, fingerprint)
            raise
        return response
    raise AssertionError("unreachable")  # pragma: no cover


#: When each API key's expired records were last deleted, in this process.
_pruned: dict[int, datetime] = {}
PRUNE_EVERY = timedelta(minutes=1)


def _prune(key: ApiKey, now: datetime) -> None:
    """Forget this key's records past their time, at most once a minute per process (an
    indexed range, usually empty: not worth a statement on every request)."""
    last = _pruned.get(key.pk)
    if last is not None and timedelta(0) <= now - last < PRUNE_EVERY:
        return
    IdempotencyRecord.objects.filter(api_key=key, created_at__lt=_cutoff(now)).delete()
    _pruned[key.pk] = now


def _forget_expired(key: ApiKey, value: str, now: datetime) -> bool:
    deleted, _ = IdempotencyRecord.objects.filter(
        api_key=key, key=value, created_at__lt=_cutoff(now)
    ).delete()
    return deleted > 0


def _cutoff(now: datetime) -> datetime:
    return now - timedelta(hours=settings.SELLERDESK_API_IDEMPOTENCY_HOURS)


def _stored(key: ApiKey, value: str) -> IdempotencyRecord | None:
    return IdempotencyRecord.objects.filter(
        api_key=key, key=value, created_at__gte=_cutoff(timezone.now())
    ).first()


def _fingerprint(request: HttpRequest) -> str:
    """The request as the API understood it: whitespace and key order in the JSON do not
    make another request."""
    body = getattr(request, PARSED, None)
    canonical = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    text = f"{request.method} {request.path}\n{canonical}"
    return hashlib.sha256(text.encode()).hexdigest()


def _replay(stored: IdempotencyRecord, fingerprint: str) -> HttpResponse:
    if stored.fingerprint != fingerprint:
        raise Problem(
            422,
            f"this {HEADER} was used for another request; use a new key for a new request",
            slug="idempotency-key-reused",
            errors=[field_error("used before with another request", header=HEADER)],
        )
    response = HttpResponse(stored.body, status=stored.status, content_type="application/json")
    if stored.location:
        response["Location"] = stored.location
    response["Idempotent-Replayed"] = "true"
    return response
