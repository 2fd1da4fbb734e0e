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
from channels.layers import channel_layers, get_channel_layer
from channels.testing import WebsocketCommunicator
from django.test import Client

from sellerdesk.asgi import application
from sellerdesk.conversations import events, workflow
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


# --- Sign-out, frame rate, replay in commit order -------------------------------------------


def _signed_in_client(user) -> tuple[Client, bytes]:
    client = Client()
    client.force_login(user)
    return client, f"sessionid={client.cookies['sessionid'].value}".encode()


async def opened_with(cookie: bytes) -> WebsocketCommunicator:
    ws = WebsocketCommunicator(application, "/ws/chat/", headers=[ORIGIN, (b"cookie", cookie)])
    connected, _ = await ws.connect()
    assert connected
    assert (await ws.receive_json_from())["type"] == "hello"
    return ws


def test_signing_out_closes_that_sessions_sockets_and_no_other(alice):
    async def scenario():
        client, cookie = await database_sync_to_async(_signed_in_client)(alice)
        _, other_cookie = await database_sync_to_async(_signed_in_client)(alice)
        ws, other_tab, other_session = (
            await opened_with(cookie),
            await opened_with(cookie),
            await opened_with(other_cookie),
        )
        response = await database_sync_to_async(client.post)("/accounts/logout/")
        assert response.status_code == 302
        for closed in (ws, other_tab):
            assert await closed.receive_json_from() == {
                "type": "error",
                "code": "signed_out",
                "detail": "signed out: sign in again",
            }
            assert await closed.receive_output() == {"type": "websocket.close", "code": 4401}
        # Another session of the same person (another browser) stays signed in.
        await other_session.send_json_to({"type": "ping"})
        assert await other_session.receive_json_from() == {"type": "pong"}
        # And the signed-out cookie cannot open a socket again.
        again = WebsocketCommunicator(
            application, "/ws/chat/", headers=[ORIGIN, (b"cookie", cookie)]
        )
        await again.connect()
        assert (await again.receive_json_from())["code"] == "sign_in"
        for socket_ in (ws, other_tab, other_session, again):
            await socket_.disconnect()

    run(scenario)


def test_signing_out_of_the_admin_closes_the_sessions_sockets_too(admin_user, settings):
    settings.SELLERDESK_STAFF_2FA_REQUIRED = False

    async def scenario():
        client, cookie = await database_sync_to_async(_signed_in_client)(admin_user)
        ws = await opened_with(cookie)
        response = await database_sync_to_async(client.post)("/admin/logout/")
        assert response.status_code == 302  # to the sign-in page (LOGOUT_REDIRECT_URL)
        assert (await ws.receive_json_from())["code"] == "signed_out"
        assert await ws.receive_output() == {"type": "websocket.close", "code": 4401}
        await ws.disconnect()

    run(scenario)


def test_a_socket_over_its_frame_rate_is_refused_then_closed(alice, settings):
    settings.SELLERDESK_CHAT_FRAMES_PER_SECOND = 0.01  # no refill within the test
    settings.SELLERDESK_CHAT_FRAME_BURST = 3

    async def scenario():
        ws = await opened(alice)
        for _ in range(3):
            await ws.send_json_to({"type": "ping"})
            assert await ws.receive_json_from() == {"type": "pong"}
        await ws.send_json_to({"type": "ping"})
        refused = await ws.receive_json_from()
        assert (refused["type"], refused["code"]) == ("error", "rate_limited")
        # Refused frames are dropped quietly, until more than a burst's worth were refused.
        for _ in range(2):
            await ws.send_json_to({"type": "ping"})
        assert await ws.receive_nothing(timeout=0.2)
        await ws.send_json_to({"type": "ping"})
        closing = await ws.receive_json_from()
        assert (closing["type"], closing["code"]) == ("error", "rate_limited")
        assert await ws.receive_output() == {"type": "websocket.close", "code": 1008}
        await ws.disconnect()

    run(scenario)


def test_the_frame_rate_refills_so_a_steady_client_is_never_refused(alice, settings):
    settings.SELLERDESK_CHAT_FRAMES_PER_SECOND = 50
    settings.SELLERDESK_CHAT_FRAME_BURST = 2

    async def scenario():
        import asyncio

        ws = await opened(alice)
        for _ in range(10):
            await ws.send_json_to({"type": "ping"})
            assert await ws.receive_json_from() == {"type": "pong"}
            await asyncio.sleep(0.03)
        await ws.disconnect()

    run(scenario)


def test_resume_with_a_cursor_per_conversation_replays_each_above_its_own(
    acme_conversation, alice, agent
):
    from sellerdesk.conversations.workflow import merchant_conversation_open

    second = merchant_conversation_open(user=alice, kind="question", subject="İade", body="x")
    first_seen = max(
        Message.objects.filter(conversation=acme_conversation).values_list("id", flat=True)
    )
    workflow.reply_post(conversation=acme_conversation, author=agent, body="acme one")
    workflow.reply_post(conversation=second, author=agent, body="second one")
    second_seen = max(Message.objects.filter(conversation=second).values_list("id", flat=True))
    workflow.reply_post(conversation=acme_conversation, author=agent, body="acme two")

    async def scenario():
        ws = await opened(alice)
        await ws.send_json_to(
            {
                "type": "resume",
                "after": {str(acme_conversation.pk): first_seen, str(second.pk): second_seen},
            }
        )
        frames = await frames_until(ws, "replayed")
        await ws.send_json_to({"type": "resume", "after": {"x": 1}})
        bad = await ws.receive_json_from()
        await ws.disconnect()
        return frames, bad

    frames, bad = run(scenario)
    assert [f["body"] for f in frames if f["type"] == "message"] == ["acme one", "acme two"]
    assert (bad["type"], bad["code"]) == ("error", "invalid")


