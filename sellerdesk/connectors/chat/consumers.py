"""The live-chat websocket (``/ws/chat/``): one socket per open page, merchant or staff.

The socket needs a signed-in session (staff: with their second factor where it is required).
A merchant user's socket joins their merchant's group only, so it carries that merchant's
conversations and nothing else; a staff socket joins the desk's group. What travels there is
published by the services after commit (``conversations.events``); this consumer adds only
the ephemeral: who is typing, and which staff have a conversation open.

Frames are JSON text, one object each, with a ``type``:

- ``subscribe {conversation, after}``: open a conversation (checked by the selectors); the
  stored messages with an id above ``after`` are replayed, then ``replayed``.
- ``resume {after}``: replay the messages above ``after`` in every conversation the person
  may see (the portal's list, a reconnecting client without a conversation open). ``after``
  may instead map conversation ids to the last id seen in each: exact on PostgreSQL too, where
  one number across conversations can miss a message whose transaction committed late.
- ``send {conversation, body, client_id, internal}``: a reply, stored as the portal's form
  stores it (with what other sockets sent meanwhile, in one transaction: ``writer``). It is
  stored, then acknowledged (``ack`` with the message's id) and delivered to everyone allowed;
  the same ``client_id`` again is acknowledged with the same id and stored once.
- ``typing {conversation, internal}``, ``unsubscribe {conversation}``, ``ping``.

A frame that is not JSON, or asks for something not allowed, is answered with ``error`` and
the socket stays open. A binary frame closes it with 1003, a frame over the size limit with
1009, a socket without a session is closed with 4401, one whose person may not chat with
4403.

While the database is away (a restart, a failover) a new socket is refused with an ``error``
``unavailable`` and closed with 1013 (try again later); a frame that needed the database is
answered with an ``error`` ``unavailable`` (with the ``client_id`` of a ``send``: it was not
stored, send it again with the same ``client_id``) and the socket stays open. Either way one
warning line is logged, no traceback. A socket whose group the channel layer (Redis) fails to
join is refused the same way, 1013.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from typing import Any

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.http import Http404

from sellerdesk.accounts.models import User
from sellerdesk.connectors.chat import writer
from sellerdesk.connectors.chat.auth import DATABASE_AWAY, SCOPE_DATABASE_AWAY
from sellerdesk.conversations import bulk, events, selectors
from sellerdesk.conversations.models import Conversation, Message
from sellerdesk.core import i18n
from sellerdesk.core.errors import ValidationError
from sellerdesk.core.text import parse_id

CLOSE_UNSUPPORTED = 1003
CLOSE_POLICY = 1008
CLOSE_TOO_BIG = 1009
CLOSE_TRY_AGAIN_LATER = 1013
CLOSE_SIGN_IN = 4401
CLOSE_FORBIDDEN = 4403
#: Conversations one socket may have open at once.
MAX_SUBSCRIPTIONS = 50
CLIENT_ID_MAX = 64

logger = logging.getLogger(__name__)


def close_code_for(user: Any, session: Any) -> int | None:
    """Why this person's socket is refused (a close code), or None when it may connect."""
    if user is None or not user.is_authenticated or not user.is_active:
        return CLOSE_SIGN_IN
    if user.is_agent:
        if settings.SELLERDESK_STAFF_2FA_REQUIRED and not _second_factor_done(user, session):
            return CLOSE_FORBIDDEN
        return None
    if user.is_merchant_user and user.merchant_id is not None:
        return None
    return CLOSE_FORBIDDEN


def _second_factor_done(user: User, session: Any) -> bool:
    # The check django_otp's middleware makes for a request, made for the socket's session.
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.models import Device

    persistent_id = session.get(DEVICE_ID_SESSION_KEY) if session is not None else None
    device = Device.from_persistent_id(persistent_id) if persistent_id else None
    return device is not None and device.user_id == user.pk and device.confirmed


