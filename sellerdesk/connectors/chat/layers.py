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
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

from channels.exceptions import ChannelFull
from channels.layers import InMemoryChannelLayer

SWEEP_SECONDS = 1.0


class SweepingInMemoryChannelLayer(InMemoryChannelLayer):
    _swept_at = float("-inf")

    def _clean_expired(self) -> None:
        now = time.monotonic()
        if now - self._swept_at < SWEEP_SECONDS:
            return
        self._swept_at = now
        super()._clean_expired()

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        assert isinstance(message, dict), "Message is not a dict"
        self.require_valid_group_name(group)
        self._clean_expired()
        for channel in list(self.groups.get(group, {})):
            # As Channels' own: a full queue drops this member's copy.
            with contextlib.suppress(ChannelFull):
                await self.send(channel, message)
