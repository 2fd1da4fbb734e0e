"""The live-chat websocket (connectors.chat), through the real ASGI application with Channels'
communicator: sign-in, scoping across merchants, replay after reconnecting, client ids,
typing and who is viewing, and frames that are refused."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import channel_layers
from channels.testing import WebsocketCommunicator
from django.test import Client

from sellerdesk.asgi import application
from sellerdesk.conversations import workflow
from sellerdesk.conversations.models import Message

# The consumer stores through the services in its own thread and publishes on commit: these
# tests need real commits.
pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = (b"origin", b"http://127.0.0.1")


@pytest.fixture(autouse=True)
def _fresh_layer():
    """A new in-memory channel layer per test: its queues belong to one event loop."""
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


def _cookie(user) -> bytes:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


async def socket(user=None, *, origin: tuple[bytes, bytes] = ORIGIN) -> WebsocketCommunicator:
    headers = [origin]
    if user is not None:
        headers.append((b"cookie", await database_sync_to_async(_cookie)(user)))
    return WebsocketCommunicator(application, "/ws/chat/", headers=headers)


async def opened(user) -> WebsocketCommunicator:
    ws = await socket(user)
    connected, _ = await ws.connect()
    assert connected
    hello = await ws.receive_json_from()
    assert hello["type"] == "hello"
    return ws


async def frames_until(ws: WebsocketCommunicator, kind: str, timeout: float = 2) -> list[dict]:
    """Every frame up to and including the first of type ``kind``."""
    got = []
    while True:
        frame = await ws.receive_json_from(timeout=timeout)
        got.append(frame)
        if frame["type"] == kind:
            return got


async def drain(ws: WebsocketCommunicator) -> list[dict]:
    """Every frame that arrives until the socket falls quiet."""
    got = []
    while not await ws.receive_nothing(timeout=0.3):
        got.append(await ws.receive_json_from())
    return got


def run(scenario: Callable[[], Awaitable[Any]]) -> Any:
    return async_to_sync(scenario)()


db = database_sync_to_async


def test_a_socket_without_a_session_is_closed_with_4401():
    async def scenario():
        ws = await socket(None)
        connected, _ = await ws.connect()
        assert connected
        error = await ws.receive_json_from()
        assert error == {"type": "error", "code": "sign_in", "detail": "sign in first"}
        closed = await ws.receive_output()
        assert closed == {"type": "websocket.close", "code": 4401}

    run(scenario)


def test_a_socket_from_another_site_is_refused(alice):
    async def scenario():
        ws = await socket(alice, origin=(b"origin", b"https://evil.example"))
        connected, _ = await ws.connect()
        assert not connected

    run(scenario)


def test_staff_without_their_second_factor_are_refused_where_it_is_required(agent, settings):
    settings.SELLERDESK_STAFF_2FA_REQUIRED = True

    async def scenario():
        ws = await socket(agent)
        await ws.connect()
        assert (await ws.receive_json_from())["code"] == "forbidden"
        assert await ws.receive_output() == {"type": "websocket.close", "code": 4403}

    run(scenario)


def test_a_merchant_socket_carries_only_its_own_merchants_conversations(
    acme_conversation, globex_conversation, alice, eve, agent
):
    async def scenario():
        alice_ws, eve_ws, desk_ws = await opened(alice), await opened(eve), await opened(agent)
        await db(workflow.reply_post)(conversation=acme_conversation, author=agent, body="Hello")
        # The reply, then the status it moved the conversation to (new → open).
        for ws in (alice_ws, desk_ws):
            reply, status = await drain(ws)
            assert (reply["type"], reply["conversation"]) == ("message", acme_conversation.pk)
            assert (reply["body"], reply["public"]) == ("Hello", True)
            assert (status["type"], status["status"]) == ("conversation", "open")
        # An internal note: staff only.
        await db(workflow.reply_post)(
            conversation=acme_conversation, author=agent, body="check payouts", public=False
        )
        note = await desk_ws.receive_json_from()
        assert (note["body"], note["public"]) == ("check payouts", False)
        assert await alice_ws.receive_nothing(timeout=0.2)
        # Globex's user heard nothing of Acme's conversation.
        assert await eve_ws.receive_nothing(timeout=0.2)
        # ... and may not open it, nor write to it.
        await eve_ws.send_json_to({"type": "subscribe", "conversation": acme_conversation.pk})
        refused = await eve_ws.receive_json_from()
        assert refused["type"] == "error"
        assert refused["code"] == "not_found"
        await eve_ws.send_json_to(
            {"type": "send", "conversation": acme_conversation.pk, "body": "hi", "client_id": "x"}
        )
        assert (await eve_ws.receive_json_from())["code"] == "not_found"
        assert await alice_ws.receive_nothing(timeout=0.2)
        for ws in (alice_ws, eve_ws, desk_ws):
            await ws.disconnect()

    run(scenario)
    assert not Message.objects.filter(body="hi").exists()


def test_a_sent_message_is_stored_then_acknowledged_and_delivered_with_its_id(
    acme_conversation, alice, agent
):
    async def scenario():
        alice_ws, desk_ws = await opened(alice), await opened(agent)
        await alice_ws.send_json_to(
            {
                "type": "send",
                "conversation": acme_conversation.pk,
                "body": "Ödeme nerede? 货款呢？",
                "client_id": "c-1",
            }
        )
        frames = await frames_until(alice_ws, "ack")
        ack = frames[-1]
        delivered = await desk_ws.receive_json_from()
        assert delivered["type"] == "message"
        assert delivered["id"] == ack["id"]
        assert delivered["client_id"] == "c-1"
        assert delivered["author_type"] == "merchant"
        await alice_ws.disconnect()
        await desk_ws.disconnect()
        return ack["id"]

    message_id = run(scenario)
    stored = Message.objects.get(pk=message_id)
    assert stored.body == "Ödeme nerede? 货款呢？"
    assert stored.author_user == alice
    assert stored.client_id == "c-1"


def test_a_resent_client_id_lands_once_and_is_acknowledged_with_the_same_id(
    acme_conversation, alice
):
    frame = {
        "type": "send",
        "conversation": acme_conversation.pk,
        "body": "once",
        "client_id": "c-9",
    }

    async def scenario():
        ws = await opened(alice)
        await ws.send_json_to(frame)
        first = (await frames_until(ws, "ack"))[-1]
        await ws.disconnect()
        # The acknowledgement was lost; the client reconnects and sends the message again.
        ws = await opened(alice)
        await ws.send_json_to(frame)
        second = (await frames_until(ws, "ack"))[-1]
        await ws.disconnect()
        return first, second

    first, second = run(scenario)
    assert first["id"] == second["id"]
    assert Message.objects.filter(conversation=acme_conversation, body="once").count() == 1


def test_the_same_client_id_in_another_conversation_is_another_message(acme_conversation, alice):
    other = workflow.merchant_conversation_open(
        user=alice, kind="question", subject="Other", body="second question"
    )
    for conversation in (acme_conversation, other):
        workflow.reply_post(conversation=conversation, author=alice, body="x", client_id="same")
    assert Message.objects.filter(client_id="same").count() == 2


def test_a_reconnecting_client_gets_what_it_missed_and_only_what_it_may_see(
    acme_conversation, alice, agent
):
    async def scenario():
        ws = await opened(alice)
        await ws.send_json_to(
            {"type": "subscribe", "conversation": acme_conversation.pk, "after": 0}
        )
        first = await frames_until(ws, "replayed")
        seen = max(f["id"] for f in first if f["type"] == "message")
        await ws.disconnect()
        # While Alice is away: a reply, a note and another reply.
        for body, public in (("one", True), ("internal", False), ("two", True)):
            await db(workflow.reply_post)(
                conversation=acme_conversation, author=agent, body=body, public=public
            )
        ws = await opened(alice)
        await ws.send_json_to(
            {"type": "subscribe", "conversation": acme_conversation.pk, "after": seen}
        )
        replay = await frames_until(ws, "replayed")
        await ws.disconnect()
        return first, replay

    first, replay = run(scenario)
    assert [f["body"] for f in first if f["type"] == "message"] == [
        "Siparişimin ödemesi 10 gündür gelmedi."
    ]
    assert [f["body"] for f in replay if f["type"] == "message"] == ["one", "two"]
    assert replay[-1] == {
        "type": "replayed",
        "conversation": acme_conversation.pk,
        "count": 2,
        "complete": True,
    }


def test_resume_replays_across_the_merchants_own_conversations_only(
    acme_conversation, globex_conversation, alice, agent
):
    before = max(Message.objects.values_list("id", flat=True))
    workflow.reply_post(conversation=acme_conversation, author=agent, body="for acme")
    workflow.reply_post(conversation=globex_conversation, author=agent, body="for globex")

    async def scenario():
        ws = await opened(alice)
        await ws.send_json_to({"type": "resume", "after": before})
        frames = await frames_until(ws, "replayed")
        await ws.disconnect()
        return frames

    frames = run(scenario)
    assert [f["body"] for f in frames if f["type"] == "message"] == ["for acme"]


def test_typing_reaches_the_others_on_the_conversation_and_internal_typing_only_staff(
    acme_conversation, alice, agent
):
    async def scenario():
        alice_ws, desk_ws = await opened(alice), await opened(agent)
        for ws in (alice_ws, desk_ws):
            await ws.send_json_to({"type": "subscribe", "conversation": acme_conversation.pk})
        await alice_ws.send_json_to({"type": "typing", "conversation": acme_conversation.pk})
        typing = await desk_ws.receive_json_from()
        assert typing == {
            "type": "typing",
            "conversation": acme_conversation.pk,
            "name": "Alice Acar",
            "staff": False,
        }
        assert await alice_ws.receive_nothing(timeout=0.2)  # not echoed to the typist
        await desk_ws.send_json_to(
            {"type": "typing", "conversation": acme_conversation.pk, "internal": True}
        )
        assert await alice_ws.receive_nothing(timeout=0.2)
        await desk_ws.send_json_to({"type": "typing", "conversation": acme_conversation.pk})
        assert (await alice_ws.receive_json_from())["name"] == "Ada Agent"
        await alice_ws.disconnect()
        await desk_ws.disconnect()

    run(scenario)


def test_typing_needs_the_conversation_open_first(acme_conversation, alice):
    async def scenario():
        ws = await opened(alice)
        await ws.send_json_to({"type": "typing", "conversation": acme_conversation.pk})
        assert (await ws.receive_json_from())["code"] == "not_subscribed"
        await ws.disconnect()

    run(scenario)


def test_staff_see_who_else_is_viewing_and_merchants_do_not(acme_conversation, alice, agent, lead):
    async def scenario():
        agent_ws, lead_ws, alice_ws = await opened(agent), await opened(lead), await opened(alice)
        subscribe = {"type": "subscribe", "conversation": acme_conversation.pk}
        await alice_ws.send_json_to(subscribe)
        await agent_ws.send_json_to(subscribe)
        await lead_ws.send_json_to(subscribe)
        joined = await agent_ws.receive_json_from()
        assert joined["type"] == "viewing"
        assert (joined["state"], joined["name"]) == ("join", "Lena Lead")
        here = await lead_ws.receive_json_from()
        assert (here["state"], here["name"]) == ("here", "Ada Agent")
        await lead_ws.disconnect()
        left = await agent_ws.receive_json_from()
        assert (left["state"], left["name"]) == ("leave", "Lena Lead")
        assert await alice_ws.receive_nothing(timeout=0.2)
        await agent_ws.disconnect()
        await alice_ws.disconnect()

    run(scenario)


def test_status_and_assignee_changes_reach_the_right_sockets(acme_conversation, alice, agent):
    async def scenario():
        alice_ws, desk_ws = await opened(alice), await opened(agent)
        await db(workflow.conversation_assign)(
            conversation=acme_conversation, assignee=agent, actor=agent
        )
        assigned = await desk_ws.receive_json_from()
        assert (assigned["change"], assigned["assignee"]) == ("assignee", agent.pk)
        assert await alice_ws.receive_nothing(timeout=0.2)
        await db(workflow.conversation_change_status)(
            conversation=acme_conversation, status="pending", actor=agent
        )
        for ws in (alice_ws, desk_ws):
            changed = await ws.receive_json_from()
            assert (changed["change"], changed["status"]) == ("status", "pending")
            assert "assignee" not in changed or ws is desk_ws
        await alice_ws.disconnect()
        await desk_ws.disconnect()

    run(scenario)


def test_a_new_conversation_reaches_the_desk_and_its_merchant(alice, bob, eve, agent):
    async def scenario():
        bob_ws, eve_ws, desk_ws = await opened(bob), await opened(eve), await opened(agent)
        conversation = await db(workflow.merchant_conversation_open)(
            user=alice, kind="question", subject="Chat", body="Merhaba", channel="chat"
        )
        for ws in (bob_ws, desk_ws):
            created = await ws.receive_json_from()
            assert created["type"] == "conversation"
            assert (created["change"], created["conversation"]) == ("created", conversation.pk)
            assert (await ws.receive_json_from())["body"] == "Merhaba"
        assert await eve_ws.receive_nothing(timeout=0.2)
        for ws in (bob_ws, eve_ws, desk_ws):
            await ws.disconnect()

    run(scenario)


def test_an_oversized_frame_is_refused_with_1009(acme_conversation, alice, settings):
    settings.SELLERDESK_CHAT_MAX_FRAME_BYTES = 1000

    async def scenario():
        ws = await opened(alice)
        body = "ğ" * 600  # 600 characters, 1,200 bytes
        await ws.send_to(
            text_data=json.dumps(
                {"type": "send", "conversation": acme_conversation.pk, "body": body},
                ensure_ascii=False,
            )
        )
        error = await ws.receive_json_from()
        assert error == {
            "type": "error",
            "code": "too_big",
            "detail": "a frame may be at most 1000 bytes",
        }
        assert await ws.receive_output() == {"type": "websocket.close", "code": 1009}

    run(scenario)
    assert Message.objects.filter(conversation=acme_conversation).count() == 1


def test_a_binary_frame_is_refused_with_1003(alice):
    async def scenario():
        ws = await opened(alice)
        await ws.send_to(bytes_data=b"\x00\x01\x02")
        assert (await ws.receive_json_from())["code"] == "binary"
        assert await ws.receive_output() == {"type": "websocket.close", "code": 1003}

    run(scenario)


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("not json", "bad_frame"),
        ("[1, 2]", "bad_frame"),
        ('{"type": "shout"}', "bad_frame"),
        ('{"type": "subscribe", "conversation": "abc"}', "invalid"),
        ('{"type": "subscribe", "conversation": 1, "after": -1}', "invalid"),
        ('{"type": "subscribe", "conversation": 1, "after": 99999999999999999999}', "invalid"),
        ('{"type": "send", "conversation": 1, "body": 5}', "invalid"),
        ('{"type": "send", "conversation": 1, "body": "x", "client_id": 7}', "invalid"),
    ],
)
def test_a_bad_frame_gets_an_error_and_the_socket_stays_open(alice, frame, code):
    async def scenario():
        ws = await opened(alice)
        await ws.send_to(text_data=frame)
        error = await ws.receive_json_from()
        assert (error["type"], error["code"]) == ("error", code)
        await ws.send_json_to({"type": "ping"})
        assert await ws.receive_json_from() == {"type": "pong"}
        await ws.disconnect()

    run(scenario)


def test_an_empty_message_is_refused_and_nothing_is_stored(acme_conversation, alice):
    async def scenario():
        ws = await opened(alice)
        await ws.send_json_to(
            {"type": "send", "conversation": acme_conversation.pk, "body": "  ", "client_id": "e"}
        )
        error = await ws.receive_json_from()
        await ws.disconnect()
        return error

    error = run(scenario)
    assert error == {
        "type": "error",
        "code": "invalid",
        "detail": "lütfen bir mesaj yazın",  # Acme writes Turkish: so do its refusals
        "conversation": acme_conversation.pk,
        "client_id": "e",
    }
    assert Message.objects.filter(conversation=acme_conversation).count() == 1


def test_a_merchant_cannot_write_an_internal_note(acme_conversation, alice):
    async def scenario():
        ws = await opened(alice)
        await ws.send_json_to(
            {
                "type": "send",
                "conversation": acme_conversation.pk,
                "body": "secret",
                "internal": True,
            }
        )
        error = await ws.receive_json_from()
        await ws.disconnect()
        return error

    assert run(scenario)["code"] == "invalid"
    assert not Message.objects.filter(body="secret").exists()
