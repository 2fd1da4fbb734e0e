"""The REST API's authorization matrix: every operation of the OpenAPI document, asked by every
kind of caller (anonymous, a revoked key, each scope, Acme's keys and Globex's), on Acme's
rows, with the expected status. An operation added without a row fails here; a refused
request changes nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.core.cache import cache

from sellerdesk.accounts.models import Merchant, User
from sellerdesk.api.models import IdempotencyRecord, WebhookSubscription
from sellerdesk.api.webhooks import webhook_subscribe
from sellerdesk.conversations.models import (
    Activity,
    Conversation,
    ConversationTag,
    Message,
    StatusChange,
    Tag,
)
from sellerdesk.outbox.models import OutboxItem
from tests.api_support import CALLERS, ApiClient, assert_problem, make_world


def expect(
    anonymous: int,
    revoked: int,
    read: int,
    write: int,
    reports: int,
    acme_read: int,
    acme_write: int,
    globex_write: int,
) -> dict[str, int]:
    values = (anonymous, revoked, read, write, reports, acme_read, acme_write, globex_write)
    return dict(zip(CALLERS, values, strict=True))


#: Reads of Acme's rows: every key but reports; Globex's key does not find them.
READ_ACME = expect(401, 401, 200, 200, 403, 200, 200, 404)
#: Reads of lists: each merchant's key sees its own part.
READ_ANY = expect(401, 401, 200, 200, 403, 200, 200, 200)
#: Creating under Acme: write keys of no merchant or of Acme; Globex's does not find Acme.
CREATE_ACME = expect(401, 401, 403, 201, 403, 403, 201, 404)
#: Changing Acme's rows.
CHANGE_ACME = expect(401, 401, 403, 200, 403, 403, 200, 404)


#: Webhooks: managed by write keys of no merchant only.
def webhooks_only(ok: int) -> dict[str, int]:
    return expect(401, 401, 403, ok, 403, 403, 403, 403)


@dataclass(frozen=True)
class Row:
    method: str
    path: str
    expected: dict[str, int]
    body: dict[str, Any] | None = None
    #: The body a merchant's key sends, where it differs (it names no staff member).
    merchant_body: dict[str, Any] | None = None
    query: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{self.method} {self.path}"


MATRIX = [
    Row(
        "PUT",
        "/api/v1/merchants/{merchant_id}",
        expect(401, 401, 403, 200, 403, 403, 403, 403),
        body={"country": "TR", "name": "Acme Tekstil A.Ş."},
    ),
    Row("GET", "/api/v1/merchants/{merchant_id}", READ_ACME),
    Row(
        "POST",
        "/api/v1/merchants/{merchant_id}/users",
        CREATE_ACME,
        body={"email": "cem@acme.test", "full_name": "Cem Can"},
    ),
    Row("GET", "/api/v1/merchants/{merchant_id}/users", READ_ACME),
    Row(
        "POST",
        "/api/v1/conversations",
        # Globex's key may not file for Acme (a 403: whether Acme exists is not the point).
        expect(401, 401, 403, 201, 403, 403, 201, 403),
        body={"merchant_id": "m-acme", "kind": "complaint", "body": "Ödemem gelmedi."},
    ),
    Row("GET", "/api/v1/conversations", READ_ANY, query={"merchant": "m-acme"}),
    Row("GET", "/api/v1/conversations/{conversation_id}", READ_ACME),
    Row("PATCH", "/api/v1/conversations/{conversation_id}", CHANGE_ACME, body={"status": "solved"}),
    Row("GET", "/api/v1/conversations/{conversation_id}/messages", READ_ACME),
    Row(
        "POST",
        "/api/v1/conversations/{conversation_id}/messages",
        CREATE_ACME,
        body={"body": "Ödendi.", "author_email": "agent@desk.test"},
        merchant_body={"body": "Teşekkürler."},
    ),
    Row("GET", "/api/v1/tags", READ_ANY, query={"prefix": "pay"}),
    Row("GET", "/api/v1/search", READ_ANY, query={"q": "payment"}),
    Row(
        "POST",
        "/api/v1/reports",
        expect(401, 401, 403, 403, 200, 403, 403, 403),
        body={"from": "2020-01-01", "to": "2030-01-01"},
    ),
    Row(
        "POST",
        "/api/v1/webhooks",
        webhooks_only(201),
        body={"url": "https://hooks.example.test/in", "events": ["message.created"]},
    ),
    Row("GET", "/api/v1/webhooks", webhooks_only(200)),
    Row("DELETE", "/api/v1/webhooks/{webhook_id}", webhooks_only(204)),
    Row("GET", "/api/v1/webhooks/{webhook_id}/deliveries", webhooks_only(200)),
    Row(
        "POST",
        "/api/v1/webhooks/{webhook_id}/replay",
        webhooks_only(200),
        body={"since": "2020-01-01T00:00:00Z"},
    ),
]
BY_NAME = {row.name: row for row in MATRIX}

STATE = (
    Conversation,
    Message,
    StatusChange,
    Activity,
    Tag,
    ConversationTag,
    Merchant,
    User,
    IdempotencyRecord,
    WebhookSubscription,
    OutboxItem,
)


def snapshot() -> dict[str, list[dict]]:
    return {m._meta.label: list(m.objects.order_by("pk").values()) for m in STATE}


@pytest.fixture(autouse=True)
def _fresh_rate_counts():
    cache.clear()


@pytest.fixture
def world(acme, globex, agent, acme_conversation):
    world = make_world(acme, globex)
    world.conversation = acme_conversation  # type: ignore[attr-defined]
    world.webhook = webhook_subscribe(  # type: ignore[attr-defined]
        url="https://hooks.example.test/acme", events=["conversation.created"]
    )[0]
    return world


def _openapi() -> dict[str, Any]:
    response = ApiClient().get("/api/v1/openapi.json")
    assert response.status_code == 200
    return json.loads(response.content)


def test_every_operation_of_the_openapi_document_has_a_row():
    document = _openapi()
    operations = {
        f"{method.upper()} {path}"
        for path, methods in document["paths"].items()
        for method in methods
        if method in {"get", "post", "put", "patch", "delete"}
    }
    assert not operations - set(BY_NAME), f"operations without a row: {operations - set(BY_NAME)}"
    assert not set(BY_NAME) - operations, f"rows for no operation: {set(BY_NAME) - operations}"


def test_every_operation_needs_a_key():
    for path, methods in _openapi()["paths"].items():
        for method, operation in methods.items():
            assert operation.get("security") == [{"KeyAuth": []}], f"{method} {path}"


def _url(row: Row, world: Any) -> str:
    return row.path.format(
        merchant_id="m-acme", conversation_id=world.conversation.pk, webhook_id=world.webhook.pk
    )


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("row", MATRIX, ids=lambda r: r.name)
def test_matrix(world, row, caller):
    client = world.client(caller)
    body = row.merchant_body if caller.startswith(("acme", "globex")) else None
    body = body or row.body
    expected = row.expected[caller]
    before = snapshot()

    response = client.request(row.method, _url(row, world), body, query=row.query)

    if expected >= 400:
        problem = assert_problem(response, expected)
        if expected == 401:
            assert response["WWW-Authenticate"] == "Bearer"
        assert snapshot() == before, f"a refused {row.name} by {caller} changed stored rows"
        assert problem["status"] == expected
    elif expected == 204:
        assert response.status_code == expected, response.content
    else:
        assert response.status_code == expected, response.content
        assert response["Content-Type"] == "application/json"
    if row.method == "GET":
        assert snapshot() == before


def test_a_merchants_key_lists_only_its_own_conversations(world, globex_conversation):
    acme = json.loads(world.client("acme_read").get("/api/v1/conversations").content)
    globex = json.loads(world.client("globex_write").get("/api/v1/conversations").content)
    assert [c["id"] for c in acme["items"]] == [world.conversation.pk]
    assert [c["id"] for c in globex["items"]] == [globex_conversation.pk]
    # Naming the other merchant in the filter finds nothing rather than its rows.
    other = world.client("globex_write").get("/api/v1/conversations", merchant="m-acme")
    assert json.loads(other.content)["items"] == []


def test_a_merchants_key_cannot_reach_another_merchants_users(world, globex, eve):
    response = world.client("acme_write").post(
        "/api/v1/merchants/m-globex/users", {"email": "spy@acme.test"}
    )
    assert_problem(response, 404)
    assert_problem(world.client("acme_read").get("/api/v1/merchants/m-globex/users"), 404)
    assert not User.objects.filter(email="spy@acme.test").exists()


@pytest.mark.parametrize(
    "authorization",
    [
        "",
        "Bearer",
        "Bearer ",
        "Basic YWxpY2U6cGFzcw==",
        "Bearer not-a-key",
        "Bearer ключ",
        "Token x",
    ],
)
def test_a_missing_or_malformed_key_is_a_401(world, authorization):
    client = ApiClient()
    response = client.request("GET", "/api/v1/tags", headers={"Authorization": authorization})
    assert_problem(response, 401)
    assert response["WWW-Authenticate"] == "Bearer"
