"""The live chat's group commit: ``bulk.replies_post`` stores a batch of messages exactly as
``workflow.reply_post`` stores them one by one, and the socket's writer (``connectors.chat.
writer``) batches what several sockets send, answers each sender on its own, and falls back
to one message a transaction when a batch fails as a whole.

The direct tests build twin sets of conversations with the same histories, post the same
messages to one set one by one (the single path, as the socket stored them before) and to the
other as one batch, at the same frozen moment, and compare every row either path writes.
"""

from __future__ import annotations

import asyncio
import json
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from asgiref.sync import async_to_sync
from channels.layers import channel_layers
from django.db import OperationalError, connection, connections, transaction
from django.forms.models import model_to_dict
from django.http import Http404

from sellerdesk.accounts.models import User
from sellerdesk.api.webhooks import webhook_subscribe
from sellerdesk.connectors.chat import layers, writer
from sellerdesk.conversations import bulk, events, selectors, services, workflow
from sellerdesk.conversations.models import (
    Activity,
    Conversation,
    Message,
    ResolutionStretch,
    StatusChange,
)
from sellerdesk.outbox.models import OutboxItem
from sellerdesk.sla.models import BusinessHours, SlaPolicy
from tests.test_chat import _fresh_layer, frames_until, opened, run  # noqa: F401  (a fixture)
from tests.test_events import Listener

ACT_AT = "2027-03-12 12:00:00+00:00"
WEEKDAYS_9_TO_18 = {day: ["09:00-18:00"] for day in ("mon", "tue", "wed", "thu", "fri")}


def _events(listener: Listener) -> list[dict]:
    """What a listener heard, a batch's events (``chat.events``) one by one."""

    async def drain() -> list[dict]:
        got: list[dict] = []
        queue = listener.layer.channels.get(listener.channel)
        while queue is not None and not queue.empty():
            message = queue.get_nowait()[1]
            if message["type"] == events.MANY_HANDLER:
                got += [json.loads(text) for text, _ in message["frames"]]
            else:
                got.append(message["event"])
        return got

    return async_to_sync(drain)()


def at(text: str) -> Any:
    return time_machine.travel(text, tick=False)


def _histories(alice: User, bob: User, eve: User, agent: User) -> dict[str, Conversation]:
    """One conversation of each state a chat message meets; made alike for each twin set."""
    made: dict[str, Conversation] = {}
    with at("2027-03-01 09:00:00+00:00"):
        for name, user in (
            ("new", alice), ("answered", alice), ("pending", alice), ("solved", bob),
            ("closed", bob), ("stale", alice), ("clash", alice), ("globex", eve),
        ):  # fmt: skip
            made[name] = workflow.merchant_conversation_open(
                user=user, kind="question", subject=f"Sohbet {name}", body="Merhaba", channel="chat"
            )
        # An imported message already holds the next message number, and the one after.
        for number in ("2", "3"):
            services.message_add(
                conversation=made["clash"], author_type="merchant", body="ek", external_id=number
            )
        workflow.reply_post(
            conversation=made["answered"], author=alice, body="earlier", client_id="stored"
        )
    with at("2027-03-01 10:00:00+00:00"):
        for name in ("answered", "pending", "solved", "closed", "stale"):
            workflow.reply_post(conversation=made[name], author=agent, body="Hangi sipariş?")
        workflow.conversation_change_status(
            conversation=made["pending"], status="pending", actor=agent
        )
        workflow.conversation_change_status(
            conversation=made["solved"], status="solved", actor=agent
        )
        workflow.conversation_change_status(
            conversation=made["closed"], status="closed", actor=agent
        )
    # Set-up only: a clock left running on an open conversation (a merchant's answer stops it).
    Conversation.objects.filter(pk=made["stale"].pk).update(
        merchant_due_at=made["stale"].created_at.replace(day=9)
    )
    return {name: Conversation.objects.get(pk=row.pk) for name, row in made.items()}


