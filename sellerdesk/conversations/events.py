"""Real-time events: what the services tell the open pages, once their change is committed.

Only services publish, and only through ``publish_on_commit``. An event goes to the desk's
group (every staff socket) and, when merchants may see it, to the conversation's merchant's
group; a socket joins exactly one of the two by who signed in (``connectors.chat``). How the
event travels is Channels' layer: in memory in one process, Redis across several (settings).

Events are a notification, not the record: every message is stored before its event leaves,
and a client that missed events reads what it missed from the database (``selectors``).
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import json
import logging
import weakref
from collections.abc import Sequence
from typing import Any, Literal

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.db import transaction

from sellerdesk.conversations.models import Conversation, Message

log = logging.getLogger(__name__)

#: Every staff socket is in this group (staff may see every conversation).
DESK_GROUP = "desk"
#: The Channels handler name a group message is delivered to (``ChatConsumer.chat_event``).
HANDLER = "chat.event"

#: The handler of a batch's events to one group, in order (``ChatConsumer.chat_events``).
MANY_HANDLER = "chat.events"

#: The handler that closes a socket whose session ended (``ChatConsumer.chat_signout``).
SIGN_OUT_HANDLER = "chat.signout"

Audience = Literal["everyone", "staff"]

#: The event loop of the ASGI server handling the current request, set by the server's
#: application (``asgi.py``) for the request's context, which its sync view's thread shares:
#: events committed there are sent from that loop without the view waiting for them.
SERVER_LOOP: contextvars.ContextVar[asyncio.AbstractEventLoop | None] = contextvars.ContextVar(
    "sellerdesk_server_loop", default=None
)


def merchant_group(merchant_id: int) -> str:
    """The group of one merchant's users' sockets."""
    return f"merchant.{merchant_id}"


def conversation_group(conversation_id: int) -> str:
    """The sockets that have one conversation open: typing and who is viewing."""
    return f"conversation.{conversation_id}"


def session_group(session_key: str) -> str:
    """The sockets opened with one signed-in session (closed when it signs out). The group
    name is a digest: a session key is a credential and the layer (Redis) is not the place
    for one."""
    digest = hashlib.sha256(session_key.encode()).hexdigest()[:32]
    return f"session.{digest}"


def session_end(*, session_key: str | None) -> None:
    """Close the sockets of a session that ends (sign-out): call before the session is
    flushed. Not stored and not transactional: a socket of a session that is gone is closed
    now or never reconnects (the handshake checks the session)."""
    if session_key:
        _send([session_group(session_key)], {"type": SIGN_OUT_HANDLER})


def message_payload(message: Message) -> dict[str, Any]:
    """A stored message as the sockets carry it (and as a replay sends it)."""
    return {
        "type": "message",
        "conversation": message.conversation_id,
        "id": message.pk,
        "author_type": message.author_type,
        "author_name": message.author_name,
        "public": message.public,
        "body": message.body,
        "created_at": message.created_at.isoformat(),
        "client_id": message.client_id,
    }


def conversation_payload(conversation: Conversation, change: str) -> dict[str, Any]:
    return {
        "type": "conversation",
        "change": change,
        "conversation": conversation.pk,
        "status": conversation.status,
        "subject": conversation.subject,
        "channel": conversation.channel,
    }


def publish_on_commit(
    *, conversation: Conversation, payload: dict[str, Any], audience: Audience
) -> None:
    """Send ``payload`` to the sockets that may see it, once the current transaction commits
    (at once outside one). A rolled-back change publishes nothing."""
    groups = _groups(conversation, audience)
    message = {"type": HANDLER, "event": payload}
    transaction.on_commit(lambda: _send(groups, message))


def _groups(conversation: Conversation, audience: Audience) -> list[str]:
    if audience == "everyone":
        return [DESK_GROUP, merchant_group(conversation.merchant_id)]
    return [DESK_GROUP]


def encode(payload: dict[str, Any]) -> str:
    """An event as a socket sends it: one JSON text frame."""
    return json.dumps(payload, ensure_ascii=False)


def publish_many(items: Sequence[tuple[Conversation, dict[str, Any], Audience]]) -> None:
    """``publish_on_commit`` for many events (conversation, payload, audience) at once: after
    the commit each group gets one layer message carrying its events in order
    (``MANY_HANDLER``), so a batch costs a send per group, not per event per group (with
    Redis, each send is a few round trips).

    Each event travels as its socket frame, encoded once here for every socket that sends it
    (``frames``: pairs of the frame's text and whether merchants may see it): an event went to
    every staff socket and its merchant's, each encoding it again, and the in-memory layer
    deep-copied its dict for each of them (``connectors.chat.layers`` shares text instead)."""
    if not items:
        return
    by_group: dict[str, list[tuple[str, bool]]] = {}
    for conversation, payload, audience in items:
        frame = (encode(payload), payload.get("public") is not False)
        for group in _groups(conversation, audience):
            by_group.setdefault(group, []).append(frame)
    sends = [
        ([group], {"type": MANY_HANDLER, "frames": tuple(frames)})
        for group, frames in by_group.items()
    ]
    transaction.on_commit(lambda: _send_many(sends, together=True))


def publish_message(*, message: Message, conversation: Conversation) -> None:
    """A new message: public replies to everyone, internal notes to staff only."""
    publish_on_commit(
        conversation=conversation,
        payload=message_payload(message),
        audience="everyone" if message.public else "staff",
    )


def publish_conversation(*, conversation: Conversation, change: str, audience: Audience) -> None:
    """A new conversation or a change to its status or assignee."""
    payload = conversation_payload(conversation, change)
    if audience == "staff":
        payload["assignee"] = conversation.assignee_id
    publish_on_commit(conversation=conversation, payload=payload, audience=audience)


def _send(groups: list[str], message: dict[str, Any]) -> None:
    _send_many([(groups, message)])


def _send_many(sends: list[tuple[list[str], dict[str, Any]]], *, together: bool = False) -> None:
    """Hand the messages to the channel layer, in order (``together``: each to its own
    groups, all at once). A layer that fails (Redis down) costs the live update, never the
    committed change: clients catch up from the database."""
    layer = get_channel_layer()
    if layer is None:
        return
    if isinstance(layer, InMemoryChannelLayer):
        # The in-memory layer reaches this process's sockets only, and none listens (the
        # mail receiver, the worker, a command): nothing to deliver, and handing it over would
        # cost an event loop in a new thread for each event.
        sends = [(g, m) for g, m in sends if any(group in layer.groups for group in g)]
        if not sends:
            return
    groups = sorted({group for g, _ in sends for group in g})
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        loop = None
    try:
        server = SERVER_LOOP.get()
        if loop is None and server is not None and not server.is_closed():
            # A sync view under the ASGI server: the server's loop sends, in the order the
            # events were committed, and the request does not wait for Redis (nor pays the
            # hand-back to its thread).
            server.call_soon_threadsafe(_enqueue, (layer, sends, together, groups))
        elif loop is None:
            async_to_sync(_group_send)(layer, sends, together)
        else:
            # Committed inside a running event loop's thread (an async caller that is allowed
            # to use the ORM): send from the loop instead of blocking it.
            task = loop.create_task(_group_send(layer, sends, together))
            _PENDING.add(task)
            task.add_done_callback(_PENDING.discard)
    except Exception:
        log.exception("real-time event not delivered to %s", groups)


_Queued = tuple[Any, list[tuple[list[str], dict[str, Any]]], bool, list[str]]
#: Per server loop: the latest send handed to it from a request's thread.
_LATEST: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Task[None]] = (
    weakref.WeakKeyDictionary()
)


def _enqueue(item: _Queued) -> None:
    """On the server's loop: send after the send handed over before (events leave in the
    order they were committed); nothing waits on the loop when nothing is to be sent."""
    loop = asyncio.get_running_loop()
    task = loop.create_task(_send_after(_LATEST.get(loop), item))
    _LATEST[loop] = task
    _PENDING.add(task)
    task.add_done_callback(_PENDING.discard)


async def _send_after(previous: asyncio.Task[None] | None, item: _Queued) -> None:
    if previous is not None and not previous.done():
        await asyncio.wait([previous])  # its failure is its own
    layer, sends, together, groups = item
    try:
        await _group_send(layer, sends, together)
    except Exception:
        log.exception("real-time event not delivered to %s", groups)


_PENDING: set[asyncio.Task[None]] = set()
#: Group sends of one batch under way at once.
SENDS_AT_ONCE = 8


async def _group_send(
    layer: Any, sends: list[tuple[list[str], dict[str, Any]]], together: bool = False
) -> None:
    with_members = getattr(layer, "groups_with_members", None)
    if with_members is not None:
        # One round trip to learn which groups anybody listens to (Redis: see
        # connectors.chat.redis_layer), instead of two for each group inside its send.
        listened = await with_members({group for groups, _ in sends for group in groups})
        sends = [([g for g in groups if g in listened], message) for groups, message in sends]
    if together:
        pairs = [(group, message) for groups, message in sends for group in groups]
        if isinstance(layer, InMemoryChannelLayer):
            # Its sends never wait: one after another, without a task for each.
            for group, message in pairs:
                await layer.group_send(group, message)
            return
        # A few at a time: the layer's connection pool (Redis) is bounded.
        for start in range(0, len(pairs), SENDS_AT_ONCE):
            await asyncio.gather(
                *(layer.group_send(g, m) for g, m in pairs[start : start + SENDS_AT_ONCE])
            )
        return
    for groups, message in sends:
        for group in groups:
            await layer.group_send(group, message)
