"""Who is calling: the API key in ``Authorization: Bearer <key>``, its scope and its rate.

One SHA-256 and one indexed look-up a request, never a password hash (PERFORMANCE.md).
"""

from __future__ import annotations

import math
import time

from django.conf import settings
from django.core.cache import cache
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
    name = f"sellerdesk:api:rate:{key.pk}:{window}"
    # Counted first, created only when missing (once a window): on Redis two round trips a
    # request instead of three (Django's incr checks that the key exists).
    try:
        count = cache.incr(name)
    except ValueError:  # the window's first request (or another process's, just now)
        count = 1 if cache.add(name, 1, timeout=120) else cache.incr(name)
    if count > limit:
        wait = max(1, math.ceil((window + 1) * 60 - now))
        raise Problem(
            429,
            f"more than {limit} requests a minute with this key; retry in {wait} s",
            slug="rate-limited",
            headers={"Retry-After": str(wait)},
        )


READ = KeyAuth("read")
WRITE = KeyAuth("write")
REPORTS = KeyAuth("reports")