def _script(alice: User, bob: User, eve: User, agent: User) -> list[tuple[str, User, dict]]:
    """The messages, in order: (conversation, author, reply_post's other arguments)."""
    return [
        ("new", alice, {"body": " Ödeme nerede? ", "client_id": "c1"}),
        ("new", agent, {"body": "Bakıyorum"}),  # new → open, the first response
        ("pending", alice, {"body": "Sipariş 1001", "client_id": "p1"}),  # reopens
        ("solved", bob, {"body": "Hâlâ gelmedi"}),  # reopens a solved one
        ("closed", bob, {"body": "Tekrar"}),  # and a closed one
        ("stale", alice, {"body": "Buradayım"}),  # stops the clock left running
        ("clash", alice, {"body": "bir"}),  # numbers skip the imported ones
        ("clash", alice, {"body": "iki"}),
        ("pending", agent, {"body": "not for the merchant", "public": False}),
        ("globex", eve, {"body": "货款呢？", "client_id": "c1"}),  # same id, another conversation
        ("new", alice, {"body": "Ödeme nerede?", "client_id": "c1"}),  # resent within the batch
        ("answered", alice, {"body": "earlier", "client_id": "stored"}),  # resent: stored before
        ("answered", alice, {"body": "   ", "client_id": "blank"}),  # refused: empty
        ("answered", alice, {"body": "gizli", "public": False}),  # refused: merchants' notes
        ("new", eve, {"body": "not mine"}),  # refused: another merchant's conversation
        ("answered", alice, {"body": "bad\x00byte"}),  # refused: a NUL character
        ("answered", alice, {"body": "x", "client_id": "c" * 65}),  # refused: client id too long
        ("missing", alice, {"body": "nowhere"}),  # refused: no such conversation
        ("new", agent, {"body": "İkinci cevap"}),  # the first response stays the first
        ("answered", agent, {"body": "Çözüldü mü?", "client_id": "a1"}),
        ("answered", alice, {"body": "Evet"}),
    ]


def _replies(rows: dict[str, Conversation], script: list[tuple[str, User, dict]]) -> list:
    return [
        bulk.ChatReply(
            conversation_id=rows[name].pk if name in rows else 10**9,
            author=author,
            language="tr" if author.is_merchant_user else "en",
            **arguments,
        )
        for name, author, arguments in script
    ]


def _label(outcome: Any, labels: dict[int, str]) -> Any:
    """An outcome comparable across twin sets: the message by its body and client id and
    whether it is the one stored earlier, or the refusal by its type and text."""
    if isinstance(outcome, Message):
        return ("message", outcome.body, outcome.client_id, labels.get(outcome.pk, "new"))
    return (type(outcome).__name__, str(outcome))


def _single(replies: list[bulk.ChatReply]) -> list[Any]:
    outcomes: list[Any] = []
    for reply in replies:
        try:
            # Its own transaction, as the socket stored it (here a savepoint in the test's).
            with transaction.atomic():
                outcomes.append(writer.store_one(reply))
        except (Http404, workflow.ValidationError) as problem:
            outcomes.append(problem)
    return outcomes


def _snapshot(pk: int) -> dict[str, Any]:
    conversation = model_to_dict(Conversation.objects.get(pk=pk), exclude=["id", "external_id"])

    def outbox(item: OutboxItem) -> Any:
        payload = json.loads(json.dumps(item.payload))
        body = payload["body"]
        body.pop("id")
        body["data"]["conversation"].pop("id")
        body["data"]["conversation"].pop("external_id")
        body["data"].get("message", {}).pop("id", None)
        payload.pop("subscription")
        return json.dumps([item.kind, item.key.split(":")[2], payload], sort_keys=True)

    hooks = [
        item
        for item in OutboxItem.objects.filter(kind="webhook")
        if item.payload["body"]["data"]["conversation"]["id"] == pk
    ]
    return {
        "conversation": conversation,
        "messages": list(
            Message.objects.filter(conversation_id=pk)
            .order_by("id")
            .values_list(
                "external_id",
                "author_type",
                "author_id",
                "author_name",
                "public",
                "body",
                "created_at",
                "author_user_id",
                "client_id",
            )
        ),
        "status_changes": list(
            StatusChange.objects.filter(conversation_id=pk)
            .order_by("seq")
            .values_list("status", "at", "seq", "by")
        ),
        "stretches": list(
            ResolutionStretch.objects.filter(conversation_id=pk)
            .order_by("started_at")
            .values_list("started_at", "ended_at", "started_seconds")
        ),
        "trail": list(
            Activity.objects.filter(conversation_id=pk)
            .order_by("id")
            .values_list("at", "actor_id", "verb", "detail", "automatic")
        ),
        # The order of outbox rows between one event and the next does not matter.
        "outbox": sorted(outbox(item) for item in hooks),
    }


