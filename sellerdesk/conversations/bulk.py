"""Set-based twins of the single-conversation services, for the worker's sweeps and the chat.

The 7-day rule's timers act on thousands of conversations at a time; a loop over
``services.message_add`` and ``workflow.conversation_change_status`` costs some thirty
statements a conversation. These functions write, for a whole batch in a few statements, the
very rows that loop writes for each conversation: the system message, the status change and
the recomputed resolution facts (``ResolutionStretch``), the audit trail (``Activity``), the
cleared timers, the webhooks and the service-level due times. ``tests/test_timer_batch.py``
runs both paths on twin conversations and compares every row.

``close_with_note`` and ``reminders_clear``: call inside one transaction, with the rows locked
and re-checked by the caller. ``replies_post`` (the live chat's group commit) is its own
transaction: it locks and reads the batch's conversations itself;
``tests/test_chat_batch.py`` compares it with ``workflow.reply_post`` the same way.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from django.db import transaction
from django.db.models import Field, Q, prefetch_related_objects
from django.http import Http404
from django.utils import timezone, translation
from django.utils.translation import gettext

from sellerdesk.accounts.models import User
from sellerdesk.api import webhooks
from sellerdesk.api.models import WebhookSubscription
from sellerdesk.conversations import events, facts, selectors, services
from sellerdesk.conversations.models import (
    RESOLVED_STATUSES,
    Activity,
    ActivityVerb,
    AuthorType,
    Channel,
    Conversation,
    Message,
    ResolutionStretch,
    Status,
    StatusChange,
)
from sellerdesk.core.errors import ValidationError
from sellerdesk.outbox.models import OutboxItem, OutboxKind
from sellerdesk.sla import config

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


def update_rows(rows: Sequence[Conversation], fields: list[str]) -> None:
    """Write ``fields`` of each row. On PostgreSQL one ``UPDATE ... FROM unnest(...)`` with an
    array a column, whatever the number of rows: its text is the same for every batch (a
    statement a row cost a round trip each, `make bench-chat` measured 0.7 ms a row under
    load; one ``VALUES`` list of a row's parameters each cost psycopg more to turn into a
    statement, parameter by parameter, than the database took to run it). Elsewhere one
    parameterized UPDATE run for every row (SQLite runs them in-process). ``bulk_update``'s
    CASE per field per row costs more to build than the rows cost to write."""
    if not rows:
        return
    connection = transaction.get_connection()
    quote = connection.ops.quote_name
    meta = Conversation._meta
    assert meta.pk is not None
    columns = [cast(Field, meta.get_field(name)) for name in fields]
    table, key = quote(meta.db_table), quote(meta.pk.column)
    values = [
        [row.pk] + [c.get_db_prep_save(getattr(row, c.attname), connection) for c in columns]
        for row in rows
    ]
    if connection.vendor == "postgresql":
        names = ", ".join(quote(c.column) for c in [meta.pk, *columns])
        arrays = ", ".join(f"%s::{c.db_type(connection)}[]" for c in [meta.pk, *columns])
        assignments = ", ".join(f"{quote(c.column)} = v.{quote(c.column)}" for c in columns)
        sql = (
            f"UPDATE {table} SET {assignments} FROM unnest({arrays}) "  # noqa: S608 - names from the model
            f"AS v({names}) WHERE {table}.{key} = v.{key}"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [list(column) for column in zip(*values, strict=True)])
        return
    assignments = ", ".join(f"{quote(c.column)} = %s" for c in columns)
    sql = f"UPDATE {table} SET {assignments} WHERE {key} = %s"  # noqa: S608 - names from the model
    with connection.cursor() as cursor:
        cursor.executemany(sql, [row[1:] + row[:1] for row in values])


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
        stretches += services.stretch_rows(row, spans)
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
    update_rows(
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


# --- The live chat's group commit -------------------------------------------------------------


@dataclass(slots=True)
class ChatReply:
    """One message for ``replies_post``: what ``workflow.reply_post(conversation=...,
    author=author, body=body, public=public, client_id=client_id)`` takes, with the
    conversation by id, checked against what ``author`` may see as
    ``selectors.conversation_get`` checks it. ``language``: the one its refusal reads in."""

    conversation_id: int
    author: User
    body: str
    public: bool = True
    client_id: str = ""
    language: str | None = None


@dataclass(slots=True)
class _Hook:
    """A webhook event's body (``webhooks.emit``'s), to which a message's data is added
    once the message has its id."""

    event: str
    body: dict[str, Any]
    subscriptions: list[int]
    message: Message | None = None


@dataclass(slots=True)
class _Batch:
    """What ``replies_post`` writes, gathered in the order the single path writes it."""

    messages: list[Message] = field(default_factory=list)
    changes: list[StatusChange] = field(default_factory=list)
    trail: list[Activity] = field(default_factory=list)
    hooks: list[_Hook] = field(default_factory=list)
    #: (the conversation, a message (its event is made once it has an id) or an event)
    published: list[tuple[Conversation, Message | dict[str, Any]]] = field(default_factory=list)
    mailed: list[Message] = field(default_factory=list)
    touched: dict[int, Conversation] = field(default_factory=dict)
    #: The status log of each conversation whose status changes: as stored, plus the new.
    logs: dict[int, list[facts.StatusFact]] = field(default_factory=dict)
    #: Conversation → client id → the message holding it (stored, or added by this batch).
    client_ids: dict[int, dict[str, Message]] = field(default_factory=dict)
    #: Conversation → message numbers known taken (imported ids), and the highest number
    #: up to which the up-front read checked.
    numbers_taken: dict[int, set[str]] = field(default_factory=dict)
    numbers_checked: dict[int, int] = field(default_factory=dict)
    #: The active webhook subscriptions, read once when needed.
    subscriptions: tuple[config.Subscription, ...] | None = None


def replies_post(replies: Sequence[ChatReply]) -> list[Message | Exception]:
    """Store many chat messages in one transaction: for each, what ``workflow.reply_post``
    (after ``selectors.conversation_get``) stores, returns or refuses, in the order given, as
    if each were posted after the one before it.

    Returns, for each reply in order, its ``Message`` (the stored one for a client id its
    conversation already holds, also from earlier in the same batch) or the exception the
    single path raises (``Http404`` for a conversation the author may not see,
    ``ValidationError`` or ``workflow.PermissionDenied``): a refused reply does not stop the
    others. An exception raised out of here (the database's) means nothing was stored.

    Each stored message writes what the single path writes: the message and the
    conversation's facts (number, last change, first response); a merchant's answer reopens
    (status change, resolution facts, trail, the 7-day clock stopped) as support's first
    public reply moves ``new`` to ``open``; the webhooks (outbox rows), an e-mail
    conversation's mail, the service-level due times, and its events once committed. For the
    whole batch: one locked read of its conversations, one read of the client ids and
    message numbers they hold, one INSERT of the messages, one UPDATE run, at most one
    webhook-subscription look-up and one service-level policy look-up. Conversations are
    locked in id order, so batches running at once never deadlock each other.

    Not for changes made on behalf of a rule (``workflow.acting_for_rule``).
    """
    if not replies:
        return []
    outcomes: list[Message | Exception] = []
    batch = _Batch()
    # config.reuse(): the webhook subscriptions and the SLA policies, read once for the batch.
    with transaction.atomic(), config.reuse():
        rows = {
            row.pk: row
            for row in Conversation.objects.select_for_update(of=("self",))
            .filter(pk__in={reply.conversation_id for reply in replies})
            .order_by("pk")
        }
        # The merchants, for the webhooks' bodies and an e-mail conversation's mail only: read
        # with the rows, they cost every batch a join and an object a row.
        if config.current().subscriptions or any(
            row.channel == Channel.EMAIL for row in rows.values()
        ):
            prefetch_related_objects(list(rows.values()), "merchant")
        _load_held(batch, rows, replies)
        for reply in replies:
            row = rows.get(reply.conversation_id)
            if row is None or not selectors.conversation_visible_to(reply.author, row):
                outcomes.append(Http404("no such conversation"))
                continue
            try:
                with _language(reply.language):
                    outcomes.append(_reply_add(batch, row, reply))
            except ValidationError as problem:
                outcomes.append(problem)
        if batch.messages:
            _write(batch)
    return outcomes


@contextmanager
def _language(code: str | None) -> Iterator[None]:
    if code is None:
        yield
        return
    with translation.override(code):
        yield


def _load_held(batch: _Batch, rows: dict[int, Conversation], replies: Sequence[ChatReply]) -> None:
    """The client ids the batch's conversations already hold, and which of the message numbers
    the batch may give out are taken (imported ids): one query."""
    wanted: dict[int, int] = defaultdict(int)
    for reply in replies:
        if reply.conversation_id in rows:
            wanted[reply.conversation_id] += 1
    if not wanted:
        return
    numbers: set[str] = set()
    for pk, count in wanted.items():
        seq = rows[pk].message_seq
        numbers.update(str(seq + step) for step in range(1, count + 1))
        batch.numbers_checked[pk] = seq + count
        batch.numbers_taken[pk] = set()
        batch.client_ids[pk] = {}
    client_ids = {reply.client_id for reply in replies if reply.client_id}
    held = Q(external_id__in=numbers)
    if client_ids:
        held |= Q(client_id__in=client_ids)
    resent: list[int] = []
    for pk, conversation_id, external_id, client_id in Message.objects.filter(
        held, conversation_id__in=list(wanted)
    ).values_list("pk", "conversation_id", "external_id", "client_id"):
        batch.numbers_taken[conversation_id].add(external_id)
        if client_id in client_ids:
            resent.append(pk)
    if resent:
        # A client sending again: rare, so those messages are read whole only then.
        for message in Message.objects.filter(pk__in=resent):
            batch.client_ids[message.conversation_id][message.client_id] = message


def _reply_add(batch: _Batch, row: Conversation, reply: ChatReply) -> Message:
    """One reply on the locked ``row``: the checks of ``workflow.reply_post`` and
    ``services.message_add`` in their order, then its rows and facts (``_write`` writes them)."""
    from sellerdesk.conversations import services, workflow

    author = reply.author
    body = reply.body.strip()
    if not body:
        raise ValidationError(gettext("write a message"))
    if author.is_merchant_user:
        if author.merchant_id != row.merchant_id:
            raise workflow.PermissionDenied("not this merchant's conversation")
        if not reply.public:
            raise workflow.PermissionDenied("merchants write public replies only")
        workflow._check_merchant_text(body)
        author_type = AuthorType.MERCHANT
    else:
        workflow._require_staff(author)
        author_type = AuthorType.AGENT
    services._check_text(
        body=body,
        author_id=author.email,
        author_name=author.get_full_name(),
        client_id=reply.client_id,
    )
    held = batch.client_ids[row.pk]
    if reply.client_id and reply.client_id in held:
        return held[reply.client_id]  # sent again: the stored message, nothing written
    moment = timezone.now()
    if moment < row.created_at:
        raise ValidationError("a message cannot be dated before its conversation")
    if author_type == AuthorType.MERCHANT:
        reopens = row.status in {Status.PENDING, *RESOLVED_STATUSES}
    else:
        reopens = reply.public and row.status == Status.NEW
    if reopens:
        # The status change is signed with the author's address; refused there, the single
        # path rolls the whole reply back.
        services._check_text(by=author.email)
    row.message_seq = _next_number(batch, row)
    message = Message(
        conversation=row,
        external_id=str(row.message_seq),
        author_type=author_type,
        author_id=author.email,
        author_name=author.get_full_name(),
        public=reply.public,
        body=body,
        created_at=moment,
        author_user=author,
        client_id=reply.client_id,
    )
    batch.messages.append(message)
    batch.published.append((row, message))
    batch.touched[row.pk] = row
    if reply.client_id:
        held[reply.client_id] = message
    responds = reply.public and author_type == AuthorType.AGENT
    if responds and (row.first_response_at is None or moment < row.first_response_at):
        row.first_response_at = moment
        row.first_response_seconds = facts.seconds_between(row.created_at, moment)
    if reply.public:
        # As the caller read the conversation: last changed before this message.
        _hook(batch, row, "message.created", {}, message)
    row.updated_at = moment
    if reply.public and author_type == AuthorType.AGENT and row.channel == Channel.EMAIL:
        batch.mailed.append(message)
    if reopens:
        _reopen(batch, row, author)
    elif author_type == AuthorType.MERCHANT and row.merchant_due_at is not None:
        _clock_stop(batch, row, author)
    return message


def _next_number(batch: _Batch, row: Conversation) -> int:
    """The next message number not held already (``services.message_add`` skips imported
    ids alike). Past what the up-front read checked, a number is probed on its own."""
    taken = batch.numbers_taken[row.pk]
    number = row.message_seq + 1
    while str(number) in taken or (
        number > batch.numbers_checked[row.pk]
        and Message.objects.filter(conversation_id=row.pk, external_id=str(number)).exists()
    ):
        taken.add(str(number))
        number += 1
    taken.add(str(number))
    return number


def _hook(
    batch: _Batch, row: Conversation, event: str, data: dict[str, Any], message: Message | None
) -> None:
    """``webhooks.emit(event, row, data)``: the body as of now, queued by ``_write``."""
    if batch.subscriptions is None:
        batch.subscriptions = config.current().subscriptions
    wanted = [
        hook.pk
        for hook in batch.subscriptions
        if event in hook.events and hook.merchant_id in (None, row.merchant_id)
    ]
    if not wanted:
        return
    body = {
        "id": str(uuid.uuid4()),
        "type": event,
        "created_at": timezone.now().isoformat(),
        "data": {"conversation": webhooks.conversation_data(row), **data},
    }
    batch.hooks.append(_Hook(event, body, wanted, message))


def _reopen(batch: _Batch, row: Conversation, actor: User) -> None:
    """``workflow._status_set(row, open, actor)``: the status change, the resolution facts
    recomputed from the whole log, the trail, the webhook, the 7-day clock stopped."""
    before = row.status
    log = batch.logs.get(row.pk)
    if log is None:
        log = batch.logs[row.pk] = [
            facts.StatusFact(status, at, seq)
            for status, at, seq in StatusChange.objects.filter(conversation_id=row.pk)
            .order_by("at", "seq")
            .values_list("status", "at", "seq")
        ]
    moment = timezone.now()
    row.status_seq += 1
    log.append(facts.StatusFact(Status.OPEN.value, moment, row.status_seq))
    batch.changes.append(
        StatusChange(
            conversation=row, status=Status.OPEN, at=moment, seq=row.status_seq, by=actor.email
        )
    )
    status, spans = facts.resolution_stretches(log)
    open_ended = spans[-1] if spans and spans[-1].ended_at is None else None
    row.status = status
    row.status_changed_at = max(change.at for change in log)
    row.resolved_at = open_ended.started_at if open_ended else None
    row.resolution_seconds = facts.seconds_between(row.created_at, row.resolved_at)
    batch.published.append((row, events.conversation_payload(row, "status")))
    _trail(batch, row, actor, ActivityVerb.STATUS, before=before, after=Status.OPEN.value)
    _hook(
        batch,
        row,
        "conversation.status_changed",
        {"status": {"from": before, "to": Status.OPEN.value}},
        None,
    )
    if row.merchant_due_at is not None:
        _clock_stop(batch, row, actor)


def _clock_stop(batch: _Batch, row: Conversation, actor: User) -> None:
    """``workflow._set_deadline(row, None, actor)`` on a running clock."""
    before = row.merchant_due_at
    row.merchant_due_at = None
    row.merchant_remind_at = None
    _trail(batch, row, actor, ActivityVerb.DEADLINE, before=_iso(before), after=None)


def _trail(batch: _Batch, row: Conversation, actor: User, verb: str, **detail: Any) -> None:
    moment = timezone.now()
    batch.trail.append(
        Activity(
            conversation=row, actor=actor, verb=verb, automatic=False, detail=detail, at=moment
        )
    )
    row.updated_at = moment


def _write(batch: _Batch) -> None:
    """The batch's rows, facts, webhooks, mail and due times; its events once committed."""
    from sellerdesk.connectors.email.outbound import reply_queued
    from sellerdesk.sla import services as sla

    Message.objects.bulk_create(batch.messages, batch_size=CHUNK)
    if batch.changes:
        StatusChange.objects.bulk_create(batch.changes, batch_size=CHUNK)
        ResolutionStretch.objects.filter(conversation_id__in=list(batch.logs)).delete()
        stretches = []
        for pk, log in batch.logs.items():
            row = batch.touched[pk]
            stretches += services.stretch_rows(row, facts.resolution_stretches(log)[1])
        ResolutionStretch.objects.bulk_create(stretches, batch_size=CHUNK)
    if batch.trail:
        Activity.objects.bulk_create(batch.trail, batch_size=CHUNK)
    rows = list(batch.touched.values())
    update_rows(
        rows,
        [
            "message_seq", "updated_at", "first_response_at", "first_response_seconds",
            "status", "status_changed_at", "resolved_at", "resolution_seconds", "status_seq",
            "merchant_due_at", "merchant_remind_at",
        ],
    )  # fmt: skip
    if batch.hooks:
        items = []
        for hook in batch.hooks:
            if hook.message is not None:
                hook.body["data"].update(webhooks.message_data(hook.message))
            items += [
                OutboxItem(
                    kind=OutboxKind.WEBHOOK,
                    key=f"webhook:{pk}:{hook.event}:{hook.body['id']}",
                    payload={"subscription": pk, "body": hook.body},
                )
                for pk in hook.subscriptions
            ]
        # As ``outbox_add(fresh_key=True)``: a twin under the same key is dropped.
        OutboxItem.objects.bulk_create(items, ignore_conflicts=True, batch_size=CHUNK)
    for message in batch.mailed:
        reply_queued(message=message)
    sla.sla_refresh_many(rows)
    events.publish_many(
        [
            (row, events.message_payload(item), "everyone" if item.public else "staff")
            if isinstance(item, Message)
            else (row, item, "everyone")
            for row, item in batch.published
        ]
    )
