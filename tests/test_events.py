"""The services publish real-time events through events.publish_on_commit: after commit, to
the groups allowed to see them, and nothing when the change is rolled back."""

from __future__ import annotations

import asyncio
import os
import sys
from uuid import uuid4

import pytest
import redis
from asgiref.sync import async_to_sync
from channels.layers import channel_layers, get_channel_layer
from channels_redis.core import RedisChannelLayer as ChannelsRedisLayer
from django.db import transaction
from redis.asyncio.connection import AbstractConnection

from sellerdesk.connectors.chat.redis_layer import RedisChannelLayer
from sellerdesk.conversations import events, services, workflow

pytestmark = pytest.mark.django_db


class Listener:
    """A channel of the real (in-memory) layer, in the desk's group and a merchant's."""

    def __init__(self, *groups: str) -> None:
        self.layer = get_channel_layer()
        self.channel = async_to_sync(self.layer.new_channel)()
        for group in groups:
            async_to_sync(self.layer.group_add)(group, self.channel)

    def events(self) -> list[dict]:
        async def drain() -> list[dict]:
            got = []
            while True:
                try:
                    message = self.layer.channels[self.channel].get_nowait()
                except (KeyError, asyncio.QueueEmpty):
                    return got
                got.append(message[1]["event"])

        return async_to_sync(drain)()


@pytest.fixture(autouse=True)
def _fresh_layer():
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


@pytest.fixture
def desk():
    return Listener(events.DESK_GROUP)


def test_a_reply_is_published_after_commit_to_the_desk_and_its_merchant(
    acme_conversation, agent, desk, django_capture_on_commit_callbacks
):
    merchant = Listener(events.merchant_group(acme_conversation.merchant_id))
    with django_capture_on_commit_callbacks() as callbacks:
        message = workflow.reply_post(conversation=acme_conversation, author=agent, body="Selam")
        # Not yet committed: nothing has left.
        assert desk.events() == []
    for callback in callbacks:
        callback()
    published = desk.events()
    assert published[0] == events.message_payload(message)
    assert published[0]["body"] == "Selam"
    assert [e["type"] for e in published] == ["message", "conversation"]  # new → open
    assert merchant.events() == published


def test_a_note_goes_to_staff_only(
    acme_conversation, agent, desk, django_capture_on_commit_callbacks
):
    merchant = Listener(events.merchant_group(acme_conversation.merchant_id))
    with django_capture_on_commit_callbacks(execute=True):
        workflow.reply_post(conversation=acme_conversation, author=agent, body="n", public=False)
    assert [(e["type"], e["public"]) for e in desk.events()] == [("message", False)]
    assert merchant.events() == []


def test_a_rolled_back_change_publishes_nothing(
    acme_conversation, agent, desk, django_capture_on_commit_callbacks
):
    class Boom(Exception):
        pass

    def change_then_fail() -> None:
        with transaction.atomic():
            workflow.reply_post(conversation=acme_conversation, author=agent, body="lost")
            workflow.conversation_assign(
                conversation=acme_conversation, assignee=agent, actor=agent
            )
            raise Boom

    with django_capture_on_commit_callbacks() as callbacks, pytest.raises(Boom):
        change_then_fail()
    assert callbacks == []
    assert desk.events() == []


def test_assignee_changes_go_to_staff_and_status_changes_to_everyone(
    acme_conversation, agent, desk, django_capture_on_commit_callbacks
):
    merchant = Listener(events.merchant_group(acme_conversation.merchant_id))
    with django_capture_on_commit_callbacks(execute=True):
        workflow.conversation_assign(conversation=acme_conversation, assignee=agent, actor=agent)
        workflow.conversation_change_status(
            conversation=acme_conversation, status="solved", actor=agent
        )
    assert [(e["change"], e.get("assignee")) for e in desk.events()] == [
        ("assignee", agent.pk),
        ("status", None),
    ]
    assert [(e["change"], e["status"]) for e in merchant.events()] == [("status", "solved")]