@pytest.fixture
def listening(acme, globex):
    """Webhook receivers: Acme's messages, and every merchant's status changes."""
    webhook_subscribe(url="https://hooks.acme.test/in", events=["message.created"], merchant=acme)
    webhook_subscribe(
        url="https://hooks.desk.test/in",
        events=["conversation.status_changed", "message.created"],
    )


@pytest.fixture
def service_levels(db):
    BusinessHours.objects.create(
        name="Default", zone="Europe/Istanbul", week=WEEKDAYS_9_TO_18, holidays=["2027-03-10"]
    )
    SlaPolicy.objects.create(
        name="Standard",
        first_response_minutes=120,
        next_response_minutes=240,
        resolution_minutes=3 * 9 * 60,
    )


@pytest.mark.parametrize("extras", [(), ("listening", "service_levels")])
def test_a_batch_writes_exactly_what_the_messages_one_by_one_write(
    request, alice, bob, eve, agent, extras
):
    for name in extras:
        request.getfixturevalue(name)
    single = _histories(alice, bob, eve, agent)
    batch = _histories(alice, bob, eve, agent)
    for name in single:
        assert _snapshot(single[name].pk) == _snapshot(batch[name].pk)  # twins before
    stored = {
        Message.objects.get(conversation=rows["answered"], client_id="stored").pk: "stored"
        for rows in (single, batch)
    }
    script = _script(alice, bob, eve, agent)
    with at(ACT_AT):
        one_by_one = _single(_replies(single, script))
        together = bulk.replies_post(_replies(batch, script))
    assert [_label(o, stored) for o in together] == [_label(o, stored) for o in one_by_one]
    for name in single:
        assert _snapshot(single[name].pk) == _snapshot(batch[name].pk), name

    labels = [_label(o, stored) for o in together]
    assert labels[12] == ("ValidationError", "lütfen bir mesaj yazın")  # in the sender's language
    assert labels[13] == ("PermissionDenied", "merchants write public replies only")
    assert labels[14] == ("Http404", "no such conversation")
    assert labels[15][0] == labels[16][0] == "ValidationError"
    assert labels[17] == ("Http404", "no such conversation")
    # The resend within the batch is the first message; the earlier one is returned as is.
    assert together[10] is together[0]
    assert labels[11] == ("message", "earlier", "stored", "stored")
    reopened = Conversation.objects.get(pk=batch["pending"].pk)
    assert (reopened.status, reopened.merchant_due_at) == ("open", None)
    assert Conversation.objects.get(pk=batch["closed"].pk).resolved_at is None
    new = Conversation.objects.get(pk=batch["new"].pk)
    assert new.status == "open"
    assert new.first_response_at == together[1].created_at
    assert [m.external_id for m in together[6:8]] == ["4", "5"]
    if "listening" in extras:
        assert OutboxItem.objects.filter(key__contains=":message.created:").exists()
        assert OutboxItem.objects.filter(key__contains=":conversation.status_changed:").exists()