class FrameError(Exception):
    """A frame the socket answers with an ``error`` and otherwise ignores."""

    def __init__(self, code: str, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.extra = extra


class FrameBucket:
    """A token bucket: ``rate`` frames a second on average, ``burst`` at once."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)
        self.at = time.monotonic()
        #: Frames refused in a row; reset by the next frame let through.
        self.refused = 0

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            self.refused = 0
            return True
        self.refused += 1
        return False


class ChatConsumer(AsyncWebsocketConsumer):
    user: User | None = None
    staff = False
    home_group = ""
    session_group = ""
    #: Set once the server closes the socket: frames still arriving are ignored.
    closing = False
    #: The person's page language, for refusals (read once, when the socket opens).
    language = i18n.ENGLISH

    async def connect(self) -> None:
        self.subscribed: set[int] = set()
        # Who is viewing, per socket: a token, not the layer's channel name.
        self.token = secrets.token_hex(8)
        # Accepted first so that a refusal reaches the client as a close code it can show.
        await self.accept()
        away = self.scope.get(SCOPE_DATABASE_AWAY)
        if away:
            await self._refuse_database_away(away)
            return
        user = self.scope.get("user")
        try:
            code, self.language = await database_sync_to_async(self._admit)(user)
        except DATABASE_AWAY as problem:
            await self._refuse_database_away(type(problem).__name__)
            return
        if code is not None:
            await self._error(
                "sign_in" if code == CLOSE_SIGN_IN else "forbidden",
                "sign in first" if code == CLOSE_SIGN_IN else "this account may not use the chat",
            )
            await self.close(code=code)
            return
        # The person itself rather than the session's lazy proxy to it: every message this
        # socket sends reads it a dozen times.
        user = getattr(user, "_wrapped", user)
        assert isinstance(user, User)
        self.user = user
        self.staff = user.is_agent
        self.home_group = (
            events.DESK_GROUP if self.staff else events.merchant_group(user.merchant_id or 0)
        )
        self.bucket = FrameBucket(
            settings.SELLERDESK_CHAT_FRAMES_PER_SECOND, settings.SELLERDESK_CHAT_FRAME_BURST
        )
        session_key = getattr(self.scope.get("session"), "session_key", None)
        try:
            await self.channel_layer.group_add(self.home_group, self.channel_name)
            if session_key:
                # Signing out sends the session's group a message that closes this socket.
                self.session_group = events.session_group(session_key)
                await self.channel_layer.group_add(self.session_group, self.channel_name)
        except Exception as problem:  # the layer's transport (Redis): timeouts, refusals
            # Found by make bench-load: a Redis read timeout here was a traceback and a
            # dropped socket. Without its group the socket would miss events: refused, 1013.
            self.user = None
            logger.warning(
                "chat: the channel layer failed (%s): a new socket closed with 1013",
                type(problem).__name__,
            )
            await self._error("unavailable", "the chat cannot reach its relay: connect again")
            await self.close(code=CLOSE_TRY_AGAIN_LATER)
            return
        await self._send({"type": "hello", "staff": self.staff, "name": user.get_full_name()})

    async def disconnect(self, code: int) -> None:
        if self.user is None:
            return
        try:
            for conversation_id in list(self.subscribed):
                await self._leave(conversation_id)
            await self.channel_layer.group_discard(self.home_group, self.channel_name)
            if self.session_group:
                await self.channel_layer.group_discard(self.session_group, self.channel_name)
        except Exception as problem:  # the layer's transport (Redis): timeouts, refusals
            # The socket is gone either way; a membership left behind expires with the
            # layer's group expiry, and sends to it are dropped meanwhile.
            logger.warning(
                "chat: the channel layer failed (%s) while a socket left its groups",
                type(problem).__name__,
            )

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.user is None or self.closing:
            return
        if not self.bucket.take():
            # Refused, not queued: the client slows down. One that goes on sending while
            # refused is closed.
            if self.bucket.refused > self.bucket.burst:
                await self._error("rate_limited", "too many frames: the socket is closed")
                await self.close(code=CLOSE_POLICY)
                self.closing = True
            elif self.bucket.refused == 1:
                await self._error(
                    "rate_limited",
                    f"at most {self.bucket.rate:g} frames a second: this one was dropped",
                )
            return
        if text_data is None:
            await self._error("binary", "binary frames are not accepted: send JSON text")
            await self.close(code=CLOSE_UNSUPPORTED)
            return
        limit = settings.SELLERDESK_CHAT_MAX_FRAME_BYTES
        # A character is at most 4 bytes: the frame is measured in bytes only when it might
        # be over.
        if len(text_data) > limit or (
            4 * len(text_data) > limit and len(text_data.encode()) > limit
        ):
            await self._error("too_big", f"a frame may be at most {limit} bytes")
            await self.close(code=CLOSE_TOO_BIG)
            return
        try:
            frame = json.loads(text_data)
        except ValueError:
            await self._error("bad_frame", "a frame is one JSON object")
            return
        if not isinstance(frame, dict):
            await self._error("bad_frame", "a frame is one JSON object")
            return
        handler = self._HANDLERS.get(str(frame.get("type")))
        if handler is None:
            await self._error("bad_frame", f"unknown frame type {frame.get('type')!r}")
            return
        try:
            await handler(self, frame)
        except FrameError as problem:
            await self._error(problem.code, problem.detail, **problem.extra)
        except DATABASE_AWAY as problem:
            # channels.db.database_sync_to_async closed the failed connection: the client's
            # next try gets a fresh one.
            logger.warning(
                "chat: the database is away (%s): a %s frame answered 'unavailable'",
                type(problem).__name__,
                frame.get("type"),
            )
            await self._error("unavailable", **_unavailable(frame))

    async def dispatch(self, message: dict[str, Any]) -> None:
        """Channels' dispatch, without its hop to the database thread to close old
        connections before each message: every chat message is one frame from its sender and
        one layer event on each socket that shows it, and those hops took a fifth of the
        server's CPU (`make bench-chat`). Nothing here touches the database but through
        ``database_sync_to_async`` (or the writer, which uses it), which closes old
        connections itself, around the call. Connecting and leaving keep Channels' way."""
        if message["type"] in _UNHOPPED:
            await getattr(self, get_handler_name(message))(message)
            return
        await super().dispatch(message)

    # --- Frames from the client ------------------------------------------------------------

    async def _subscribe(self, frame: dict[str, Any]) -> None:
        conversation_id = self._conversation_id(frame)
        after = self._after(frame)
        if conversation_id not in self.subscribed:
            if len(self.subscribed) >= MAX_SUBSCRIPTIONS:
                raise FrameError("too_many", f"at most {MAX_SUBSCRIPTIONS} conversations open")
            await database_sync_to_async(self._conversation)(conversation_id)
            # Joined before the replay is read, so a message committed in between comes
            # live or in the replay (the client drops an id it has).
            await self.channel_layer.group_add(
                events.conversation_group(conversation_id), self.channel_name
            )
            self.subscribed.add(conversation_id)
            if self.staff:
                await self._viewing(conversation_id, "join")
        if after is not None:
            await self._replay(conversation_id, after)

    async def _unsubscribe(self, frame: dict[str, Any]) -> None:
        conversation_id = self._conversation_id(frame)
        if conversation_id in self.subscribed:
            await self._leave(conversation_id)

    async def _resume(self, frame: dict[str, Any]) -> None:
        value = frame.get("after")
        if isinstance(value, dict):
            # One cursor per conversation: exact even when transactions of different
            # conversations committed out of id order (PostgreSQL).
            if len(value) > MAX_SUBSCRIPTIONS:
                raise FrameError("too_many", f"at most {MAX_SUBSCRIPTIONS} conversations")
            cursors: dict[int, int] = {}
            for key, last in value.items():
                conversation_id, after = parse_id(key), parse_id(last)
                if conversation_id is None or after is None:
                    raise FrameError("invalid", "after maps conversation ids to last ids seen")
                cursors[conversation_id] = after
            await self._replay_rows(
                None,
                await database_sync_to_async(selectors.messages_after_each)(
                    user=self.user, cursors=cursors
                ),
            )
            return
        after = self._after(frame)
        await self._replay(None, after or 0)

    async def _send_message(self, frame: dict[str, Any]) -> None:
        conversation_id = self._conversation_id(frame)
        body = frame.get("body")
        client_id = frame.get("client_id", "")
        internal = frame.get("internal", False)
        if not isinstance(client_id, str) or len(client_id) > CLIENT_ID_MAX:
            raise FrameError("invalid", f"client_id is a string of at most {CLIENT_ID_MAX}")
        if not isinstance(body, str):
            raise FrameError("invalid", "body is a string", client_id=client_id)
        if not isinstance(internal, bool):
            raise FrameError("invalid", "internal is true or false", client_id=client_id)
        assert self.user is not None
        reply = bulk.ChatReply(
            conversation_id=conversation_id,
            author=self.user,
            body=body,
            public=not internal,
            client_id=client_id,
            language=self.language,
        )
        # Stored (with the messages other sockets sent meanwhile: connectors.chat.writer),
        # then acknowledged; one socket's frames go one after another, so in order.
        try:
            message = await writer.store(reply)
        except Http404:
            raise FrameError(
                "not_found", "no such conversation", conversation=conversation_id
            ) from None
        except ValidationError as problem:
            raise FrameError(
                "invalid", str(problem), conversation=conversation_id, client_id=client_id
            ) from None
        await self._send(
            {
                "type": "ack",
                "conversation": conversation_id,
                "client_id": client_id,
                "id": message.pk,
            }
        )

    async def _typing(self, frame: dict[str, Any]) -> None:
        conversation_id = self._conversation_id(frame)
        if conversation_id not in self.subscribed:
            raise FrameError("not_subscribed", "subscribe to the conversation first")
        assert self.user is not None
        await self.channel_layer.group_send(
            events.conversation_group(conversation_id),
            {
                "type": "chat.typing",
                "conversation": conversation_id,
                "name": self.user.get_full_name(),
                "staff": self.staff,
                # Only staff write internal notes; a note being typed is for staff eyes.
                "internal": self.staff and frame.get("internal") is True,
                "sender": self.channel_name,
            },
        )

    async def _ping(self, frame: dict[str, Any]) -> None:
        await self._send({"type": "pong"})

    _HANDLERS = {
        "subscribe": _subscribe,
        "unsubscribe": _unsubscribe,
        "resume": _resume,
        "send": _send_message,
        "typing": _typing,
        "ping": _ping,
    }

    # --- Messages from the channel layer ---------------------------------------------------

    async def chat_event(self, message: dict[str, Any]) -> None:
        """An event a service published (``conversations.events``)."""
        event = message["event"]
        if self.closing:
            return
        # The group already scopes it; a note never goes to a merchant's socket regardless.
        if not self.staff and event.get("public") is False:
            return
        await self._send(event)

    async def chat_events(self, message: dict[str, Any]) -> None:
        """A batch's events for this socket's group (``events.publish_many``), in order, each
        already encoded as its frame (``frames``: the text, and whether merchants may see it).
        ``events`` (the payloads themselves) is what a process of an earlier release sends
        through a shared layer (Redis) while a new release rolls out."""
        if "frames" not in message:
            for event in message["events"]:
                await self.chat_event({"event": event})
            return
        for text, public in message["frames"]:
            if self.closing:
                return
            # As chat_event: a note never goes to a merchant's socket, whatever the group.
            if public or self.staff:
                await self._send_text(text)

    async def chat_signout(self, message: dict[str, Any]) -> None:
        """The socket's session signed out: the socket goes with it."""
        if self.user is None or self.closing:
            return
        await self._error("signed_out", "signed out: sign in again")
        await self.close(code=CLOSE_SIGN_IN)
        self.closing = True

    async def chat_typing(self, message: dict[str, Any]) -> None:
        if message["sender"] == self.channel_name or (message["internal"] and not self.staff):
            return
        await self._send(
            {
                "type": "typing",
                "conversation": message["conversation"],
                "name": message["name"],
                "staff": message["staff"],
            }
        )

    async def chat_viewing(self, message: dict[str, Any]) -> None:
        """Who is viewing, among staff only. A newcomer's "join" is answered by everyone
        already there with "here", straight to the newcomer's socket."""
        if not self.staff or message["sender"] == self.channel_name:
            return
        conversation_id = message["conversation"]
        await self._send(
            {
                "type": "viewing",
                "conversation": conversation_id,
                "state": message["state"],
                "viewer": message["viewer"],
                "name": message["name"],
            }
        )
        if message["state"] == "join" and conversation_id in self.subscribed:
            await self.channel_layer.send(
                message["sender"], self._viewing_message(conversation_id, "here")
            )

    # --- Helpers ---------------------------------------------------------------------------

    def _conversation(self, conversation_id: int) -> Conversation:
        assert self.user is not None
        try:
            return selectors.conversation_get(user=self.user, pk=conversation_id)
        except Http404:
            raise FrameError(
                "not_found", "no such conversation", conversation=conversation_id
            ) from None

    def _admit(self, user: Any) -> tuple[int | None, str]:
        """Why the socket is refused (a close code, or None), and the language of its
        person's page (their choice, their merchant's), in which refusals are written."""
        code = close_code_for(user, self.scope.get("session"))
        if code is not None or not user.is_merchant_user:
            return code, i18n.ENGLISH
        cookie = (self.scope.get("cookies") or {}).get(settings.LANGUAGE_COOKIE_NAME)
        return code, i18n.first_supported([cookie, *i18n.user_languages(user)]) or i18n.ENGLISH

    async def _replay(self, conversation_id: int | None, after: int) -> None:
        assert self.user is not None
        conversation = (
            await database_sync_to_async(self._conversation)(conversation_id)
            if conversation_id is not None
            else None
        )
        rows = await database_sync_to_async(selectors.messages_after)(
            user=self.user, after=after, conversation=conversation
        )
        await self._replay_rows(conversation_id, rows)

    async def _replay_rows(self, conversation_id: int | None, rows: list[Message]) -> None:
        for row in rows:
            await self._send(events.message_payload(row))
        await self._send(
            {
                "type": "replayed",
                "conversation": conversation_id,
                "count": len(rows),
                # More than one replay holds: the client reloads the page instead.
                "complete": len(rows) < selectors.REPLAY_LIMIT,
            }
        )

    async def _leave(self, conversation_id: int) -> None:
        self.subscribed.discard(conversation_id)
        if self.staff:
            await self._viewing(conversation_id, "leave")
        await self.channel_layer.group_discard(
            events.conversation_group(conversation_id), self.channel_name
        )

    def _viewing_message(self, conversation_id: int, state: str) -> dict[str, Any]:
        assert self.user is not None
        return {
            "type": "chat.viewing",
            "conversation": conversation_id,
            "state": state,
            "viewer": self.token,
            "name": self.user.get_full_name(),
            "sender": self.channel_name,
        }

    async def _viewing(self, conversation_id: int, state: str) -> None:
        await self.channel_layer.group_send(
            events.conversation_group(conversation_id),
            self._viewing_message(conversation_id, state),
        )

    @staticmethod
    def _conversation_id(frame: dict[str, Any]) -> int:
        key = parse_id(frame.get("conversation"))
        if key is None:
            raise FrameError("invalid", "conversation is a conversation's id")
        return key

    @staticmethod
    def _after(frame: dict[str, Any]) -> int | None:
        value = frame.get("after")
        if value is None:
            return None
        after = parse_id(value)
        if after is None:
            raise FrameError("invalid", "after is the last message id seen (0 or more)")
        return after

    async def _send(self, payload: dict[str, Any]) -> None:
        await self._send_text(json.dumps(payload, ensure_ascii=False))

    async def _send_text(self, text: str) -> None:
        # ``AsyncWebsocketConsumer.send(text_data=...)``, without its two hops.
        await self.base_send({"type": "websocket.send", "text": text})

    async def _error(self, code: str, detail: str, **extra: Any) -> None:
        await self._send({"type": "error", "code": code, "detail": detail, **extra})

    async def _refuse_database_away(self, error: str) -> None:
        logger.warning("chat: the database is away (%s): a new socket closed with 1013", error)
        await self._error(
            "unavailable", "the chat cannot reach its database just now: connect again shortly"
        )
        await self.close(code=CLOSE_TRY_AGAIN_LATER)


#: What ``dispatch`` hands over without Channels' hop: a client's frame, and the channel
#: layer's events (``chat_event`` and its siblings).
_UNHOPPED = frozenset(
    {
        "websocket.receive",
        events.HANDLER,
        events.MANY_HANDLER,
        events.SIGN_OUT_HANDLER,
        "chat.typing",
        "chat.viewing",
    }
)


def _unavailable(frame: dict[str, Any]) -> dict[str, Any]:
    """The ``error`` frame's fields for a frame that met the database away."""
    if frame.get("type") != "send":
        return {"detail": "the chat cannot reach its database just now: try again shortly"}
    answer: dict[str, Any] = {
        "detail": "not stored: the chat cannot reach its database just now; "
        "send it again with the same client_id",
        "client_id": frame.get("client_id", ""),
    }
    if "conversation" in frame:
        answer["conversation"] = frame["conversation"]
    return answer
