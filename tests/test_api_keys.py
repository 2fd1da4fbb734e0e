"""``sellerdesk apikey``: a key is printed once, alone on the last line; only its SHA-256 is
stored; list shows prefixes; revoke refuses the key from then on. A request costs one hash and
one look-up, never a password hash."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from io import StringIO

import pytest
import time_machine
from django.contrib.auth import hashers
from django.core.cache import cache
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from sellerdesk.accounts.models import AuditEvent
from sellerdesk.api import auth
from sellerdesk.api.models import ApiKey
from tests.api_support import ApiClient, assert_problem


@pytest.fixture(autouse=True)
def _fresh_rate_counts():
    cache.clear()


def apikey(*args: str) -> str:
    out = StringIO()
    call_command("apikey", *args, stdout=out)
    return out.getvalue()


def test_create_prints_the_key_once_alone_on_the_last_line_and_stores_its_hash(db):
    output = apikey("create", "--name", "Marketplace sync", "--scope", "write")
    lines = output.rstrip("\n").split("\n")
    token = lines[-1]
    assert len(token) == 40
    assert token.isalnum()
    assert all(token not in line for line in lines[:-1])

    key = ApiKey.objects.get()
    assert key.key_hash == hashlib.sha256(token.encode()).hexdigest()
    assert key.prefix == token[:8]
    assert (key.name, key.scope, key.merchant) == ("Marketplace sync", "write", None)
    stored = " ".join(str(v) for v in ApiKey.objects.values().get().values())
    assert token not in stored
    assert ApiClient(token).get("/api/v1/tags").status_code == 200


def test_a_merchants_key(acme):
    token = apikey("create", "--name", "Acme shop", "--scope", "read", "--merchant", "m-acme")
    key = ApiKey.objects.get()
    assert key.merchant == acme
    assert token.rstrip().split("\n")[-1][:8] == key.prefix


@pytest.mark.parametrize(
    "args",
    [
        ("create", "--name", "x", "--scope", "write", "--merchant", "m-nobody"),
        ("create", "--name", "x", "--scope", "reports", "--merchant", "m-acme"),
        ("create", "--name", " ", "--scope", "read"),
        ("revoke", "nothing1"),
    ],
)
def test_refused_commands_say_why(acme, args):
    with pytest.raises(CommandError):
        apikey(*args)
    assert not ApiKey.objects.exists()


def test_an_unknown_scope_is_refused_by_the_parser(db):
    with pytest.raises(CommandError):
        apikey("create", "--name", "x", "--scope", "admin")


def test_list_shows_prefixes_never_keys(acme):
    first = apikey("create", "--name", "sync", "--scope", "write").rstrip().split("\n")[-1]
    second = apikey("create", "--name", "acme", "--scope", "read", "--merchant", "m-acme")
    second = second.rstrip().split("\n")[-1]
    listing = apikey("list")
    assert first[:8] in listing
    assert second[:8] in listing
    assert first not in listing
    assert second not in listing
    assert "m-acme" in listing


def test_revoke_refuses_the_key_from_then_on(db):
    token = apikey("create", "--name", "old", "--scope", "read").rstrip().split("\n")[-1]
    assert ApiClient(token).get("/api/v1/tags").status_code == 200
    assert "Revoked" in apikey("revoke", token[:8])
    assert ApiKey.objects.get().revoked_at is not None
    assert_problem(ApiClient(token).get("/api/v1/tags"), 401)


@pytest.fixture
def kept_keys(settings):
    """Keys kept by the process between requests, as with REDIS_URL (the test's cache is one
    process's, so it is shared as Redis would be)."""
    settings.SELLERDESK_API_KEY_CACHE_SECONDS = 10
    auth._known.clear()
    yield
    auth._known.clear()


def test_a_kept_key_is_read_once_and_its_requests_still_counted(
    db, kept_keys, settings, django_assert_num_queries
):
    settings.SELLERDESK_API_RATE_PER_MINUTE = 3
    token = apikey("create", "--name", "k", "--scope", "read").rstrip().split("\n")[-1]
    client = ApiClient(token)
    assert client.get("/api/v1/tags").status_code == 200
    # The tags, each time; not the key.
    with django_assert_num_queries(2):
        assert all(client.get("/api/v1/tags").status_code == 200 for _ in range(2))
    assert_problem(client.get("/api/v1/tags"), 429)
    assert token not in repr(auth._known)  # kept by its hash only


def test_a_kept_key_revoked_is_refused_at_its_next_request(
    db, kept_keys, django_capture_on_commit_callbacks
):
    token = apikey("create", "--name", "k", "--scope", "read").rstrip().split("\n")[-1]
    client = ApiClient(token)
    assert client.get("/api/v1/tags").status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        apikey("revoke", token[:8])
    assert_problem(client.get("/api/v1/tags"), 401)


def test_a_revocation_in_another_process_reaches_this_one(db, kept_keys):
    token = apikey("create", "--name", "k", "--scope", "read").rstrip().split("\n")[-1]
    client = ApiClient(token)
    assert client.get("/api/v1/tags").status_code == 200
    ApiKey.objects.update(revoked_at=timezone.now())
    assert client.get("/api/v1/tags").status_code == 200  # kept: not read again
    # The other process's revocation counts a change in the shared cache; its own kept keys
    # are its own.
    ours = dict(auth._known)
    auth.keys_changed()
    auth._known.update(ours)
    assert_problem(client.get("/api/v1/tags"), 401)


def test_a_kept_key_is_read_again_after_the_time_kept(db, kept_keys, monkeypatch):
    token = apikey("create", "--name", "k", "--scope", "read").rstrip().split("\n")[-1]
    client = ApiClient(token)
    assert client.get("/api/v1/tags").status_code == 200
    ApiKey.objects.update(revoked_at=timezone.now())
    later = auth.time.monotonic() + 11
    monkeypatch.setattr(auth.time, "monotonic", lambda: later)
    assert_problem(client.get("/api/v1/tags"), 401)


def test_last_use_is_written_at_most_once_a_minute(db, django_assert_num_queries):
    token = apikey("create", "--name", "k", "--scope", "read").rstrip().split("\n")[-1]
    client = ApiClient(token)
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        client.get("/api/v1/tags")
        first = ApiKey.objects.get().last_used_at
        assert first == start
        # The key's look-up and the tags: no write.
        with django_assert_num_queries(2):
            client.get("/api/v1/tags")
    with time_machine.travel(start + timedelta(seconds=59), tick=False):
        client.get("/api/v1/tags")
        assert ApiKey.objects.get().last_used_at == first
    with time_machine.travel(start + timedelta(seconds=61), tick=False):
        client.get("/api/v1/tags")
        assert ApiKey.objects.get().last_used_at == start + timedelta(seconds=61)


def test_no_password_is_hashed_per_request(db, monkeypatch):
    token = apikey("create", "--name", "k", "--scope", "read").rstrip().split("\n")[-1]

    def refuse(*args, **kwargs):
        raise AssertionError("a password hasher ran during an API request")

    monkeypatch.setattr(hashers, "check_password", refuse)
    monkeypatch.setattr(hashers, "make_password", refuse)
    for hasher in hashers.get_hashers():
        monkeypatch.setattr(type(hasher), "verify", refuse)
        monkeypatch.setattr(type(hasher), "encode", refuse)
    assert ApiClient(token).get("/api/v1/tags").status_code == 200
    assert_problem(ApiClient("wrong-key").get("/api/v1/tags"), 401)


def test_creating_and_revoking_a_key_is_audited_by_its_prefix_never_the_key(acme):
    token = apikey("create", "--name", "Sync", "--scope", "write", "--merchant", acme.external_id)
    token = token.rstrip("\n").rsplit("\n", 1)[-1]
    apikey("revoke", token[:8])

    events = list(AuditEvent.objects.order_by("pk").values_list("action", "target", "detail"))
    assert events == [
        ("apikey_created", f"apikey:{token[:8]}",
         {"name": "Sync", "scope": "write", "merchant": acme.external_id}),
        ("apikey_revoked", f"apikey:{token[:8]}", {"name": "Sync"}),
    ]  # fmt: skip
    assert token not in str(events)