def test_a_batch_tells_the_open_pages_what_the_messages_one_by_one_tell_them(
    alice, bob, eve, agent, django_capture_on_commit_callbacks
):
    single = _histories(alice, bob, eve, agent)
    batch = _histories(alice, bob, eve, agent)
    script = _script(alice, bob, eve, agent)

    def heard(act, rows: dict[str, Conversation]) -> list[list[tuple]]:
        channel_layers.backends.clear()
        with at(ACT_AT):
            desk = Listener(events.DESK_GROUP)
            acme = Listener(events.merchant_group(alice.merchant_id))
            with django_capture_on_commit_callbacks(execute=True):
                act(_replies(rows, script))
            told = [("desk", e) for e in _events(desk)] + [("acme", e) for e in _events(acme)]
        channel_layers.backends.clear()
        pks = {row.pk: name for name, row in rows.items()}
        by_conversation: dict[str, list[tuple]] = {name: [] for name in rows}
        for group, event in told:
            by_conversation[pks[event["conversation"]]].append(
                (group, event["type"], event.get("status"), event.get("body"), event.get("public"))
            )
        return list(by_conversation.values())

    told_single = heard(_single, single)
    told_batch = heard(bulk.replies_post, batch)
    assert told_batch == told_single
    # The note went to the desk only; the reopening to both.
    pending = told_batch[list(batch).index("pending")]
    assert ("desk", "message", None, "not for the merchant", False) in pending
    assert ("acme", "message", None, "not for the merchant", False) not in pending
    assert ("acme", "conversation", "open", None, None) in pending


def test_nothing_is_published_before_the_batch_commits(
    acme_conversation, alice, django_capture_on_commit_callbacks
):
    channel_layers.backends.clear()
    desk = Listener(events.DESK_GROUP)
    with django_capture_on_commit_callbacks() as callbacks:
        (message,) = bulk.replies_post(
            [bulk.ChatReply(conversation_id=acme_conversation.pk, author=alice, body="önce")]
        )
        assert _events(desk) == []
    assert len(callbacks) == 1  # one hand-over for the whole batch
    callbacks[0]()
    assert [e["id"] for e in _events(desk)] == [message.pk]
    channel_layers.backends.clear()


def _plain_batch(alice: User, size: int) -> list[bulk.ChatReply]:
    rows = [
        workflow.merchant_conversation_open(user=alice, kind="question", subject="s", body="b")
        for _ in range(3)
    ]
    return [
        bulk.ChatReply(
            conversation_id=rows[n % 3].pk, author=alice, body=f"m{n}", client_id=f"q{size}-{n}"
        )
        for n in range(size)
    ]


def test_a_batch_costs_the_same_statements_for_3_messages_as_for_30(
    alice, django_assert_num_queries
):
    from django.test.utils import CaptureQueriesContext

    small, large = _plain_batch(alice, 3), _plain_batch(alice, 30)
    with CaptureQueriesContext(connection) as few:
        bulk.replies_post(small)
    with django_assert_num_queries(len(few)):
        outcomes = bulk.replies_post(large)
    # The locked read, held ids, webhooks, INSERT, UPDATE, policies, and the transaction.
    assert len(few) <= 10
    assert all(isinstance(o, Message) for o in outcomes)
    assert Message.objects.filter(client_id__startswith="q30-").count() == 30


def test_with_a_policy_a_batch_costs_the_same_statements_for_3_conversations_as_for_12(
    service_levels, alice, agent, django_assert_num_queries
):
    """The service levels are refreshed for the batch as a whole: the merchant's messages
    awaiting an answer, the status logs and the breaches are read once, whatever the number
    of conversations, and the due times written in one statement."""
    from django.test.utils import CaptureQueriesContext

    def answered(size: int) -> list[bulk.ChatReply]:
        replies = []
        for n in range(size):
            with at("2027-03-11 10:00:00+00:00"):
                row = workflow.merchant_conversation_open(
                    user=alice, kind="question", subject="s", body="b", channel="chat"
                )
                workflow.reply_post(conversation=row, author=agent, body="Hangi sipariş?")
            replies.append(
                bulk.ChatReply(conversation_id=row.pk, author=alice, body=f"m{n}", client_id="")
            )
        return replies

    small, large = answered(3), answered(12)
    with at(ACT_AT), CaptureQueriesContext(connection) as few:
        bulk.replies_post(small)
    with at(ACT_AT), django_assert_num_queries(len(few)):
        bulk.replies_post(large)
    for reply in large:
        row = Conversation.objects.get(pk=reply.conversation_id)
        # Waiting on support again since the merchant's message: the next response is due.
        assert row.sla_policy_id is not None
        assert row.next_response_due_at is not None
        assert row.sla_due_at == min(row.next_response_due_at, row.resolution_due_at)


