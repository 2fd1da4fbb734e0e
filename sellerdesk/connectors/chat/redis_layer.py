"""Channels' Redis layer, asked first which groups have a member, and whose commands never lose
a cancellation.

A real-time event goes to the desk's group and its merchant's (``conversations.events``), and
Channels' ``group_send`` spends two round trips to Redis on each group before it knows whether
anybody listens (dropping the expired members, then reading the rest), so an event cost four
round trips on the server's loop even when no page was open. ``groups_with_members`` does
the first of those steps for every group of an event in one command (per Redis host: a Lua
script, so one request to pack and one reply to parse, where a pipeline of two commands a
group cost a tenth of an API post's CPU), and the events are then sent, as Channels sends
them, only to the groups that have a member.

**Cancellations.** With a ``socket_timeout`` (the settings give one: see ``CHANNEL_LAYERS``),
redis-py sends each command through ``asyncio.wait_for``, which before Python 3.12 returns the
finished send and drops a cancellation that arrives in the same turn of the loop. A socket's
consumer that ends (its client left, or the server stops) cancels its receive, and the receive
loop (``receive_single``: a blocking pop of 5 s, again and again until a message comes) then
never ended: one such task in each worker of ``bench/chat.py --workers 2``, and the server
waited for it until it was killed 35 s after SIGTERM. The layer's connections therefore raise
the cancellation that the send lost (``KeepsCancellation``), after dropping the connection, whose
answer is left unread, as redis-py does when a send fails.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Iterable
from typing import Any

from channels_redis.core import RedisChannelLayer as ChannelsRedisLayer
from redis.asyncio.connection import AbstractConnection, ConnectionPool

#: Each group's members past ``group_expiry`` dropped (ARGV[1]: the last expired score), as
#: ``group_send`` drops them, and the rest counted; the counts in the order of KEYS.
_COUNT_MEMBERS = """
local counts = {}
for i, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, 0, ARGV[1])
  counts[i] = redis.call('ZCARD', key)
end
return counts
"""


class KeepsCancellation:
    """Mixed into a redis-py connection class: a cancellation that arrives while a command is
    sent is raised, never lost (see the module's docstring)."""

    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        task = asyncio.current_task()
        cancels = task.cancelling() if task is not None else 0
        await super().send_packed_command(command, check_health)  # type: ignore[misc]
        if task is not None and task.cancelling() > cancels:
            # asyncio.wait_for returned instead of raising: the command is sent, its answer
            # will never be read, so the connection cannot be used again.
            await self.disconnect(nowait=True)  # type: ignore[attr-defined]
            raise asyncio.CancelledError


@functools.cache
def keeping_cancellation(connection_class: type[AbstractConnection]) -> type[AbstractConnection]:
    """``connection_class`` (plain, TLS, Unix socket or Sentinel) with ``KeepsCancellation``."""
    if issubclass(connection_class, KeepsCancellation):
        return connection_class
    return type(connection_class.__name__, (KeepsCancellation, connection_class), {})


class RedisChannelLayer(ChannelsRedisLayer):
    def create_pool(self, index: int) -> ConnectionPool:
        # The URL's scheme chose the class (rediss://, unix://); the subclass keeps that choice.
        pool = super().create_pool(index)
        pool.connection_class = keeping_cancellation(pool.connection_class)
        return pool

    async def groups_with_members(self, groups: Iterable[str]) -> set[str]:
        """Of ``groups``, those that have a member, after dropping the members past
        ``group_expiry`` as ``group_send`` does."""
        by_host: dict[int, list[str]] = {}
        for group in groups:
            assert self.require_valid_group_name(group), "Group name not valid"
            by_host.setdefault(self.consistent_hash(group), []).append(group)
        found: set[str] = set()
        expired = int(time.time()) - self.group_expiry
        for host, names in by_host.items():
            # Sent by its hash, loaded again if Redis lost it (redis-py's script object).
            count_members = self.connection(host).register_script(_COUNT_MEMBERS)
            keys = [self._group_key(group) for group in names]
            counts = await count_members(keys=keys, args=[expired])
            found.update(group for group, n in zip(names, counts, strict=True) if n)
        return found
