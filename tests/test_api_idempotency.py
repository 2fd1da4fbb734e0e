"""``Idempotency-Key``: a retried create returns the stored response and creates nothing
twice; the same key with another body is a 422; concurrent twins wait for the first."""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.utils import timezone

from sellerdesk.accounts.models import Merchant, User
from sellerdesk.api.models import IdempotencyRecord, WebhookSubscription
from sellerdesk.conversations.models import Conversation, Message
from tests.api_support import ApiClient, assert_problem, make_world

pytestmark = pytest.mark.usefixtures("fresh_rate_counts")

BODY = {"merchant_id": "m-acme", "kind": "complaint", "body": "Ödemem gelmedi."}


def _create(client: ApiClient, key: str, body: dict = BODY, path: str = "/api/v1/conversations"):
    return client.post(path, body, headers={"Idempotency-Key": key})


def test_a_retry_returns_the_stored_response_and_creates_nothing(world):
    client = world.client("write")
    first = _create(client, "order-1001-complaint")
    second = _create(client, "order-1001-complaint")

    assert first.status_code == second.status_code == 201
    assert first.content == second.content
    assert first["Location"] == second["Location"]
    assert second["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert Conversation.objects.count() == 1
    assert Message.objects.count() == 1


def test_the_same_json_written_differently_is_the_same_request(world):
    client = world.client("write")
    first = _create(client, "k1")
    spaced = json.dumps(dict(reversed(list(BODY.items()))), indent=4)
    second = client.post(
        "/api/v1/conversations", None, raw=spaced, headers={"Idempotency-Key": "k1"}
    )
    assert second.content == first.content
    assert Conversation.objects.count() == 1


def test_the_same_key_with_another_body_is_a_problem(world):
    client = world.client("write")
    _create(client, "k1")
    other = _create(client, "k1", {**BODY, "body": "Başka bir şey."})
    problem = assert_problem(other, 422)
    assert problem["type"] == "urn:sellerdesk:problem:idempotency-key-reused"
    assert problem["errors"] == [
        {"detail": "used before with another request", "header": "Idempotency-Key"}
    ]
    elsewhere = _create(client, "k1", {"email": "cem@acme.test"}, "/api/v1/merchants/m-acme/users")
    assert_problem(elsewhere, 422)
    assert Conversation.objects.count() == 1
    assert not User.objects.filter(email="cem@acme.test").exists()


def test_keys_belong_to_one_api_key(world):
    _create(world.client("write"), "k1")
    _create(world.client("acme_write"), "k1")
    assert Conversation.objects.count() == 2


def test_a_failed_request_stores_nothing_and_may_be_retried(world):
    client = world.client("write")
    failed = _create(client, "k1", {**BODY, "merchant_id": "m-nobody"})
    assert_problem(failed, 422)
    assert not IdempotencyRecord.objects.exists()
    assert _create(client, "k1").status_code == 201


def test_a_key_is_remembered_for_a_day(world, settings):
    client = world.client("write")
    _create(client, "k1")
    with time_machine.travel(timezone.now() + timedelta(hours=23)):
        assert _create(client, "k1")["Idempotent-Replayed"] == "true"
    with time_machine.travel(
        timezone.now() + timedelta(hours=settings.SELLERDESK_API_IDEMPOTENCY_HOURS, minutes=1)
    ):
        again = _create(client, "k1")
        assert again.status_code == 201
        assert "Idempotent-Replayed" not in again
    assert Conversation.objects.count() == 2
    assert IdempotencyRecord.objects.count() == 1


@pytest.mark.parametrize("value", ["", "x" * 201, "ключ", "tab\there"])
def test_a_malformed_key_is_refused(world, value):
    response = _create(world.client("write"), value)
    problem = assert_problem(response, 400)
    assert problem["type"].endswith("bad-idempotency-key")
    assert problem["errors"][0]["header"] == "Idempotency-Key"
    assert not Conversation.objects.exists()


def test_put_replays_its_first_answer(world):
    client = world.client("write")
    body = {"country": "UA", "name": "Sich"}
    headers = {"Idempotency-Key": "m-sich-1"}
    first = client.put("/api/v1/merchants/m-sich", body, headers=headers)
    second = client.put("/api/v1/merchants/m-sich", body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.content == second.content
    assert Merchant.objects.filter(external_id="m-sich").count() == 1


def test_users_and_messages_are_created_once(world, acme_conversation, agent):
    client = world.client("write")
    users = "/api/v1/merchants/m-acme/users"
    first = _create(client, "u1", {"email": "cem@acme.test"}, users)
    second = _create(client, "u1", {"email": "cem@acme.test"}, users)
    assert first.status_code == second.status_code == 201  # not a 409 for the retry
    messages = f"/api/v1/conversations/{acme_conversation.pk}/messages"
    reply = {"body": "Ödendi.", "author_email": agent.email}
    assert _create(client, "m1", reply, messages).content == (
        _create(client, "m1", reply, messages).content
    )
    assert Message.objects.filter(body="Ödendi.").count() == 1


def test_a_webhook_subscription_is_created_once(world):
    client = world.client("write")
    body = {"url": "https://hooks.marketplace.example/in", "events": ["message.created"]}
    first = _create(client, "wh-1", body, "/api/v1/webhooks")
    second = _create(client, "wh-1", body, "/api/v1/webhooks")
    assert first.status_code == second.status_code == 201
    assert second["Idempotent-Replayed"] == "true"
    assert first.content == second.content  # the secret too: the client may have lost it
    assert WebhookSubscription.objects.count() == 1


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="SQLite has one writer: concurrent twins are tested on PostgreSQL",
)
@pytest.mark.django_db(transaction=True)
def test_concurrent_twins_wait_for_the_first_and_get_its_response(acme, globex):
    world = make_world(acme, globex)
    token = world.tokens["write"]
    twins = 8
    barrier = threading.Barrier(twins)
    responses: list = [None] * twins

    def send(index: int) -> None:
        try:
            client = ApiClient(token)
            barrier.wait(timeout=30)
            responses[index] = _create(client, "concurrent-1")
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(i,)) for i in range(twins)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert all(r is not None for r in responses), "a twin never answered"
    assert {r.status_code for r in responses} == {201}
    assert len({r.content for r in responses}) == 1
    assert sum(1 for r in responses if r.get("Idempotent-Replayed") == "true") == twins - 1
    assert Conversation.objects.count() == 1
    assert Message.objects.count() == 1
    assert IdempotencyRecord.objects.count() == 1