def test_a_client_id_already_held_writes_nothing(acme_conversation, alice):
    first = workflow.reply_post(
        conversation=acme_conversation, author=alice, body="bir", client_id="k"
    )
    before = _snapshot(acme_conversation.pk)
    again = bulk.replies_post(
        [
            bulk.ChatReply(
                conversation_id=acme_conversation.pk, author=alice, body="bir", client_id="k"
            )
        ]
        * 2
    )
    assert [m.pk for m in again] == [first.pk, first.pk]
    assert _snapshot(acme_conversation.pk) == before


def test_visible_to_is_the_rule_of_the_selectors(
    acme_conversation, globex_conversation, alice, eve, agent, admin_user
):
    inactive = User.objects.create(
        email="gone@acme.test", role="merchant", merchant=alice.merchant, is_active=False
    )
    for user in (alice, eve, agent, admin_user, inactive):
        for row in (acme_conversation, globex_conversation):
            try:
                selectors.conversation_get(user=user, pk=row.pk)
                visible = True
            except Http404:
                visible = False
            assert selectors.conversation_visible_to(user, row) is visible, (user, row)


@pytest.mark.django_db(transaction=True)
def test_batches_locking_the_same_conversations_at_once_never_deadlock(alice, agent):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite has one writer: concurrent batches are tested on PostgreSQL")
    rows = [
        workflow.merchant_conversation_open(user=alice, kind="question", subject=f"{n}", body="?")
        for n in range(6)
    ]
    start = threading.Barrier(4)
    failures: list[BaseException] = []

    def writer_thread(offset: int) -> None:
        try:
            order = rows[offset:] + rows[:offset]  # each thread names them in another order
            start.wait()
            for round_ in range(5):
                bulk.replies_post(
                    [
                        bulk.ChatReply(
                            conversation_id=row.pk,
                            author=alice if offset % 2 else agent,
                            body=f"{offset}-{round_}",
                            client_id=f"t{offset}-{round_}",
                        )
                        for row in reversed(order)
                        if offset % 2 or True
                    ]
                )
        except BaseException as problem:  # reported below
            failures.append(problem)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer_thread, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert failures == []
    for row in rows:
        messages = list(Message.objects.filter(conversation=row).order_by("id"))
        assert len(messages) == 1 + 4 * 5
        # Numbers follow commit order within a conversation: ids and numbers agree.
        assert [int(m.external_id) for m in messages] == list(range(1, 22))


# --- The socket's writer -------------------------------------------------------------------------


@pytest.fixture
def wide_window(settings):
    """A window wide enough that what the test's sockets send lands in one batch."""
    settings.SELLERDESK_CHAT_BATCH_WINDOW_MS = 300


@pytest.fixture
def batches(monkeypatch) -> list[int]:
    """The size of each batch the writer stores (a spy: the batch is stored as usual)."""
    sizes: list[int] = []
    real = bulk.replies_post

    def spy(replies):
        sizes.append(len(replies))
        return real(replies)

    monkeypatch.setattr(writer.bulk, "replies_post", spy)
    return sizes


def _send(conversation: int, body: str, client_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "send",
        "conversation": conversation,
        "body": body,
        "client_id": client_id,
        **extra,
    }


