"""Channels' Redis layer, asked first which groups have a member.

A real-time event goes to the desk's group and its merchant's (``conversations.events``), and
Channels' ``group_send`` spends two round trips to Redis on each group before it knows whether
anybody listens (dropping the expired members, then reading the rest), so an event cost four
round trips on the server's loop even when no page was open. ``groups_with_members`` does
the first of those steps for every group of an event in one round trip (per Redis host), and
the events are then sent, as Channels sends them, only to the groups that have a member.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from channels_redis.core import RedisChannelLayer as ChannelsRedisLayer


class RedisChannelLayer(ChannelsRedisLayer):
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
            pipe = self.connection(host).pipeline(transaction=False)
            for group in names:
                key = self._group_key(group)
                pipe.zremrangebyscore(key, min=0, max=expired)
                pipe.zcard(key)
            counts = (await pipe.execute())[1::2]
            found.update(group for group, n in zip(names, counts, strict=True) if n)
        return found
