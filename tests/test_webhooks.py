"""Webhooks: events written with their change, one per matching subscription, signed, delivered
to a real HTTP server with retries, replayed, and managed through the API."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import time_machine
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from sellerdesk.api import webhooks
from sellerdesk.api.models import WebhookSubscription
from sellerdesk.conversations import workflow
from sellerdesk.outbox import delivery
from sellerdesk.outbox.models import OutboxItem, OutboxStatus
from sellerdesk.sla.models import SlaPolicy
from sellerdesk.sla.services import breach_sweep
from tests.api_support import assert_problem, make_world

pytestmark = pytest.mark.django_db

ALL = [
    "conversation.created",
    "message.created",
    "conversation.status_changed",
    "conversation.tagged",
    "sla.breached",
]


def subscribe(url="https://hooks.example.test/in", events=ALL, merchant=None):
    return webhooks.webhook_subscribe(url=url, events=events, merchant=merchant)[0]


def bodies(event=None):
    items = OutboxItem.objects.filter(kind="webhook").order_by("id")
    found = [item.payload["body"] for item in items]
    return [b for b in found if event is None or b["type"] == event]


def open_for(alice):
    return workflow.merchant_conversation_open(
        user=alice, kind="complaint", subject="Ödeme", body="Ödemem gelmedi."
    )


# --- Emitting ------------------------------------------------------------------------------


def test_no_subscription_no_item_and_one_query(acme_conversation, django_assert_num_queries):
    with transaction.atomic(), django_assert_num_queries(1):
        assert webhooks.emit("conversation.created", acme_conversation) == 0
    assert not OutboxItem.objects.exists()


def test_a_rolled_back_change_emits_nothing(alice):
    subscribe()

    def change_that_fails():
        with transaction.atomic():
            open_for(alice)
            raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        change_that_fails()
    assert not OutboxItem.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_emit_outside_a_transaction_is_refused(acme_conversation):
    with pytest.raises(RuntimeError, match="inside the transaction"):
        webhooks.emit("conversation.created", acme_conversation)


def test_opening_emits_conversation_created(alice, acme):
    hook = subscribe()
    conversation = open_for(alice)
    (body,) = bodies("conversation.created")
    assert body["data"]["conversation"]["id"] == conversation.pk
    assert body["data"]["conversation"]["merchant_id"] == acme.external_id
    assert body["data"]["conversation"]["status"] == "new"
    item = OutboxItem.objects.get(kind="webhook")
    assert item.key == f"webhook:{hook.pk}:conversation.created:{body['id']}"


def test_outreach_and_integrations_emit_created(agent, acme):
    subscribe(events=["conversation.created", "message.created"])
    workflow.outreach_open(agent=agent, merchant=acme, kind="request", subject="s", body="b")
    c = workflow.integration_conversation_open(
        merchant=acme, kind="question", subject="s", body="b"
    )
    workflow.integration_reply_post(conversation=c, merchant=acme, body="Ek bilgi")
    assert len(bodies("conversation.created")) == 2
    (message,) = bodies("message.created")
    assert message["data"]["message"]["body"] == "Ek bilgi"


def test_public_replies_emit_message_created_and_notes_do_not(acme_conversation, agent):
    subscribe(events=["message.created"])
    workflow.reply_post(conversation=acme_conversation, author=agent, body="Gizli", public=False)
    workflow.reply_post(conversation=acme_conversation, author=agent, body="Ödendi")
    assert [b["data"]["message"]["body"] for b in bodies()] == ["Ödendi"]


def test_status_changes_and_tags(acme_conversation, agent):
    subscribe(events=["conversation.status_changed", "conversation.tagged"])
    workflow.conversation_change_status(conversation=acme_conversation, status="open", actor=agent)
    workflow.conversation_add_tag(conversation=acme_conversation, name="Payment", actor=agent)
    workflow.conversation_remove_tag(conversation=acme_conversation, name="payment", actor=agent)
    status, added, removed = bodies()
    assert status["data"]["status"] == {"from": "new", "to": "open"}
    assert status["data"]["conversation"]["status"] == "open"
    assert (added["data"]["tags"], added["data"]["action"]) == (["payment"], "added")
    assert removed["data"]["action"] == "removed"


def test_sla_breach_emits(alice):
    SlaPolicy.objects.create(name="fast", first_response_minutes=1, business_hours=False)
    subscribe(events=["sla.breached"])
    conversation = open_for(alice)
    with time_machine.travel(timezone.now() + timedelta(minutes=5)):
        assert breach_sweep() == 1
    (body,) = bodies()
    assert body["data"]["metric"] == "first_response"
    assert body["data"]["conversation"]["id"] == conversation.pk


def test_a_merchants_subscription_gets_only_its_merchants_events(alice, eve, acme, globex):
    subscribe(events=["conversation.created"], merchant=globex)
    everyone = subscribe(events=["conversation.created"])
    open_for(alice)
    workflow.merchant_conversation_open(user=eve, kind="question", subject="s", body="b")
    keys = sorted(OutboxItem.objects.values_list("key", flat=True))
    assert len(keys) == 3
    assert sum(k.startswith(f"webhook:{everyone.pk}:") for k in keys) == 2


def test_inactive_or_other_event_subscriptions_get_nothing(alice):
    subscribe(events=["sla.breached"])
    WebhookSubscription.objects.filter(pk=subscribe().pk).update(active=False)
    open_for(alice)
    assert not OutboxItem.objects.exists()


def test_urls_must_be_https_or_local_http(settings):
    assert webhooks.url_problem("https://example.test/h") == ""
    assert webhooks.url_problem("http://127.0.0.1:9000/h") == ""
    assert webhooks.url_problem("http://example.test/h")
    assert webhooks.url_problem("ftp://example.test/h")
    settings.PRODUCTION = True
    assert webhooks.url_problem("http://localhost/h")


# --- Signing and delivery -------------------------------------------------------------------


def test_verify_accepts_our_signature_and_refuses_tampering_and_age():
    body = b'{"id":"1"}'
    signature = webhooks.sign("whsec_x", 1_800_000_000, body)
    assert webhooks.verify("whsec_x", "1800000000", body, signature, now=1_800_000_100)
    assert not webhooks.verify("whsec_x", "1800000000", body + b" ", signature, now=1_800_000_100)
    assert not webhooks.verify("whsec_y", "1800000000", body, signature, now=1_800_000_100)
    assert not webhooks.verify("whsec_x", "1800000000", body, signature, now=1_800_000_301)
    assert not webhooks.verify("whsec_x", "soon", body, signature)


class Receiver:
    """A real HTTP server on 127.0.0.1 answering each POST with the next queued status."""

    def __init__(self, statuses):
        self.statuses = list(statuses)
        self.received = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((dict(self.headers), body))
                self.send_response(receiver.statuses.pop(0) if receiver.statuses else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_port
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def test_delivery_is_signed_retried_after_a_500_then_delivered(alice):
    with Receiver([500]) as receiver:
        _, secret = webhooks.webhook_subscribe(url=receiver.url, events=["conversation.created"])
        open_for(alice)
        assert delivery.deliver_due().retried == 1
        item = OutboxItem.objects.get(kind="webhook")
        assert (item.status, item.attempts) == (OutboxStatus.PENDING, 1)
        assert "500" in item.last_error
        assert secret not in item.last_error
        with time_machine.travel(timezone.now() + timedelta(minutes=1)):
            assert delivery.deliver_due().delivered == 1
    item.refresh_from_db()
    assert (item.status, item.attempts) == (OutboxStatus.DELIVERED, 2)
    assert len(receiver.received) == 2
    headers, body = receiver.received[-1]
    assert headers["Content-Type"] == "application/json"
    assert headers["Webhook-Id"] == item.key == receiver.received[0][0]["Webhook-Id"]
    assert webhooks.verify(secret, headers["Webhook-Timestamp"], body, headers["Webhook-Signature"])
    assert json.loads(body)["type"] == "conversation.created"
    assert secret not in json.dumps(item.payload)


def test_an_unreachable_receiver_is_retried(alice):
    with Receiver([]) as receiver:
        url = receiver.url
    webhooks.webhook_subscribe(url=url, events=["conversation.created"])
    open_for(alice)
    assert delivery.deliver_due().retried == 1


def test_replay_sends_again_under_the_same_key(alice):
    with Receiver([]) as receiver:
        hook = subscribe(url=receiver.url, events=["conversation.created"])
        open_for(alice)
        delivery.deliver_due()
        item = OutboxItem.objects.get()
        assert webhooks.webhook_replay(subscription=hook, delivery_ids=[item.pk]) == 1
        assert delivery.deliver_due().delivered == 1
        since = timezone.now() - timedelta(hours=1)
        assert webhooks.webhook_replay(subscription=hook, since=since) == 1
        delivery.deliver_due()
    assert [h["Webhook-Id"] for h, _ in receiver.received] == [item.key] * 3


# --- The API ----------------------------------------------------------------------------------


@pytest.fixture
def world(acme, globex):
    cache.clear()
    return make_world(acme, globex)


def test_the_api_creates_lists_logs_replays_and_deletes(world, alice):
    client = world.client("write")
    created = client.post(
        "/api/v1/webhooks",
        {
            "url": "https://hooks.example.test/in",
            "events": ["conversation.created"],
            "merchant_id": "m-acme",
        },
    )
    assert created.status_code == 201, created.content
    hook = json.loads(created.content)
    assert hook["secret"].startswith("whsec_")
    assert hook["merchant_id"] == "m-acme"
    assert WebhookSubscription.objects.get().secret == hook["secret"]

    listed = json.loads(client.get("/api/v1/webhooks").content)["items"]
    assert [h["id"] for h in listed] == [hook["id"]]
    assert "secret" not in listed[0]

    open_for(alice)
    log = json.loads(client.get(f"/api/v1/webhooks/{hook['id']}/deliveries").content)["items"]
    assert [d["status"] for d in log] == ["pending"]
    OutboxItem.objects.update(status="failed")
    replayed = client.post(
        f"/api/v1/webhooks/{hook['id']}/replay", {"delivery_ids": [log[0]["id"]]}
    )
    assert json.loads(replayed.content) == {"requeued": 1}
    assert_problem(client.post(f"/api/v1/webhooks/{hook['id']}/replay", {}), 422)
    bad_since = client.post(f"/api/v1/webhooks/{hook['id']}/replay", {"since": "yesterday"})
    assert_problem(bad_since, 422)

    assert client.request("DELETE", f"/api/v1/webhooks/{hook['id']}").status_code == 204
    assert not WebhookSubscription.objects.exists()
    assert OutboxItem.objects.get().status == "failed"
    assert_problem(client.request("DELETE", f"/api/v1/webhooks/{hook['id']}"), 404)


@pytest.mark.parametrize(
    "body",
    [
        {"url": "http://example.test/in", "events": ["conversation.created"]},
        {"url": "https://example.test/in", "events": ["conversation.deleted"]},
        {"url": "https://example.test/in", "events": []},
        {"url": "https://example.test/in", "events": ["sla.breached"], "merchant_id": "nope"},
    ],
)
def test_the_api_refuses_bad_subscriptions(world, body):
    assert_problem(world.client("write").post("/api/v1/webhooks", body), 422)
    assert not WebhookSubscription.objects.exists()


def test_a_merchants_key_cannot_manage_webhooks(world):
    assert_problem(world.client("acme_write").get("/api/v1/webhooks"), 403)


def test_mail_from_a_merchant_emits_created_then_message_created(alice, settings, tmp_path):
    from tests.emails import deliver, write

    settings.MEDIA_ROOT = tmp_path
    subscribe(events=["conversation.created", "message.created"])
    first = deliver(write(subject="Ödeme gecikti", message_id="<first@acme.test>"))
    deliver(write(subject="Re: Ödeme gecikti", references=["<first@acme.test>"]))
    created = bodies("conversation.created")
    assert [b["data"]["conversation"]["id"] for b in created] == [first.conversation.pk]
    messages = bodies("message.created")
    assert len(messages) == 1
    assert messages[0]["data"]["conversation"]["id"] == first.conversation.pk
