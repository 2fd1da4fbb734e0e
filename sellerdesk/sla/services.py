"""Service levels: which policy applies, when each target falls due, and breaches.

``sla_refresh`` recomputes a conversation's due times from its stored facts; the workflow
services call it after every change that can move them (opening, a message, a status, the
priority, the kind, the team). Due times are stored on the conversation, so the inbox sorts by
them and the worker's sweep finds breaches through an index.

- *First response*: from filing, until the first public reply by support.
- *Next response*: from the merchant's first public message after support's latest public
  reply, until support answers again.
- *Resolution*: from filing until solved, with the clock paused while support waits on the
  merchant (pending): the time spent pending is added back.

Targets count in the team's business hours (``BusinessHours``; the one without a team is the
default) unless the policy says otherwise. Outreach (support wrote first) and spam have no
targets.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Min, OuterRef, Subquery
from django.utils import timezone

from sellerdesk.accounts.selectors import leads_for
from sellerdesk.api import webhooks
from sellerdesk.conversations.models import (
    RESOLVED_STATUSES,
    Activity,
    ActivityVerb,
    AuthorType,
    Conversation,
    InitiatedBy,
    Message,
    Status,
    StatusChange,
)
from sellerdesk.conversations.selectors import segment_countries
from sellerdesk.outbox.services import email_enqueue
from sellerdesk.sla import config
from sellerdesk.sla.calendar import BusinessCalendar
from sellerdesk.sla.models import SlaBreach, SlaMetric, SlaPolicy

_ALWAYS = BusinessCalendar.always()


def policy_for(conversation: Conversation) -> SlaPolicy | None:
    """The first active policy, by position, whose every condition the conversation meets."""
    if conversation.initiated_by != InitiatedBy.MERCHANT or conversation.spam:
        return None
    for policy in config.current().policies:
        if policy.kinds and conversation.kind not in policy.kinds:
            continue
        if policy.priorities and conversation.priority not in policy.priorities:
            continue
        if policy.channels and conversation.channel not in policy.channels:
            continue
        if policy.segments and not any(
            conversation.country in segment_countries(name) for name in policy.segments
        ):
            continue
        return policy
    return None


def calendar_for(conversation: Conversation, policy: SlaPolicy) -> BusinessCalendar:
    """The team's business hours, else the default ones (none: every hour counts)."""
    if not policy.business_hours:
        return _ALWAYS
    return config.current().calendar(conversation.team_id) or _ALWAYS


def _pending_stretches(
    conversation: Conversation, until: datetime
) -> list[tuple[datetime, datetime]]:
    """When the conversation waited on the merchant, from its status log."""
    return _pending_in(
        StatusChange.objects.filter(conversation=conversation)
        .order_by("at", "seq")
        .values_list("status", "at"),
        until,
    )


def _pending_in(
    log: Iterable[tuple[str, datetime]], until: datetime
) -> list[tuple[datetime, datetime]]:
    """The pending stretches of a status log (status, at), in order."""
    stretches = []
    started: datetime | None = None
    for status, at in log:
        if status == Status.PENDING and started is None:
            started = at
        elif status != Status.PENDING and started is not None:
            stretches.append((started, at))
            started = None
    if started is not None:
        stretches.append((started, until))
    return stretches


def _awaiting_next_response(conversation: Conversation) -> datetime | None:
    """The merchant's first public message after support's latest public reply, if support
    has answered before and not since."""
    return _awaiting_next_response_many([conversation.pk]).get(conversation.pk)


@dataclass(frozen=True)
class DueTimes:
    policy: SlaPolicy | None
    first_response: datetime | None = None
    next_response: datetime | None = None
    resolution: datetime | None = None

    @property
    def earliest(self) -> datetime | None:
        dues = [d for d in (self.first_response, self.next_response, self.resolution) if d]
        return min(dues, default=None)


def due_times(conversation: Conversation, now: datetime | None = None) -> DueTimes:
    """When each target of the conversation falls due (None: met, paused or no target)."""
    return _due_times(
        conversation,
        now or timezone.now(),
        waiting_since=lambda: _awaiting_next_response(conversation),
        pending=lambda until: _pending_stretches(conversation, until),
    )


