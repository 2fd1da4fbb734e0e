"""Posting a message through the API, the path ``make bench-api`` measures: what it costs in
queries, and that the cuts made for it keep every behaviour (the author, the last change, the
webhook's outbox row, idempotent retries)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.utils import timezone

from sellerdesk.api import webhooks
from sellerdesk.api.models import IdempotencyRecord
from sellerdesk.conversations import workflow
from sellerdesk.conversations.models import Conversation, Message
from sellerdesk.outbox.models import OutboxItem
from tests.api_support import assert_problem

pytestmark = pytest.mark.usefixtures("fresh_rate_counts")

#: Queries for a staff member's reply with an Idempotency-Key on a conversation already
#: answered, with a webhook subscribed (bench/api.py's request): the key (with its merchant),
#: the conversation read and locked in one statement (with its merchant, whether the next
#: message number is taken, the configuration generation — whether the process's copy of the
#: subscriptions and SLA policies is current — and the author the post names), the message
#: with the conversation's facts and last change (one statement on PostgreSQL, two
#: elsewhere), the outbox row, the idempotency record, and the transaction (BEGIN, COMMIT).
#: On PostgreSQL the outbox row and the idempotency record wait for the COMMIT and go with it
#: in one round trip (``core/postgresql``): counted here as statements, each.
#: It was 25 before bench/api.py, 14 with the savepoint, 12 with the conversation read twice
#: and the subscriptions and SLA policies queried on every post, 10 with the generation, the
#: author and the conversation's UPDATE apart. The key's last use is written at most once a
#: minute and is not counted here.
REPLY_QUERIES = 7 if connection.vendor == "postgresql" else 8


@pytest.fixture
def answered(acme_conversation, agent):
    workflow.reply_post(conversation=acme_conversation, author=agent, body="We are looking.")
    webhooks.webhook_subscribe(url="https://hooks.example.com/in", events=["message.created"])
    return acme_conversation


def _post(client, conversation, key, body="The payout is on its way."):
    return client.post(
        f"/api/v1/conversations/{conversation.pk}/messages",
        {"body": body, "author_email": "agent@desk.test"},
        headers={"Idempotency-Key": key},
    )


def test_a_reply_costs_a_fixed_number_of_queries(world, answered, django_assert_num_queries):
    client = world.client("write")
    assert _post(client, answered, "warm").status_code == 201  # writes the key's last use
    with django_assert_num_queries(REPLY_QUERIES):
        response = _post(client, answered, "measured")
    assert response.status_code == 201


def test_a_reply_keeps_its_author_its_time_and_its_webhook(world, answered, agent):
    client = world.client("write")
    response = _post(client, answered, "k1")
    assert response.status_code == 201
    body = json.loads(response.content)
    assert body["attachments"] == []
    message = Message.objects.get(pk=body["id"])
    assert message.author_user == agent
    assert message.external_id == "3"  # the merchant's, the first answer, this one
    conversation = Conversation.objects.get(pk=answered.pk)
    assert conversation.updated_at == message.created_at
    assert conversation.message_seq == 3
    assert conversation.status == "open"
    (item,) = OutboxItem.objects.filter(kind="webhook")
    assert item.payload["body"]["type"] == "message.created"
    assert item.payload["body"]["data"]["message"]["id"] == message.pk
    assert IdempotencyRecord.objects.get().status == 201


def test_the_author_read_with_the_conversation_is_an_active_staff_member(
    world, answered, agent, acme
):
    client = world.client("write")
    url = f"/api/v1/conversations/{answered.pk}/messages"
    for address in ("nobody@desk.test", acme.users.first().email):
        refused = client.post(url, {"body": "Hi", "author_email": address})
        problem = assert_problem(refused, 422)
        assert problem["errors"][0]["pointer"] == "#/author_email"
    # The address as stored (lower case), whatever case the caller wrote it in.
    written = client.post(url, {"body": "Hi", "author_email": " Agent@Desk.TEST "})
    assert written.status_code == 201
    assert Message.objects.get(pk=json.loads(written.content)["id"]).author_user == agent
    agent.is_active = False
    agent.save(update_fields=["is_active"])
    assert_problem(client.post(url, {"body": "Hi", "author_email": agent.email}), 422)
    # Another merchant's conversation is not found, whoever the author.
    globex_key = world.client("globex_write")
    assert_problem(globex_key.post(url, {"body": "Hi", "author_email": agent.email}), 404)
    assert Message.objects.filter(body="Hi").count() == 1


def test_the_lock_reads_the_author_without_the_merchant(answered, agent):
    """The staff member's LEFT JOIN without the merchant's: the lock still takes the
    conversation's row only (PostgreSQL refuses to lock an outer join's nullable side)."""
    from django.db import transaction

    from sellerdesk.conversations.services import conversation_lock

    with transaction.atomic():
        found = conversation_lock(pk=answered.pk, staff_email="AGENT@desk.test")
        missing = conversation_lock(pk=answered.pk, staff_email="nobody@desk.test")
    assert found is not None
    assert found.pk == answered.pk
    assert found.__dict__["staff"] == agent
    assert missing is not None
    assert missing.__dict__["staff"] is None


def test_the_next_number_skips_one_an_imported_message_holds(world, answered):
    # An imported thread may hold any ids: the new message takes the next free number.
    Message.objects.create(
        conversation=answered,
        external_id="3",
        author_type="merchant",
        body="imported",
        created_at=timezone.now(),
    )
    Message.objects.create(
        conversation=answered,
        external_id="4",
        author_type="merchant",
        body="imported",
        created_at=timezone.now(),
    )
    response = _post(world.client("write"), answered, "k1")
    assert response.status_code == 201
    assert Message.objects.get(pk=json.loads(response.content)["id"]).external_id == "5"


def test_a_retry_whose_work_would_now_fail_still_gets_the_first_answer(world, answered, agent):
    client = world.client("write")
    first = _post(client, answered, "k1")
    assert first.status_code == 201
    agent.is_active = False  # the author may no longer write
    agent.save(update_fields=["is_active"])
    again = _post(client, answered, "k1")
    assert again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again.content == first.content
    assert Message.objects.filter(conversation=answered).count() == 3
    # A new request by the same author is refused, and stores nothing.
    assert_problem(_post(client, answered, "k2"), 422)
    assert IdempotencyRecord.objects.count() == 1


def test_a_retry_with_another_body_is_refused_and_creates_nothing(world, answered):
    client = world.client("write")
    assert _post(client, answered, "k1").status_code == 201
    assert_problem(_post(client, answered, "k1", body="Something else"), 422)
    assert Message.objects.filter(conversation=answered).count() == 3
    assert OutboxItem.objects.filter(kind="webhook").count() == 1


def test_an_expired_key_not_yet_pruned_creates_anew(world, answered, settings):
    client = world.client("write")
    start = timezone.now()
    hours = settings.SELLERDESK_API_IDEMPOTENCY_HOURS
    assert _post(client, answered, "k1").status_code == 201
    # This process prunes its expired records once a minute: just before k1 expires...
    with time_machine.travel(start + timedelta(hours=hours, seconds=-20), tick=False):
        assert _post(client, answered, "k2").status_code == 201
    # ...so 30 seconds later k1 has expired but is still stored.
    with time_machine.travel(start + timedelta(hours=hours, seconds=10), tick=False):
        again = _post(client, answered, "k1")
    assert again.status_code == 201
    assert "Idempotent-Replayed" not in again
    assert Message.objects.filter(conversation=answered).count() == 5
    assert sorted(IdempotencyRecord.objects.values_list("key", flat=True)) == ["k1", "k2"]
