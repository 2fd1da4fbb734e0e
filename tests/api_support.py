"""Shared by the REST API's test modules: keys for every kind of caller, and a client that
sends them as ``Authorization: Bearer``.

Callers: anonymous, a revoked key, a read, a write and a reports key of no merchant, and
Acme's read and write keys and Globex's write key (the wrong merchant).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client

from sellerdesk.api import services as api_services

CALLERS = (
    "anonymous",
    "revoked",
    "read",
    "write",
    "reports",
    "acme_read",
    "acme_write",
    "globex_write",
)


class ApiClient:
    """The test client with a key (or none), speaking JSON."""

    def __init__(self, token: str | None = None) -> None:
        self.client = Client()
        self.token = token

    def headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = dict(extra or {})
        if self.token is not None:
            headers.setdefault("Authorization", f"Bearer {self.token}")
        return headers

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        query: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        raw: bytes | str | None = None,
        content_type: str = "application/json",
    ) -> Any:
        data: Any = raw if raw is not None else (json.dumps(body) if body is not None else "")
        if method == "GET":
            return self.client.get(path, query or {}, headers=self.headers(headers))
        return self.client.generic(
            method, path, data, content_type=content_type, headers=self.headers(headers)
        )

    def get(self, path: str, **query: Any) -> Any:
        return self.request("GET", path, query=query)

    def post(self, path: str, body: Any, **options: Any) -> Any:
        return self.request("POST", path, body, **options)

    def put(self, path: str, body: Any, **options: Any) -> Any:
        return self.request("PUT", path, body, **options)

    def patch(self, path: str, body: Any, **options: Any) -> Any:
        return self.request("PATCH", path, body, **options)


@dataclass
class ApiWorld:
    tokens: dict[str, str | None] = field(default_factory=dict)

    def client(self, caller: str) -> ApiClient:
        return ApiClient(self.tokens[caller])


def make_world(acme: Any, globex: Any) -> ApiWorld:
    def key(name: str, scope: str, merchant: Any = None) -> str:
        return api_services.apikey_create(name=name, scope=scope, merchant=merchant)[1]

    revoked = key("revoked", "write")
    api_services.apikey_revoke(prefix=revoked[:8])
    return ApiWorld(
        tokens={
            "anonymous": None,
            "revoked": revoked,
            "read": key("reader", "read"),
            "write": key("writer", "write"),
            "reports": key("reporter", "reports"),
            "acme_read": key("acme reader", "read", acme),
            "acme_write": key("acme writer", "write", acme),
            "globex_write": key("globex writer", "write", globex),
        }
    )


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    """The response is RFC 9457 problem+json with this status; its body."""
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json", response["Content-Type"]
    body = json.loads(response.content)
    assert body["status"] == status
    for name in ("type", "title", "detail"):
        assert isinstance(body[name], str), name
        assert body[name], name
    assert set(body) <= {"type", "title", "status", "detail", "errors"}
    return body


# --- fixtures (a plugin of tests/conftest.py) ------------------------------------------------------


@pytest.fixture
def fresh_rate_counts() -> None:
    """No request counted against any API key's rate limit (the API's modules use it for
    each of their tests: ``pytestmark``)."""
    cache.clear()


@pytest.fixture
def world(acme: Any, globex: Any, agent: Any) -> ApiWorld:
    return make_world(acme, globex)