@pytest.mark.skipif(
    __import__("django.db").db.connection.vendor != "postgresql",
    reason="concurrent writers: SQLite takes one writer at a time, so ids are in commit order",
)
def test_a_message_committed_late_is_replayed_by_its_conversations_cursor(
    acme_conversation, alice, agent
):
    """Two transactions on PostgreSQL: a message of conversation A gets the lower id but
    commits after one of conversation B. One number across conversations misses it; a cursor
    per conversation does not, and within A a later message waits for A's row lock and so
    takes a higher id than the late one."""
    import threading

    from django.db import connection, transaction

    from sellerdesk.conversations.workflow import merchant_conversation_open

    other = merchant_conversation_open(user=alice, kind="question", subject="B", body="b0")
    seen_a = max(
        Message.objects.filter(conversation=acme_conversation).values_list("id", flat=True)
    )
    inserted, release = threading.Event(), threading.Event()
    late: dict[str, int] = {}

    def slow_writer() -> None:
        try:
            with transaction.atomic():
                message = workflow.reply_post(
                    conversation=acme_conversation, author=agent, body="late"
                )
                late["id"] = message.pk
                inserted.set()
                release.wait(10)
        finally:
            connection.close()

    def follower() -> None:
        try:
            message = workflow.reply_post(
                conversation=acme_conversation, author=agent, body="after late"
            )
            late["follower"] = message.pk
        finally:
            connection.close()

    writer = threading.Thread(target=slow_writer)
    writer.start()
    assert inserted.wait(10)
    early = workflow.reply_post(conversation=other, author=agent, body="early")
    waiting = threading.Thread(target=follower)
    waiting.start()
    waiting.join(0.5)
    assert waiting.is_alive()  # held by the late message's conversation lock
    release.set()
    writer.join(10)
    waiting.join(10)
    assert late["id"] < early.pk < late["follower"]

    async def scenario():
        ws = await opened(alice)
        await ws.send_json_to({"type": "resume", "after": early.pk})
        one_number = await frames_until(ws, "replayed")
        await ws.send_json_to(
            {
                "type": "resume",
                "after": {str(acme_conversation.pk): seen_a, str(other.pk): early.pk},
            }
        )
        per_conversation = await frames_until(ws, "replayed")
        await ws.send_json_to(
            {"type": "subscribe", "conversation": acme_conversation.pk, "after": seen_a}
        )
        subscribed = await frames_until(ws, "replayed")
        await ws.disconnect()
        return one_number, per_conversation, subscribed

    one_number, per_conversation, subscribed = run(scenario)

    def bodies(frames):
        return [f["body"] for f in frames if f["type"] == "message"]

    assert bodies(one_number) == ["after late"]  # why one number is not enough
    assert bodies(per_conversation) == ["late", "after late"]
    assert bodies(subscribed) == ["late", "after late"]


def test_a_batchs_note_never_reaches_a_merchants_socket_even_sent_to_its_group(
    acme_conversation, alice, agent
):
    """A batch's events arrive encoded (``events.publish_many``); a note among them is
    dropped by a merchant's socket whatever group it was sent to, and sent as is to staff."""
    note = events.encode({"type": "message", "body": "check payouts", "public": False})
    reply = events.encode({"type": "message", "body": "Hangi sipariş?", "public": True})

    async def scenario():
        merchant_ws, desk_ws = await opened(alice), await opened(agent)
        layer = get_channel_layer()
        message = {"type": events.MANY_HANDLER, "frames": ((note, False), (reply, True))}
        await layer.group_send(events.merchant_group(alice.merchant_id), message)
        await layer.group_send(events.DESK_GROUP, message)
        merchant_got = await frames_until(merchant_ws, "message")
        desk_got = [await desk_ws.receive_from(), await desk_ws.receive_from()]
        assert await merchant_ws.receive_nothing(timeout=0.1)
        await merchant_ws.disconnect()
        await desk_ws.disconnect()
        return merchant_got, desk_got

    merchant_got, desk_got = run(scenario)
    assert [f.get("body") for f in merchant_got if f["type"] == "message"] == ["Hangi sipariş?"]
    assert desk_got == [note, reply]  # the frames as encoded once, for every socket


def test_a_sockets_consumer_gets_the_servers_own_send_with_the_session_resolved(alice):
    """Channels' session wrapper never saves a session along with a websocket message, so
    the chat's stack hands the consumer the server's ``send`` itself; the session is still
    read from the cookie."""
    from channels.sessions import CookieMiddleware

    from sellerdesk.connectors.chat.auth import SocketSessionMiddleware

    seen: dict[str, Any] = {}

    async def inner(scope, receive, send):
        seen["send"] = send
        seen["session"] = scope["session"]

    async def server_send(message):  # pragma: no cover - not called
        raise AssertionError(message)

    async def server_receive():  # pragma: no cover - not called
        raise AssertionError

    cookie = _cookie(alice)
    scope = {"type": "websocket", "path": "/ws/chat/", "headers": [(b"cookie", cookie)]}
    stack = CookieMiddleware(SocketSessionMiddleware(inner))
    async_to_sync(stack)(scope, server_receive, server_send)
    assert seen["send"] is server_send
    assert seen["session"].session_key == cookie.decode().split("=", 1)[1]
    assert seen["session"].get("_auth_user_id") == str(alice.pk)
