"""One conversation while it is being written, and the interchange object it becomes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sellerdesk.conversations.demo.people import Agent, Merchant
from sellerdesk.conversations.demo.world import ID_PREFIX, Country, zone_info
from sellerdesk.conversations.interchange import format_timestamp

Author = dict[str, str]


def stamp(moment: datetime, zone: str | None) -> str:
    """Merchants and agents write in their local offset; the automation writes UTC."""
    return moment.astimezone(zone_info(zone)).isoformat() if zone else format_timestamp(moment)


@dataclass(slots=True)
class Conv:
    """One conversation being written: its events in time order, cut at the clock when built."""

    number: int
    merchant: Merchant
    created: datetime
    country: Country
    zone: str
    status: str
    team: str
    agent: Agent
    values: dict[str, str]
    channel: str = "email"
    kind: str = "question"
    subject: str = ""
    tags: list[str] = field(default_factory=list)
    outreach: bool = False
    spam: bool = False
    outcome: str | None = None
    decided_at: datetime | None = None
    said: set[str] = field(default_factory=set)  # phrases already used, to vary the wording
    #: (at, author, body, time zone or None for UTC, public)
    messages: list[tuple[datetime, Author, str, str | None, bool]] = field(default_factory=list)
    changes: list[tuple[datetime, str, str]] = field(default_factory=list)

    def build(self, now: datetime) -> dict[str, Any]:
        """The interchange object as of ``now``: what happens later is left out."""
        messages: list[dict[str, Any]] = []
        for at, author, body, zone, public in self.messages:
            if at <= now:
                message: dict[str, Any] = {"id": str(len(messages) + 1), "author": author}
                if not public:
                    message["public"] = False
                message["body"] = body
                message["created_at"] = stamp(at, zone)
                messages.append(message)
        merchant = {
            "id": self.merchant.id,
            "name": self.merchant.name,
            "country": self.country.code,
            "status": self.status,
            "language": self.merchant.language,
        }
        obj: dict[str, Any] = {
            "id": f"{ID_PREFIX}{self.number:06d}",
            "merchant": merchant,
            "channel": self.channel,
            "kind": self.kind,
            "initiated_by": "support" if self.outreach else "merchant",
            "subject": self.subject,
            "created_at": stamp(self.created, self.zone),
            "tags": self.tags,
            "messages": messages,
            "status_changes": [
                {"status": status, "at": format_timestamp(at), "by": by}
                for at, status, by in self.changes
                if at <= now
            ],
        }
        if self.kind == "complaint":
            decided = self.decided_at is not None and self.decided_at <= now
            obj["outcome"] = self.outcome if decided else None
        if self.spam:
            obj["spam"] = True
        return obj