def _due_times(
    conversation: Conversation,
    now: datetime,
    *,
    waiting_since: Callable[[], datetime | None],
    pending: Callable[[datetime], list[tuple[datetime, datetime]]],
) -> DueTimes:
    """``due_times`` with the stored facts it reads given as functions: asked only when a
    target needs them (the merchant's message awaiting an answer, the pending stretches)."""
    policy = policy_for(conversation)
    if policy is None:
        return DueTimes(None)
    calendar = calendar_for(conversation, policy)
    resolved = conversation.status in RESOLVED_STATUSES
    first = nxt = resolution = None
    if policy.first_response_minutes is not None and conversation.first_response_at is None:
        first = calendar.add(conversation.created_at, policy.first_response_minutes * 60)
    waiting = not resolved and conversation.status != Status.PENDING
    if policy.next_response_minutes is not None and waiting:
        since = waiting_since()
        if since is not None:
            nxt = calendar.add(since, policy.next_response_minutes * 60)
    if (
        policy.resolution_minutes is not None
        and not resolved
        and conversation.status != Status.PENDING
    ):
        paused = sum(calendar.between(start, end) for start, end in pending(now))
        resolution = calendar.add(conversation.created_at, policy.resolution_minutes * 60 + paused)
    return DueTimes(policy, first, nxt, resolution)


def _breached_metrics(conversation: Conversation) -> set[tuple[str, datetime]]:
    return set(SlaBreach.objects.filter(conversation=conversation).values_list("metric", "due_at"))


def sla_refresh(*, conversation: Conversation, now: datetime | None = None) -> DueTimes:
    """Recompute and store the conversation's due times. Call inside the change's transaction."""
    times = due_times(conversation, now)
    if times.policy is None and conversation.sla_policy_id is None and not conversation.sla_due_at:
        return times  # no targets before, none now: nothing to write
    breached = _breached_metrics(conversation) if times.earliest else set()
    fields = _sla_fields(times, breached)
    Conversation.objects.filter(pk=conversation.pk).update(**fields)
    for name, value in fields.items():
        setattr(conversation, name, value)
    return times


def _sla_fields(times: DueTimes, breached: set[tuple[str, datetime]]) -> dict[str, Any]:
    """The conversation's stored due times for ``times``; the next check skips what is
    recorded breached already."""
    unbreached = [
        due
        for metric, due in (
            (SlaMetric.FIRST_RESPONSE, times.first_response),
            (SlaMetric.NEXT_RESPONSE, times.next_response),
            (SlaMetric.RESOLUTION, times.resolution),
        )
        if due is not None and (metric.value, due) not in breached
    ]
    return {
        "sla_policy": times.policy,
        "first_response_due_at": times.first_response,
        "next_response_due_at": times.next_response,
        "resolution_due_at": times.resolution,
        "sla_due_at": times.earliest,
        "sla_check_at": min(unbreached, default=None),
    }


# --- Breaches -------------------------------------------------------------------------------


def _notify_addresses(conversation: Conversation) -> list[str]:
    if conversation.assignee_id is not None and conversation.assignee is not None:
        return [conversation.assignee.email]
    return list(leads_for(team_id=conversation.team_id).values_list("email", flat=True))


def breach_check(conversation_id: int, now: datetime | None = None) -> int:
    """Record every target of the conversation that fell due unmet, once, and tell the
    assignee (or the team's leads). Returns the number of new breaches."""
    now = now or timezone.now()
    with transaction.atomic():
        row = (
            Conversation.objects.select_for_update(of=("self",))
            .select_related("assignee", "merchant", "sla_policy")
            .filter(pk=conversation_id, sla_check_at__lte=now)
            .first()
        )
        if row is None:
            return 0
        times = sla_refresh(conversation=row, now=now)
        recorded = 0
        for metric, due in (
            (SlaMetric.FIRST_RESPONSE, times.first_response),
            (SlaMetric.NEXT_RESPONSE, times.next_response),
            (SlaMetric.RESOLUTION, times.resolution),
        ):
            if due is None or due > now:
                continue
            _, created = SlaBreach.objects.get_or_create(
                conversation=row,
                metric=metric,
                due_at=due,
                defaults={"policy": times.policy, "breached_at": now},
            )
            if not created:
                continue
            recorded += 1
            Activity.objects.create(
                conversation=row,
                verb=ActivityVerb.SLA_BREACHED,
                automatic=True,
                detail={"metric": metric.value, "due": due.isoformat(), "rule": "SLA"},
            )
            webhooks.emit("sla.breached", row, {"metric": metric.value, "due_at": due.isoformat()})
            email_enqueue(
                key=f"breach:{row.pk}:{metric.value}:{due.isoformat()}",
                to=_notify_addresses(row),
                subject=f"SLA missed ({metric.label.lower()}): {row.subject}"[:200],
                body=(
                    f"The {metric.label.lower()} target of “{row.subject}” from "
                    f"{row.merchant} was due at {due:%Y-%m-%d %H:%M} UTC"
                    f" ({times.policy.name if times.policy else 'no policy'}).\n"
                    f"{settings.SELLERDESK_BASE_URL}/desk/c/{row.pk}/\n"
                ),
            )
        sla_refresh(conversation=row, now=now)  # moves sla_check_at past what is recorded
    return recorded


