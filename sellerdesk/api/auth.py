"""Who is calling: the API key in ``Authorization: Bearer <key>``, its scope and its rate.

One SHA-256 a request, never a password hash (PERFORMANCE.md). The key's row is looked up by
that hash (one indexed read), and each web process keeps what it read for
``SELLERDESK_API_KEY_CACHE_SECONDS`` (by the hash; the key itself is kept nowhere). A change to
keys (a revocation) adds one to a count kept in the rate counts' cache, which the request reads
in the same round trip as its rate count: a process that sees the count moved reads the key
again, so a revoked key is refused by every process from its next request.
"""

from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass
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
        key = live_key(token)  # counted against its rate (429 past it)
        if key is None:
            return None  # 401
        if key.scope not in ALLOWED[self.needs]:
            raise forbidden(
                f"this key's scope ({key.scope}) does not allow this; it needs "
                + " or ".join(sorted(ALLOWED[self.needs]))
            )
        services.apikey_touch(key=key)
        return key


@dataclass(frozen=True)
class _Known:
    key: ApiKey
    #: ``time.monotonic()`` past which the key is read again.
    until: float
    #: The keys' change count read before the key was.
    changes: int


#: The keys this process read lately, by hash. Shared by the request threads: the entries are
#: replaced, never changed (the key's ``last_used_at`` aside, see ``apikey_touch``).
_known: dict[str, _Known] = {}
#: The count of changes to keys, beside the rate counts.
CHANGES = "sellerdesk:api:keys:changes"


def live_key(token: str) -> ApiKey | None:
    """The live key ``token`` is, or None; the request is counted against its rate (a
    ``Problem`` 429 when over it)."""
    digest = selectors.token_digest(token)
    if digest is None:
        return None
    keep = settings.SELLERDESK_API_KEY_CACHE_SECONDS
    known = _known.get(digest) if keep > 0 else None
    if known is not None and time.monotonic() < known.until:
        count, changes = _count(known.key.pk, with_changes=True)
        # A key changed since it was read (perhaps this one): read it again.
        key = known.key if changes == known.changes else _read(digest, keep)
    else:
        key = _read(digest, keep)
        count = _count(key.pk)[0] if key is not None else None
    if key is not None:
        _rate_check(count)
    return key


def _read(digest: str, keep: int) -> ApiKey | None:
    changes = _changes() if keep > 0 else 0  # read first: a change after it is seen later
    key = selectors.apikey_for_digest(digest)
    if key is None:
        _known.pop(digest, None)
    elif keep > 0:
        _known[digest] = _Known(key=key, until=time.monotonic() + keep, changes=changes)
    return key


def keys_changed() -> None:
    """Call once a change to a key (a revocation) is committed: every process reads its keys
    again at their next request."""
    _known.clear()
    store = _counts()
    if isinstance(store, RedisCache):
        _redis().incr(store.make_and_validate_key(CHANGES))
        return
    try:
        store.incr(CHANGES)
    except ValueError:  # never counted yet
        if not store.add(CHANGES, 1, timeout=None):
            store.incr(CHANGES)


def _changes() -> int:
    store = _counts()
    if isinstance(store, RedisCache):
        return int(_redis().get(store.make_and_validate_key(CHANGES)) or 0)
    return int(store.get(CHANGES, 0))


def _rate_check(count: int | None) -> None:
    """A fixed window of one minute per key, counted in Django's cache (Redis when
    ``REDIS_URL`` is set, so every web process shares the count)."""
    limit = settings.SELLERDESK_API_RATE_PER_MINUTE
    if count is None or count <= limit:
        return
    now = time.time()
    wait = max(1, math.ceil((int(now // 60) + 1) * 60 - now))
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


#: The window's count created with its expiry if missing (KEYS[1], ARGV[1] seconds) and
#: counted, and the keys' change count read (KEYS[2], when given): one command, so one request
#: to Redis and one reply to parse (three of each as a pipeline: a tenth of a post's CPU).
_COUNT_SCRIPT = """
redis.call('SET', KEYS[1], 0, 'EX', ARGV[1], 'NX')
local count = redis.call('INCR', KEYS[1])
if KEYS[2] then
  return {count, redis.call('GET', KEYS[2])}
end
return {count}
"""


@functools.cache
def _count_script() -> Any:
    """``_COUNT_SCRIPT`` on the counts' Redis (sent by its hash, loaded again if Redis lost it)."""
    return _redis().register_script(_COUNT_SCRIPT)


def _count(key_id: int, *, with_changes: bool = False) -> tuple[int | None, int]:
    """Add one to the key's count in this minute's window and return it (None when there is
    no limit), with the keys' change count when asked (else 0)."""
    counted = settings.SELLERDESK_API_RATE_PER_MINUTE > 0
    name = f"sellerdesk:api:rate:{key_id}:{int(time.time() // 60)}"
    store = _counts()
    if isinstance(store, RedisCache):
        # One round trip. The key and the stored integer are the ones Django's cache.incr
        # would use.
        if counted:
            keys = [store.make_and_validate_key(name)]
            if with_changes:
                keys.append(store.make_and_validate_key(CHANGES))
            results = _count_script()(keys=keys, args=[WINDOW_KEPT])
            return int(results[0]), int(results[1] or 0) if with_changes else 0
        if with_changes:
            return None, int(_redis().get(store.make_and_validate_key(CHANGES)) or 0)
        return None, 0
    count = _incr(store, name) if counted else None
    return count, int(store.get(CHANGES, 0)) if with_changes else 0


def _incr(store: BaseCache, name: str) -> int:
    try:
        return store.incr(name)
    except ValueError:  # the window's first request (or another thread's, just now)
        return 1 if store.add(name, 1, timeout=WINDOW_KEPT) else store.incr(name)


READ = KeyAuth("read")
WRITE = KeyAuth("write")
REPORTS = KeyAuth("reports")
