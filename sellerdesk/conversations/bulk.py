"""Set-based twins of the single-conversation services, for the worker's sweeps.

The 7-day rule's timers act on thousands of conversations at a time; a loop over
``services.message_add`` and ``workflow.conversation_change_status`` costs some thirty
statements a conversation. These functions write, for a whole batch in a few statements, the
very rows that loop writes for each conversation: the system message, the status change and
the recomputed resolution facts (``ResolutionStretch``), the audit trail (``Activity``), the
cleared timers, the webhooks and the service-level due times. ``tests/test_timer_batch.py``
runs both paths on twin conversations and compares every row.

Call inside one transaction, with the rows locked and re-checked by the caller.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import cast

from django.db import transaction
from django.db.models import Field

from sellerdesk.api import webhooks
from sellerdesk.api.models import WebhookSubscription
from sellerdesk.conversations import events, facts
from sellerdesk.conversations.models import (
    Activity,
    ActivityVerb,
    AuthorType,
    Conversation,
    Message,
    ResolutionStretch,
    Status,
    StatusChange,
)

#: Rows per statement: SQLite allows 32,766 parameters, and a CASE per field per row.
CHUNK = 500


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _next_external_ids(rows: Sequence[Conversation]) -> dict[int, int]:
    """Each row's next message number, skipping numbers an imported message already holds
    (as ``services.message_add`` does): one query for the batch, then a probe per clash."""
    wanted = {row.pk: row.message_seq + 1 for row in rows}
    taken = set(
        Message.objects.filter(
            conversation_id__in=list(wanted), external_id__in={str(n) for n in wanted.values()}
        ).values_list("conversation_id", "external_id")
    )
    for pk, seq in wanted.items():
        if (pk, str(seq)) not in taken:
            continue
        while Message.objects.filter(conversation_id=pk, external_id=str(seq)).exists():
            seq += 1
        wanted[pk] = seq
    return wanted


def _update_rows(rows: Sequence[Conversation], fields: list[str]) -> None:
    """Write ``fields`` of each row: one parameterized UPDATE run for every row (psycopg
    pipelines them; SQLite runs them in-process). ``bulk_update``'s CASE per field per row
    costs more to build than the rows cost to write."""
    connection = transaction.get_connection()
    quote = connection.ops.quote_name
    meta = Conversation._meta
    columns = [cast(Field, meta.get_field(name)) for name in fields]
    assignments = ", ".join(f"{quote(c.column)} = %s" for c in columns)
    assert meta.pk is not None
    table, key = quote(meta.db_table), quote(meta.pk.column)
    sql = f"UPDATE {table} SET {assignments} WHERE {key} = %s"  # noqa: S608 - names from the model
    values = [
        [c.get_db_prep_save(getattr(row, c.attname), connection) for c in columns] + [row.pk]
        for row in rows
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, values)


def _webhook_merchants(event: str) -> set[int] | None:
    """The merchants whose changes ``event`` goes to (None: every merchant's)."""
    merchants: set[int] = set()
    for merchant_id, subscribed in WebhookSubscription.objects.filter(active=True).values_list(
        "merchant_id", "events"
    ):
        if event in subscribed:
            if merchant_id is None:
                return None
            merchants.add(merchant_id)
    return merchants


def _refresh_resolutions(rows: Sequence[Conversation]) -> None:
    """``services._refresh_resolution`` for every row: status, resolved_at and the resolution
    stretches from each row's whole status log (one read, one delete, one insert)."""
    logs: dict[int, list[facts.StatusFact]] = defaultdict(list)
    for pk, status, at, seq in (
        StatusChange.objects.filter(conversation_id__in=[row.pk for row in rows])
        .order_by("at", "seq")
        .values_list("conversation_id", "status", "at", "seq")
    ):
        logs[pk].append(facts.StatusFact(status, at, seq))
    stretches: list[ResolutionStretch] = []
    for row in rows:
        changes = logs[row.pk]
        status, spans = facts.resolution_stretches(changes)
        open_ended = spans[-1] if spans and spans[-1].ended_at is None else None
        row.status = status
        row.status_changed_at = max((c.at for c in changes), default=None)
        row.resolved_at = open_ended.started_at if open_ended else None
        row.resolution_seconds = facts.seconds_between(row.created_at, row.resolved_at)
        stretches += [
            ResolutionStretch(
                conversation=row,
                started_at=s.started_at,
                ended_at=s.ended_at,
                started_seconds=(s.started_at - row.created_at).total_seconds(),
            )
            for s in spans
        ]
    ResolutionStretch.objects.filter(conversation_id__in=[row.pk for row in rows]).delete()
    ResolutionStretch.objects.bulk_create(stretches, batch_size=CHUNK)


def close_with_note(
    rows: Sequence[Conversation], *, note: Callable[[Conversation], str], rule: str, now: datetime
) -> None:
    """Close each pending row on behalf of ``rule`` after a system message ``note(row)``.

    Row for row the same as ``services.message_add(author_type=system, body=note(row),
    author_name="sellerdesk")`` then ``workflow.conversation_change_status(status=closed,
    actor=None, automatic=True, rule=rule)`` at ``now``. Preconditions: inside a transaction,
    every row locked, pending, with its merchant clock running, created at or before ``now``
    and loaded with its merchant.
    """
    if not rows:
        return
    from sellerdesk.sla import services as sla

    numbers = _next_external_ids(rows)
    messages = []
    changes = []
    for row in rows:
        row.message_seq = numbers[row.pk]
        row.status_seq += 1
        messages.append(
            Message(
                conversation=row,
                external_id=str(row.message_seq),
                author_type=AuthorType.SYSTEM,
                author_name="sellerdesk",
                public=True,
                body=note(row),
                created_at=now,
            )
        )
        changes.append(
            StatusChange(
                conversation=row,
                status=Status.CLOSED,
                at=now,
                seq=row.status_seq,
                by=f"rule:{rule}"[:200],
            )
        )
    Message.objects.bulk_create(messages, batch_size=CHUNK)
    StatusChange.objects.bulk_create(changes, batch_size=CHUNK)
    before = {row.pk: row.status for row in rows}
    _refresh_resolutions(rows)
    trail = []
    for row in rows:
        trail.append(
            Activity(
                conversation=row,
                at=now,
                verb=ActivityVerb.STATUS,
                automatic=True,
                detail={"before": before[row.pk], "after": row.status, "rule": rule},
            )
        )
        trail.append(
            Activity(
                conversation=row,
                at=now,
                verb=ActivityVerb.DEADLINE,
                automatic=True,
                detail={"before": _iso(row.merchant_due_at), "after": None},
            )
        )
        row.updated_at = now
    Activity.objects.bulk_create(trail, batch_size=CHUNK)
    # The open pages hear what the single path tells them: the note, then the status.
    for row, message in zip(rows, messages, strict=True):
        events.publish_message(message=message, conversation=row)
        events.publish_conversation(conversation=row, change="status", audience="everyone")
    # The webhook is emitted with the status changed and the deadline not yet stopped, as
    # in the single path; one query finds whether anybody listens at all.
    listeners = _webhook_merchants("conversation.status_changed")
    for row in rows:
        if listeners is None or row.merchant_id in listeners:
            webhooks.emit(
                "conversation.status_changed",
                row,
                {"status": {"from": before[row.pk], "to": row.status}},
            )
        row.merchant_due_at = None
        row.merchant_remind_at = None
    _update_rows(
        rows,
        [
            "status", "status_changed_at", "resolved_at", "resolution_seconds", "status_seq",
            "message_seq", "merchant_due_at", "merchant_remind_at", "updated_at",
        ],
    )  # fmt: skip
    sla.sla_refresh_many(rows)


def reminders_clear(
    rows: Sequence[Conversation], *, rule: str, now: datetime, sent: Callable[[Conversation], bool]
) -> None:
    """Stop each row's reminder timer; for those ``sent(row)`` says went out, the trail row
    ``timers.remind`` writes (the caller queues the e-mails). Inside a transaction, rows
    locked."""
    if not rows:
        return
    Conversation.objects.filter(pk__in=[row.pk for row in rows]).update(merchant_remind_at=None)
    trail = []
    touched = []
    for row in rows:
        row.merchant_remind_at = None
        if sent(row):
            trail.append(
                Activity(
                    conversation=row,
                    at=now,
                    verb=ActivityVerb.DEADLINE,
                    automatic=True,
                    detail={"rule": rule, "reminder": True},
                )
            )
            row.updated_at = now
            touched.append(row.pk)
    Activity.objects.bulk_create(trail, batch_size=CHUNK)
    if touched:
        Conversation.objects.filter(pk__in=touched).update(updated_at=now)