@pytest.mark.django_db(transaction=True)
def test_messages_from_several_sockets_go_in_one_batch_and_each_sender_gets_its_answer(
    acme_conversation, globex_conversation, alice, bob, eve, agent, wide_window, batches
):
    acme, globex = acme_conversation.pk, globex_conversation.pk

    async def scenario():
        alice_ws, alice_tab = await opened(alice), await opened(alice)
        bob_ws, eve_ws, desk_ws = await opened(bob), await opened(eve), await opened(agent)
        await alice_ws.send_json_to(_send(acme, "Ödeme nerede?", "a-1"))
        await alice_tab.send_json_to(_send(acme, "Ödeme nerede?", "a-1"))  # the same, twice
        await bob_ws.send_json_to(_send(acme, "   ", "b-1"))  # refused alone
        await eve_ws.send_json_to(_send(acme, "not mine", "e-1"))  # not hers to see
        await desk_ws.send_json_to(_send(acme, "Bakıyorum", "d-1"))
        await desk_ws.send_json_to(_send(globex, "note", "d-2", internal=True))
        answers = {}
        for name, ws in (("alice", alice_ws), ("tab", alice_tab), ("bob", bob_ws), ("eve", eve_ws)):
            frames = [
                f
                for f in await frames_until(ws, "ack" if name in ("alice", "tab") else "error")
                if f["type"] in ("ack", "error")
            ]
            answers[name] = frames[-1]
        # The desk socket's own two sends go one after the other; the events come meanwhile.
        desk: list[dict] = []
        while not {"a-1", "d-1", "d-2"} <= {f.get("client_id") for f in desk}:
            frame = await desk_ws.receive_json_from(timeout=5)
            if frame["type"] == "message":
                desk.append(frame)
        for ws in (alice_ws, alice_tab, bob_ws, eve_ws, desk_ws):
            await ws.disconnect()
        return answers, desk

    answers, desk = run(scenario)
    assert answers["alice"]["id"] == answers["tab"]["id"]
    assert answers["bob"]["code"] == "invalid"
    assert answers["bob"]["client_id"] == "b-1"
    assert answers["bob"]["detail"] == "lütfen bir mesaj yazın"
    assert answers["eve"] == {
        "type": "error",
        "code": "not_found",
        "detail": "no such conversation",
        "conversation": acme,
    }
    assert Message.objects.filter(conversation=acme_conversation, client_id="a-1").count() == 1
    assert not Message.objects.filter(client_id__in=["b-1", "e-1"]).exists()
    # Stored before delivered, with its id: what the desk heard carries the acked ids.
    delivered = {f["client_id"]: f["id"] for f in desk}
    assert delivered["a-1"] == answers["alice"]["id"]
    assert delivered["d-1"] == Message.objects.get(client_id="d-1").pk
    # The frames sent at once were stored together (but the desk's second, sent after its
    # first was answered).
    assert batches == [5, 1]


@pytest.mark.django_db(transaction=True)
def test_a_batch_that_fails_as_a_whole_is_stored_one_by_one(
    acme_conversation, alice, bob, wide_window, monkeypatch, caplog
):
    def failing(replies):
        raise OperationalError("deadlock detected")

    monkeypatch.setattr(writer.bulk, "replies_post", failing)
    acme = acme_conversation.pk

    async def scenario():
        alice_ws, bob_ws = await opened(alice), await opened(bob)
        await alice_ws.send_json_to(_send(acme, "bir", "f-1"))
        await bob_ws.send_json_to(_send(acme, "", "f-2"))
        ack = (await frames_until(alice_ws, "ack"))[-1]
        error = (await frames_until(bob_ws, "error"))[-1]
        await alice_ws.disconnect()
        await bob_ws.disconnect()
        return ack, error

    ack, error = run(scenario)
    assert Message.objects.get(client_id="f-1").pk == ack["id"]
    assert (error["code"], error["client_id"]) == ("invalid", "f-2")
    assert "storing them one by one" in caplog.text


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("group_commit", [True, False])
def test_a_message_is_acknowledged_with_its_id_with_or_without_group_commit(
    acme_conversation, alice, settings, group_commit
):
    settings.SELLERDESK_CHAT_GROUP_COMMIT = group_commit

    async def scenario():
        ws = await opened(alice)
        await ws.send_json_to(_send(acme_conversation.pk, "tek", "g-1"))
        ack = (await frames_until(ws, "ack"))[-1]
        await ws.send_json_to(_send(acme_conversation.pk, "tek", "g-1"))
        again = (await frames_until(ws, "ack"))[-1]
        await ws.disconnect()
        return ack, again

    ack, again = run(scenario)
    assert ack["id"] == again["id"] == Message.objects.get(client_id="g-1").pk


