"""Per-process copies of what every change of a conversation reads but people rarely edit: the
active SLA policies, the business hours (and their calendars) and the active webhook
subscriptions.

Each read first asks the database for the configuration generation (``ConfigGeneration``: one
indexed row, one short statement without the ORM), which triggers on those tables change on
every write, from any process, however it is made. The copy is used only while the generation
is the one it was loaded at, so a change is seen by every process at its next read, exactly as
a fresh query would see it — never a stale policy or a missed subscription. Inside
``reuse()`` (one service call that changes none of these tables) the generation is read once.

Without the generation row (a database emptied by a test's flush) nothing is kept: every read
loads afresh.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from django.db import connection

from sellerdesk.core import rows
from sellerdesk.sla.calendar import BusinessCalendar
from sellerdesk.sla.models import BusinessHours, SlaPolicy

_GENERATION_SQL = "SELECT value FROM sla_configgeneration WHERE id = 1"


@dataclass(frozen=True)
class Subscription:
    pk: int
    merchant_id: int | None
    events: frozenset[str]


@dataclass
class Snapshot:
    """The configuration as of one generation. Treat as read-only: it is shared."""

    generation: int | None
    #: Active policies, by position then id (the first match wins).
    policies: tuple[SlaPolicy, ...]
    #: Business hours by team id (None: the default, the lowest id without a team).
    hours: dict[int | None, BusinessHours]
    subscriptions: tuple[Subscription, ...]
    _calendars: dict[int, BusinessCalendar] = field(default_factory=dict)

    def calendar(self, team_id: int | None) -> BusinessCalendar | None:
        """The team's business calendar, else the default one, else None."""
        hours = self.hours.get(team_id) if team_id is not None else None
        if hours is None:
            hours = self.hours.get(None)
        if hours is None:
            return None
        calendar = self._calendars.get(hours.pk)
        if calendar is None:
            calendar = self._calendars[hours.pk] = hours.calendar()
        return calendar

    def subscribers(self, event: str, merchant_id: int | None) -> list[Subscription]:
        """The active subscriptions that want ``event`` about a conversation of the merchant."""
        return [
            s
            for s in self.subscriptions
            if event in s.events and (s.merchant_id is None or s.merchant_id == merchant_id)
        ]


#: The latest snapshot of this process, per database alias.
_cached: dict[str, Snapshot] = {}
#: Inside ``reuse()``: a holder for the snapshot read first there (empty until then).
_REUSED: ContextVar[list[Snapshot] | None] = ContextVar("sellerdesk_config_reused", default=None)


def _generation() -> int | None:
    row = rows.fetch(_GENERATION_SQL, [])  # prepared (core.rows): nearly every change asks
    return None if row is None else int(row[0])


def _load(generation: int | None) -> Snapshot:
    from sellerdesk.api.models import WebhookSubscription

    hours: dict[int | None, BusinessHours] = {}
    for row in BusinessHours.objects.order_by("id"):
        hours.setdefault(row.team_id, row)
    return Snapshot(
        generation=generation,
        policies=tuple(SlaPolicy.objects.filter(active=True).order_by("position", "id")),
        hours=hours,
        subscriptions=tuple(
            Subscription(pk, merchant_id, frozenset(events or ()))
            for pk, merchant_id, events in WebhookSubscription.objects.filter(
                active=True
            ).values_list("id", "merchant_id", "events")
        ),
    )


def current() -> Snapshot:
    """The configuration as the database holds it now (one short statement, or none inside
    ``reuse()``)."""
    reused = _REUSED.get()
    if reused:
        return reused[0]
    snapshot = _at(_generation())
    if reused is not None:
        reused.append(snapshot)
    return snapshot


def _at(generation: int | None) -> Snapshot:
    snapshot = _cached.get(connection.alias)
    if snapshot is None or generation is None or snapshot.generation != generation:
        # Read after the generation: what is loaded is at least as new as it, so a change
        # committed in between only makes the next read load again.
        snapshot = _load(generation)
        if generation is not None:
            _cached[connection.alias] = snapshot
    return snapshot


def generation_statement() -> tuple[str, list[Any]]:
    """The statement ``current()`` reads the generation with, for a caller that reads it
    together with others; give its rows to ``reuse(generation_rows=...)``."""
    return _GENERATION_SQL, []


@contextmanager
def reuse(*, generation_rows: Sequence[Sequence[Any]] | None = None) -> Iterator[None]:
    """Read the configuration at most once inside: for one service call that changes none of
    the copied tables (a message, a mail), whose several steps (the SLA refresh, each webhook
    event) would otherwise each read the generation. ``generation_rows``: what
    ``generation_statement`` read, in this transaction, just before."""
    if _REUSED.get() is not None:
        yield
        return
    holder: list[Snapshot] = []
    if generation_rows is not None:
        holder.append(_at(int(generation_rows[0][0]) if generation_rows else None))
    token = _REUSED.set(holder)
    try:
        yield
    finally:
        _REUSED.reset(token)