def test_a_new_conversation_is_published_with_its_first_message(
    alice, desk, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        conversation = workflow.merchant_conversation_open(
            user=alice, kind="question", subject="Chat", body="Merhaba", channel="chat"
        )
    created, first = desk.events()
    assert (created["type"], created["change"], created["channel"]) == (
        "conversation",
        "created",
        "chat",
    )
    assert (first["conversation"], first["body"]) == (conversation.pk, "Merhaba")


def test_a_resent_client_id_stores_once_and_publishes_once(
    acme_conversation, alice, desk, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        first = workflow.reply_post(
            conversation=acme_conversation, author=alice, body="bir", client_id="k1"
        )
        again = workflow.reply_post(
            conversation=acme_conversation, author=alice, body="bir", client_id="k1"
        )
    assert again.pk == first.pk
    assert [e["id"] for e in desk.events() if e["type"] == "message"] == [first.pk]


def test_the_client_id_is_unique_in_its_conversation_in_the_database(acme_conversation, alice):
    from django.db import IntegrityError

    from sellerdesk.conversations.models import Message

    workflow.reply_post(conversation=acme_conversation, author=alice, body="a", client_id="k2")
    with pytest.raises(IntegrityError), transaction.atomic():
        Message.objects.create(
            conversation=acme_conversation,
            external_id="x-2",
            author_type="merchant",
            body="b",
            created_at=acme_conversation.created_at,
            client_id="k2",
        )


def test_a_client_id_longer_than_its_column_is_refused(acme_conversation, alice):
    from sellerdesk.core.errors import ValidationError

    with pytest.raises(ValidationError, match="client_id is longer than 64"):
        services.message_add(
            conversation=acme_conversation, author_type="merchant", body="x", client_id="k" * 65
        )


def test_a_channel_layer_that_fails_costs_the_event_not_the_change(
    acme_conversation, agent, monkeypatch, django_capture_on_commit_callbacks, caplog
):
    layer = get_channel_layer()
    async_to_sync(layer.group_add)("desk", "specific.listener!1")  # a desk socket listens

    async def broken(group, message):
        raise ConnectionError("redis is down")

    monkeypatch.setattr(layer, "group_send", broken)
    with django_capture_on_commit_callbacks(execute=True):
        message = workflow.reply_post(conversation=acme_conversation, author=agent, body="kept")
    assert message.pk is not None
    assert "real-time event not delivered" in caplog.text


def test_an_in_memory_layer_with_no_socket_listening_is_not_handed_the_event(
    acme_conversation, agent, monkeypatch, django_capture_on_commit_callbacks
):
    """The mail receiver and the worker publish too; with the in-memory layer nobody there
    listens, and handing the event over would cost a thread and an event loop per event."""
    layer = get_channel_layer()
    handed: list[str] = []

    async def record(group, message):
        handed.append(group)

    monkeypatch.setattr(layer, "group_send", record)
    with django_capture_on_commit_callbacks(execute=True):
        workflow.reply_post(conversation=acme_conversation, author=agent, body="nobody")
    assert handed == []
    async_to_sync(layer.group_add)(
        f"merchant.{acme_conversation.merchant_id}", "specific.listener!2"
    )
    with django_capture_on_commit_callbacks(execute=True):
        workflow.reply_post(conversation=acme_conversation, author=agent, body="a merchant")
    # Both groups are handed the event once one of them has a socket.
    assert handed == ["desk", f"merchant.{acme_conversation.merchant_id}"]


# --- With Redis (several server processes) ------------------------------------------------------

#: The Redis the next tests use, with keys of their own (skipped when none answers there).
TEST_REDIS_URL = os.environ.get("SELLERDESK_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


#: The hosts as settings.CHANNEL_LAYERS gives them (the read time-out well above the blocking
#: pop's; it also makes redis-py send each command through asyncio.wait_for).
TEST_REDIS_HOSTS = [{"address": TEST_REDIS_URL, "socket_timeout": 30}]


def _redis_layer(layer_class: type = RedisChannelLayer):
    try:
        redis.Redis.from_url(TEST_REDIS_URL, socket_connect_timeout=0.5).ping()
    except redis.exceptions.ConnectionError:
        pytest.skip(f"no Redis at {TEST_REDIS_URL}")
    layer = layer_class(hosts=TEST_REDIS_HOSTS, prefix=f"sellerdesk-test-{uuid4().hex}")
    yield layer

    async def forget() -> None:
        await layer.flush()  # the keys of this prefix only
        await layer.close_pools()

    async_to_sync(forget)()


redis_layer = pytest.fixture(_redis_layer)


@pytest.fixture
def channels_own_redis_layer():
    yield from _redis_layer(ChannelsRedisLayer)


def test_with_redis_an_event_goes_to_the_groups_someone_listens_to(redis_layer, monkeypatch):
    sent: list[str] = []
    send = redis_layer.group_send

    async def counted(group, message):
        sent.append(group)
        await send(group, message)

    monkeypatch.setattr(redis_layer, "group_send", counted)

    async def scenario() -> dict:
        channel = await redis_layer.new_channel()
        await redis_layer.group_add("desk", channel)
        assert await redis_layer.groups_with_members(["desk", "merchant.7"]) == {"desk"}
        event = {"type": events.HANDLER, "event": {"type": "message", "id": 1}}
        await events._group_send(redis_layer, [(["desk", "merchant.7"], event)])
        await events._group_send(redis_layer, [(["merchant.7"], event)], together=True)
        received = await redis_layer.receive(channel)
        await redis_layer.group_discard("desk", channel)
        assert await redis_layer.groups_with_members(["desk"]) == set()
        return received

    assert async_to_sync(scenario)()["event"] == {"type": "message", "id": 1}
    assert sent == ["desk"]  # nobody listens to the merchant's group: not sent there


def test_with_redis_an_expired_member_does_not_count(redis_layer):
    redis_layer.group_expiry = 1

    async def scenario() -> set[str]:
        await redis_layer.group_add("desk", await redis_layer.new_channel())
        await asyncio.sleep(2.1)
        return await redis_layer.groups_with_members(["desk"])

    assert async_to_sync(scenario)() == set()


def test_with_redis_members_are_counted_after_redis_forgot_the_script(redis_layer):
    """The count is a Lua script sent by its hash: a Redis that lost it (restarted, flushed)
    is sent the script itself."""

    async def scenario() -> set[str]:
        await redis_layer.group_add("desk", await redis_layer.new_channel())
        await redis_layer.connection(0).script_flush()
        return await redis_layer.groups_with_members(["desk", "merchant.7"])

    assert async_to_sync(scenario)() == {"desk"}


@pytest.fixture
def cancel_as_sent(monkeypatch):
    """A list: the task put in it is cancelled just as the next command has been sent, the
    moment ``asyncio.wait_for`` (before Python 3.12) returns the send and drops the
    cancellation."""
    tasks: list[asyncio.Task] = []
    send = AbstractConnection._send_packed_command

    async def sent_then_cancel(self, command):
        await send(self, command)
        if tasks:
            tasks.pop().cancel()

    monkeypatch.setattr(AbstractConnection, "_send_packed_command", sent_then_cancel)
    return tasks


def test_with_redis_a_receive_cancelled_as_its_command_is_sent_ends(redis_layer, cancel_as_sent):
    """A socket's consumer that ends cancels its receive; the receive ends, and the layer's
    next commands get their own answers (the connection whose answer was left unread is not
    used again)."""

    async def scenario() -> bool:
        receiving = asyncio.ensure_future(redis_layer.receive(await redis_layer.new_channel()))
        cancel_as_sent.append(receiving)
        done, _ = await asyncio.wait({receiving}, timeout=3)
        channel = await redis_layer.new_channel()
        await redis_layer.group_add("desk", channel)
        assert await redis_layer.groups_with_members(["desk", "merchant.7"]) == {"desk"}
        return receiving in done and receiving.cancelled()

    assert async_to_sync(scenario)()


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="asyncio.wait_for keeps it from 3.12 on")
def test_with_redis_channels_own_layer_loses_that_cancellation(
    channels_own_redis_layer, cancel_as_sent
):
    """Why the layer's connections keep cancellations: with channels_redis's own, the same
    receive goes on after its cancellation, a blocking pop after another."""
    layer = channels_own_redis_layer

    async def scenario() -> bool:
        receiving = asyncio.ensure_future(layer.receive(await layer.new_channel()))
        cancel_as_sent.append(receiving)
        done, _ = await asyncio.wait({receiving}, timeout=1)
        receiving.cancel()  # again: this one reaches it (during the blocking pop)
        await asyncio.wait({receiving}, timeout=6)
        return receiving not in done

    assert async_to_sync(scenario)()
