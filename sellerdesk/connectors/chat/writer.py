"""Group commit: how the chat socket stores the messages it is sent.

Each server process has one writer per event loop. A socket's ``send`` hands its message to
the writer and waits; the writer collects what arrives within a few milliseconds
(``SELLERDESK_CHAT_BATCH_WINDOW_MS``, up to ``SELLERDESK_CHAT_BATCH_MAX`` messages) and stores
the lot in one transaction through ``conversations.bulk.replies_post``, which writes for each
message what ``workflow.reply_post`` writes and publishes the events once committed. Then each
waiting socket gets its own outcome: the stored message (acknowledged with its id) or the
refusal of its message alone. While ``SELLERDESK_CHAT_BATCH_IN_FLIGHT`` batches are being
stored, the next ones gather what arrives meanwhile: the busier the chat, the larger the
batches and the fewer the transactions a message.

A batch whose transaction fails as a whole (a conflict with another process, the database
away) is stored again one message at a time, each in its own transaction, so that one bad
message costs the others nothing; a message that fails then gets its own error. A socket's
frames are handled one after another, so one socket's messages keep their order.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from contextlib import nullcontext

from channels.db import database_sync_to_async
from django.conf import settings
from django.utils import translation

from sellerdesk.conversations import bulk, selectors, workflow
from sellerdesk.conversations.models import Message

logger = logging.getLogger(__name__)


def store_one(reply: bulk.ChatReply) -> Message:
    """One message in its own transaction, as the portal's form stores it. Raises what the
    services raise: ``Http404`` (not the author's to see), ``ValidationError``."""
    conversation = selectors.conversation_get(user=reply.author, pk=reply.conversation_id)
    # A refusal reads in the sender's language, as on their page (core.i18n).
    language = translation.override(reply.language) if reply.language else nullcontext()
    with language:
        return workflow.reply_post(
            conversation=conversation,
            author=reply.author,
            body=reply.body,
            public=reply.public,
            client_id=reply.client_id,
        )


async def store(reply: bulk.ChatReply) -> Message:
    """Store a chat message (group commit, unless ``SELLERDESK_CHAT_GROUP_COMMIT`` is off):
    returns the stored message once it is committed and its event handed to the channel
    layer, or raises what ``store_one`` raises."""
    if not settings.SELLERDESK_CHAT_GROUP_COMMIT:
        # Off the single "thread-sensitive" thread: sockets' messages are stored in parallel.
        return await database_sync_to_async(store_one, thread_sensitive=False)(reply)
    loop = asyncio.get_running_loop()
    writer = _WRITERS.get(loop)
    if writer is None:
        writer = _WRITERS[loop] = GroupWriter()
    return await writer.store(reply)


class GroupWriter:
    """The messages waiting to be stored in this event loop, and the batches being stored."""

    def __init__(self) -> None:
        self.waiting: list[tuple[bulk.ChatReply, asyncio.Future[Message]]] = []
        self.collector: asyncio.Task[None] | None = None
        self.slots = asyncio.Semaphore(max(1, settings.SELLERDESK_CHAT_BATCH_IN_FLIGHT))
        self.batches: set[asyncio.Task[None]] = set()

    async def store(self, reply: bulk.ChatReply) -> Message:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Message] = loop.create_future()
        self.waiting.append((reply, future))
        if self.collector is None:
            self.collector = loop.create_task(self._collect())
        return await future

    async def _collect(self) -> None:
        """Runs while messages wait: a batch each time a slot is free and the window passed."""
        try:
            while self.waiting:
                await self.slots.acquire()
                await asyncio.sleep(settings.SELLERDESK_CHAT_BATCH_WINDOW_MS / 1000)
                limit = max(1, settings.SELLERDESK_CHAT_BATCH_MAX)
                batch, self.waiting = self.waiting[:limit], self.waiting[limit:]
                task = asyncio.get_running_loop().create_task(self._store(batch))
                self.batches.add(task)
                task.add_done_callback(self._stored)
        finally:
            self.collector = None

    def _stored(self, task: asyncio.Task[None]) -> None:
        self.batches.discard(task)
        self.slots.release()

    async def _store(self, batch: list[tuple[bulk.ChatReply, asyncio.Future[Message]]]) -> None:
        replies = [reply for reply, _ in batch]
        try:
            outcomes = await database_sync_to_async(bulk.replies_post, thread_sensitive=False)(
                replies
            )
        except Exception as problem:  # the transaction as a whole: one by one instead
            logger.warning(
                "chat: a batch of %d messages failed (%s): storing them one by one",
                len(batch),
                type(problem).__name__,
            )
            for reply, future in batch:
                try:
                    message = await database_sync_to_async(store_one, thread_sensitive=False)(reply)
                except Exception as failed:
                    _settle(future, failed)
                else:
                    _settle(future, message)
            return
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            _settle(future, outcome)


def _settle(future: asyncio.Future[Message], outcome: Message | BaseException) -> None:
    if future.done():  # its socket went away meanwhile: the message is stored all the same
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)


#: One writer per event loop (a server process has one; each test has its own).
_WRITERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, GroupWriter] = (
    weakref.WeakKeyDictionary()
)
