"""The in-memory channel layer of one server process, without its costs per event.

Channels' ``InMemoryChannelLayer`` sweeps every channel's queue and every group's members
for expired entries at each ``receive`` and ``group_send``. A socket receives once per event
it is sent, so with S sockets open an event fanned out to a few of them cost a few sweeps
over S channels and 2S group memberships: with 500 merchants' sockets `make bench-chat`
found the sweeps taking about 40% of the server's CPU. Here a sweep runs at most once every
``SWEEP_SECONDS``; what expires (an undelivered message after ``expiry``, 60 s; a group
membership after ``group_expiry``, a day) goes at most that much later. A group send puts
the message on each member's queue in turn (a send to this layer never waits) instead of
making a task per member.

Channels' layer also deep-copies every message for every channel it is put on (so that no
receiver can change what another receives), and builds a new queue at every send and
receive only to throw it away when the channel has one. A message whose values are all
immutable (text, numbers, tuples of them: a batch's events as ``conversations.events``
encodes them once for every socket) cannot be changed by anybody: it is put on each queue
as a shallow copy. Any other message is deep-copied as before. And a channel's queue is kept
between its messages (Channels' own made a new queue for every message a socket received).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from copy import deepcopy
from typing import Any

from channels.exceptions import ChannelFull
from channels.layers import InMemoryChannelLayer

SWEEP_SECONDS = 1.0

_ATOMS = (str, int, float, bytes, type(None))


def _immutable(value: Any) -> bool:
    """Whether nothing inside ``value`` can be changed in place (bool is an int)."""
    if isinstance(value, _ATOMS):
        return True
    if isinstance(value, tuple):
        return all(_immutable(item) for item in value)
    return False


def _copy(message: dict[str, Any]) -> dict[str, Any]:
    """What one channel receives: its own dict, sharing only values nobody can change."""
    if all(_immutable(value) for value in message.values()):
        return dict(message)
    return deepcopy(message)


class SweepingInMemoryChannelLayer(InMemoryChannelLayer):
    _swept_at = float("-inf")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: Channel → receivers waiting on its queue now.
        self._receiving: dict[str, int] = {}

    def _clean_expired(self) -> None:
        now = time.monotonic()
        if now - self._swept_at < SWEEP_SECONDS:
            return
        self._swept_at = now
        super()._clean_expired()
        # The queues kept by ``receive``: an empty one nobody waits on goes (its socket may
        # have gone; a new one is made at the channel's next send or receive).
        for channel, queue in list(self.channels.items()):
            if queue.empty() and not self._receiving.get(channel):
                del self.channels[channel]

    def _queue(self, channel: str) -> asyncio.Queue[tuple[float, dict[str, Any]]]:
        queue = self.channels.get(channel)
        if queue is None:
            queue = self.channels[channel] = asyncio.Queue(maxsize=self.get_capacity(channel))
        return queue

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        """Channels' ``send``: the message onto the channel's queue (``ChannelFull`` when
        it holds ``capacity`` already)."""
        assert isinstance(message, dict), "message is not a dict"
        self.require_valid_channel_name(channel)
        assert "__asgi_channel__" not in message
        try:
            self._queue(channel).put_nowait((time.time() + self.expiry, _copy(message)))
        except asyncio.QueueFull:
            raise ChannelFull(channel) from None

    async def receive(self, channel: str) -> dict[str, Any]:
        """Channels' ``receive``: the channel's next message, once there is one. Channels'
        own drops the channel's queue whenever it is left empty, so a socket receiving one
        message at a time made a new queue for each; here the queue stays until a sweep
        finds it empty with nobody waiting on it."""
        self.require_valid_channel_name(channel)
        self._clean_expired()
        queue = self._queue(channel)
        self._receiving[channel] = self._receiving.get(channel, 0) + 1
        try:
            _, message = await queue.get()
        finally:
            waiting = self._receiving.pop(channel) - 1
            if waiting:
                self._receiving[channel] = waiting
        return message

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        assert isinstance(message, dict), "Message is not a dict"
        self.require_valid_group_name(group)
        self._clean_expired()
        for channel in list(self.groups.get(group, {})):
            # As Channels' own: a full queue drops this member's copy.
            with contextlib.suppress(ChannelFull):
                await self.send(channel, message)
