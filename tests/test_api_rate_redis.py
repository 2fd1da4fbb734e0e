"""The API's rate counts in Redis (``REDIS_URL``: several web processes share them): one
command a request counts the key's window, sets its expiry, and reads the keys' change count
(``auth._count``)."""

from __future__ import annotations

import os
from uuid import uuid4

import pytest
import redis

from sellerdesk.api import auth

#: The Redis these tests use, with keys of their own (skipped when none answers there).
TEST_REDIS_URL = os.environ.get("SELLERDESK_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _forget_clients() -> None:
    for made_once in (auth._counts, auth._redis, auth._count_script):
        made_once.cache_clear()


@pytest.fixture
def redis_counts(settings):
    client = redis.Redis.from_url(TEST_REDIS_URL, socket_connect_timeout=0.5)
    try:
        client.ping()
    except redis.exceptions.ConnectionError:
        pytest.skip(f"no Redis at {TEST_REDIS_URL}")
    prefix = f"sellerdesk-test-{uuid4().hex}"
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": TEST_REDIS_URL,
            "KEY_PREFIX": prefix,
        }
    }
    _forget_clients()
    yield client
    _forget_clients()
    for name in client.scan_iter(f"{prefix}:*"):
        client.delete(name)


def test_each_request_counts_in_the_keys_window_which_expires(redis_counts, settings):
    settings.SELLERDESK_API_RATE_PER_MINUTE = 100
    assert [auth._count(4242)[0] for _ in range(3)] == [1, 2, 3]
    assert auth._count(4343)[0] == 1  # another key, its own count
    store = auth._counts()
    name = next(n for n in redis_counts.scan_iter(f"{store.key_prefix}:*:rate:4242:*"))
    assert 0 < redis_counts.ttl(name) <= auth.WINDOW_KEPT
    # The integer Django's own cache.incr reads.
    assert store.get(name.decode().split(":", 2)[2]) == 3


def test_the_count_reads_the_keys_change_count_in_the_same_command(redis_counts, settings):
    settings.SELLERDESK_API_RATE_PER_MINUTE = 100
    assert auth._count(4242, with_changes=True) == (1, 0)
    auth.keys_changed()
    auth.keys_changed()
    assert auth._count(4242, with_changes=True) == (2, 2)
    assert auth._count(4242) == (3, 0)


def test_without_a_limit_nothing_is_counted_but_changes_are_still_read(redis_counts, settings):
    settings.SELLERDESK_API_RATE_PER_MINUTE = 0
    auth.keys_changed()
    assert auth._count(4242, with_changes=True) == (None, 1)
    assert auth._count(4242) == (None, 0)
    assert not list(redis_counts.scan_iter(f"{auth._counts().key_prefix}:*:rate:*"))