def breach_sweep(*, limit: int = 10_000, now: datetime | None = None) -> int:
    """Find conversations with a target due unrecorded (one indexed range scan)."""
    now = now or timezone.now()
    ids = list(
        Conversation.objects.filter(sla_check_at__lte=now)
        .order_by("sla_check_at")
        .values_list("pk", flat=True)[:limit]
    )
    return sum(breach_check(pk, now) for pk in ids)


def due_soon_window() -> timedelta:
    return Conversation.DUE_SOON


def sla_refresh_many(rows: Sequence[Conversation], now: datetime | None = None) -> None:
    """``sla_refresh`` for each row, after a batch change (``conversations.bulk``): the same
    due times, read and written for the whole batch in a few statements (the merchant's
    messages awaiting an answer, the status logs, the recorded breaches, one UPDATE) instead
    of up to five a conversation. Without an active policy it writes only where targets were
    stored before. Call inside the change's transaction, rows locked."""
    from sellerdesk.conversations import bulk

    with config.reuse():  # each row's policy and calendar: the configuration read once
        _refresh_many(rows, now or timezone.now(), bulk.update_rows)


def _refresh_many(
    rows: Sequence[Conversation],
    now: datetime,
    update_rows: Callable[[Sequence[Conversation], list[str]], None],
) -> None:
    if not config.current().policies:
        rows = [row for row in rows if row.sla_policy_id is not None or row.sla_due_at]
    if not rows:
        return
    policies = {row.pk: policy_for(row) for row in rows}
    rows = [
        row
        for row in rows
        if policies[row.pk] is not None or row.sla_policy_id is not None or row.sla_due_at
    ]
    if not rows:
        return
    ids = [row.pk for row in rows if policies[row.pk] is not None]
    awaiting = _awaiting_next_response_many(ids)
    logs: dict[int, list[tuple[str, datetime]]] = defaultdict(list)
    for pk, status, at in (
        StatusChange.objects.filter(conversation_id__in=ids)
        .order_by("at", "seq")
        .values_list("conversation_id", "status", "at")
    ):
        logs[pk].append((status, at))
    times = {
        row.pk: _due_times(
            row,
            now,
            waiting_since=partial(awaiting.get, row.pk),
            pending=partial(_pending_in, logs[row.pk]),
        )
        for row in rows
    }
    breached: dict[int, set[tuple[str, datetime]]] = defaultdict(set)
    with_dues = [pk for pk, due in times.items() if due.earliest]
    for pk, metric, due_at in SlaBreach.objects.filter(conversation_id__in=with_dues).values_list(
        "conversation_id", "metric", "due_at"
    ):
        breached[pk].add((metric, due_at))
    for row in rows:
        fields = _sla_fields(times[row.pk], breached[row.pk] if row.pk in with_dues else set())
        for name, value in fields.items():
            setattr(row, name, value)
    update_rows(
        rows,
        [
            "sla_policy", "first_response_due_at", "next_response_due_at", "resolution_due_at",
            "sla_due_at", "sla_check_at",
        ],
    )  # fmt: skip


def _awaiting_next_response_many(ids: Sequence[int]) -> dict[int, datetime]:
    """``_awaiting_next_response`` for many conversations, by id: one statement (none of a
    conversation support has not answered, or that has nothing to answer since)."""
    if not ids:
        return {}
    last_reply = (
        Message.objects.filter(
            conversation_id=OuterRef("conversation_id"),
            public=True,
            author_type=AuthorType.AGENT,
        )
        .order_by("-created_at")
        .values("created_at")[:1]
    )
    return dict(
        Message.objects.filter(
            conversation_id__in=ids,
            public=True,
            author_type=AuthorType.MERCHANT,
            created_at__gt=Subquery(last_reply),
        )
        .values("conversation_id")
        .annotate(first=Min("created_at"))
        .values_list("conversation_id", "first")
    )
