"""The stored facts of one conversation, derived from its own messages and status changes.

Pure functions over one conversation's events, shared by the live services and the bulk
importer so the two can never disagree. The definitions are those of docs/report.md.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sellerdesk.conversations.models import RESOLVED_STATUSES, AuthorType, Status


@dataclass(frozen=True, slots=True)
class MessageFact:
    author_type: str
    public: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class StatusFact:
    status: str
    at: datetime
    seq: int


@dataclass(frozen=True, slots=True)
class Stretch:
    started_at: datetime
    ended_at: datetime | None


@dataclass(frozen=True, slots=True)
class Facts:
    status: str
    status_changed_at: datetime | None
    first_response_at: datetime | None
    resolved_at: datetime | None
    stretches: tuple[Stretch, ...]


def first_response(created_at: datetime, messages: Iterable[MessageFact]) -> datetime | None:
    """The earliest public agent message at or after created_at.

    Internal notes and system messages (auto-replies, bots) are not responses.
    """
    moments = [
        m.created_at
        for m in messages
        if m.public and m.author_type == AuthorType.AGENT and m.created_at >= created_at
    ]
    return min(moments, default=None)


def resolution_stretches(changes: Iterable[StatusFact]) -> tuple[str, tuple[Stretch, ...]]:
    """The status now and the stretches spent in solved/closed, in event order.

    A stretch starts with a change into solved or closed from any other status (or from no
    status yet) and ends with the next change out of them; solved then closed is one stretch.
    """
    ordered = sorted(changes, key=lambda c: (c.at, c.seq))
    stretches: list[Stretch] = []
    status = Status.NEW.value
    started: datetime | None = None
    for change in ordered:
        was_resolved = status in RESOLVED_STATUSES
        now_resolved = change.status in RESOLVED_STATUSES
        if now_resolved and not was_resolved:
            started = change.at
        elif was_resolved and not now_resolved and started is not None:
            stretches.append(Stretch(started, change.at))
            started = None
        status = change.status
    if started is not None:
        stretches.append(Stretch(started, None))
    return status, tuple(stretches)


def derive(
    created_at: datetime, messages: Iterable[MessageFact], changes: Iterable[StatusFact]
) -> Facts:
    changes = list(changes)
    status, stretches = resolution_stretches(changes)
    open_ended = stretches[-1] if stretches and stretches[-1].ended_at is None else None
    return Facts(
        status=status,
        status_changed_at=max((c.at for c in changes), default=None),
        first_response_at=first_response(created_at, messages),
        resolved_at=open_ended.started_at if open_ended else None,
        stretches=stretches,
    )


def seconds_between(start: datetime, end: datetime | None) -> float | None:
    return None if end is None else (end - start).total_seconds()