# --- The in-memory channel layer ----------------------------------------------------------------


def test_the_in_memory_layer_still_drops_what_expired_and_reaches_every_member(monkeypatch):
    layer = layers.SweepingInMemoryChannelLayer(expiry=60)

    async def scenario():
        members = [await layer.new_channel() for _ in range(3)]
        for member in members:
            await layer.group_add("desk", member)
        await layer.group_send("desk", {"type": "chat.event", "n": 1})
        got = [await layer.receive(member) for member in members]
        await layer.send(members[0], {"type": "chat.event", "n": 2})
        later = datetime.now(UTC) + timedelta(seconds=120)
        with time_machine.travel(later, tick=False):
            monkeypatch.setattr(layer, "_swept_at", float("-inf"))  # the next sweep is due
            layer._clean_expired()
        return got, members

    got, members = async_to_sync(scenario)()
    assert [m["n"] for m in got] == [1, 1, 1]
    assert members[0] not in layer.channels  # the expired message went, and the member with it
    assert members[0] not in layer.groups["desk"]


def test_the_in_memory_layer_gives_each_member_a_message_no_other_member_can_change():
    """Text is shared between the members' copies (nobody can change it); anything that can
    be changed in place is copied for each member, as Channels' own layer does."""
    layer = layers.SweepingInMemoryChannelLayer(expiry=60)
    frames = (('{"type": "message", "id": 1}', True), ('{"type": "message", "id": 2}', False))
    changeable = {"type": "chat.event", "event": {"id": 3, "tags": ["a"]}}

    async def scenario():
        members = [await layer.new_channel() for _ in range(2)]
        for member in members:
            await layer.group_add("desk", member)
        await layer.group_send("desk", {"type": events.MANY_HANDLER, "frames": frames})
        await layer.group_send("desk", changeable)
        return [[await layer.receive(member) for _ in range(2)] for member in members]

    (first_frames, first_event), (second_frames, second_event) = async_to_sync(scenario)()
    assert first_frames == second_frames == {"type": events.MANY_HANDLER, "frames": frames}
    assert first_frames is not second_frames
    first_event["event"]["tags"].append("changed by one member")
    assert second_event == changeable  # the other member's copy, and the sender's, unchanged
    assert first_event["event"] is not changeable["event"]
    assert layers._immutable(frames)
    assert not layers._immutable(([1],))


def test_the_in_memory_layer_keeps_a_channels_queue_until_a_sweep_finds_it_idle(monkeypatch):
    layer = layers.SweepingInMemoryChannelLayer(expiry=60)

    async def scenario():
        idle, busy = await layer.new_channel(), await layer.new_channel()
        await layer.send(idle, {"type": "chat.event", "n": 1})
        first = await layer.receive(idle)
        kept = layer.channels.get(idle)
        await layer.send(idle, {"type": "chat.event", "n": 2})
        second = await layer.receive(idle)
        assert layer.channels.get(idle) is kept  # the same queue for the next message
        waiting = asyncio.ensure_future(layer.receive(busy))
        await asyncio.sleep(0)
        monkeypatch.setattr(layer, "_swept_at", float("-inf"))  # the next sweep is due
        layer._clean_expired()
        assert idle not in layer.channels  # empty, nobody waiting: gone
        assert busy in layer.channels  # a socket waits on it: kept
        await layer.send(busy, {"type": "chat.event", "n": 3})
        third = await waiting
        await layer.send(idle, {"type": "chat.event", "n": 4})
        fourth = await layer.receive(idle)
        return [m["n"] for m in (first, second, third, fourth)]

    assert async_to_sync(scenario)() == [1, 2, 3, 4]
    assert layer._receiving == {}
