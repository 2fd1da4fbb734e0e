"""Who is calling: the API key in ``Authorization: Bearer <key>``, its scope and its rate.

One SHA-256 and one indexed look-up a request, never a password hash (PERFORMANCE.md).
"""

from __future__ import annotations

import functools
import math
import time
from typing import Any, cast

from django.conf import settings
from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from django.core.cache.backends.base import BaseCache
from django.core.cache.backends.redis import RedisCache
from django.http import HttpRequest
from ninja.security import HttpBearer

from sellerdesk.api import selectors, services
from sellerdesk.api.models import ApiKey, Scope
from sellerdesk.api.problems import Problem, forbidden

#: Which key scopes each kind of operation accepts.
ALLOWED = {
    "read": frozenset({Scope.READ.value, Scope.WRITE.value}),
    "write": frozenset({Scope.WRITE.value}),
    "reports": frozenset({Scope.REPORTS.value}),
}


class KeyAuth(HttpBearer):
    """Accepts a live key whose scope allows the operation; ``request.auth`` is the key."""

    def __init__(self, needs: str) -> None:
        if needs not in ALLOWED:
            raise ValueError(f"unknown need {needs!r}")
        self.needs = needs
        super().__init__()

    def authenticate(self, request: HttpRequest, token: str) -> ApiKey | None:
        key = selectors.apikey_for_token(token)
        if key is None:
            return None  # 401
        rate_check(key)
        if key.scope not in ALLOWED[self.needs]:
            raise forbidden(
                f"this key's scope ({key.scope}) does not allow this; it needs "
                + " or ".join(sorted(ALLOWED[self.needs]))
            )
        services.apikey_touch(key=key)
        return key


def rate_check(key: ApiKey) -> None:
    """A fixed window of one minute per key, counted in Django's cache (Redis when
    ``REDIS_URL`` is set, so every web process shares the count)."""
    limit = settings.SELLERDESK_API_RATE_PER_MINUTE
    if limit <= 0:
        return
    now = time.time()
    window = int(now // 60)
    count = _count(f"sellerdesk:api:rate:{key.pk}:{window}")
    if count > limit:
        wait = max(1, math.ceil((window + 1) * 60 - now))
        raise Problem(
            429,
            f"more than {limit} requests a minute with this key; retry in {wait} s",
            slug="rate-limited",
            headers={"Retry-After": str(wait)},
        )


#: How long a window's count is kept: past its minute, and a minute for clocks apart.
WINDOW_KEPT = 120


@functools.cache
def _counts() -> BaseCache:
    """The cache the counts live in, made once per process. ``django.core.cache.cache`` is
    one object per request under ASGI (a context-local), and a new RedisCache opens a new
    connection to Redis (and reads redis-py's package metadata) for every request."""
    return caches.create_connection(DEFAULT_CACHE_ALIAS)


@functools.cache
def _redis() -> Any:
    """The Redis client of the counts' cache (its connections are pooled and thread-safe)."""
    store = _counts()
    assert isinstance(store, RedisCache)
    return cast(Any, store)._cache.get_client(write=True)


def _count(name: str) -> int:
    """Add one to the window's count and return it."""
    store = _counts()
    if isinstance(store, RedisCache):
        # One round trip: create the window's count with its expiry if missing, then count.
        # The key and the stored integer are the ones Django's cache.incr would use.
        redis_key = store.make_and_validate_key(name)
        pipe = _redis().pipeline(transaction=False)
        pipe.set(redis_key, 0, ex=WINDOW_KEPT, nx=True)
        pipe.incr(redis_key)
        return int(pipe.execute()[1])
    try:
        return store.incr(name)
    except ValueError:  # the window's first request (or another thread's, just now)
        return 1 if store.add(name, 1, timeout=WINDOW_KEPT) else store.incr(name)


READ = KeyAuth("read")
WRITE = KeyAuth("write")
REPORTS = KeyAuth("reports")
