"""Every state change of a conversation. The only writers of the domain's rows.

Each service takes keyword-only, typed arguments, runs in one transaction with the
conversation row locked, and keeps the stored facts (first response, resolution stretches,
tag pairs) right whatever order events arrive in.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from itertools import combinations
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from sellerdesk.accounts.models import STAFF_ROLES, Merchant, MerchantStatus, User
from sellerdesk.conversations import events, facts
from sellerdesk.conversations.interchange import column_length, parse_country
from sellerdesk.conversations.models import (
    AuthorType,
    Channel,
    Conversation,
    ConversationTag,
    ConversationTagPair,
    InitiatedBy,
    Kind,
    Message,
    Outcome,
    ResolutionStretch,
    Status,
    StatusChange,
    Tag,
)
from sellerdesk.core import rows
from sellerdesk.core.errors import ValidationError
from sellerdesk.core.text import display_tag, normalize_tag, text_problem

#: The longest value each text argument's column holds; SQLite would store more, PostgreSQL
#: refuses it: the services refuse it first, the same on both.
_MAX_LENGTHS = {
    "external_id": column_length(Conversation, "external_id"),
    "name": column_length(Merchant, "name"),
    "language": column_length(Merchant, "language"),
    "author_id": column_length(Message, "author_id"),
    "author_name": column_length(Message, "author_name"),
    "by": column_length(StatusChange, "by"),
    "client_id": column_length(Message, "client_id"),
    "tag": column_length(Tag, "display_name"),
}


def _check_text(**fields: str | None) -> None:
    """The interchange format's text rule, so the importer and the services store alike."""
    for name, value in fields.items():
        problem = text_problem(value) if value else None
        if problem:
            raise ValidationError(f"{name} {problem}")
        limit = _MAX_LENGTHS.get(name)
        if value and limit and len(value) > limit:
            raise ValidationError(f"{name} is longer than {limit} characters")


def merchant_upsert(
    *,
    external_id: str,
    country: str,
    name: str = "",
    status: str = MerchantStatus.ACTIVE,
    language: str = "",
) -> Merchant:
    """Create or update a merchant by the marketplace's id."""
    code = parse_country(country)
    _check_text(external_id=external_id, name=name, language=language)
    if status not in MerchantStatus.values:
        raise ValidationError(f"unknown merchant status {status!r}")
    # A live update is the merchant as of now: an import of older filings leaves it alone.
    merchant, _ = Merchant.objects.update_or_create(
        external_id=external_id,
        defaults={
            "country": code, "name": name, "status": status, "language": language,
            "profile_at": timezone.now(),
        },
    )  # fmt: skip
    return merchant


def conversation_open(
    *,
    merchant: Merchant,
    channel: str,
    subject: str = "",
    kind: str = Kind.QUESTION,
    initiated_by: str = InitiatedBy.MERCHANT,
    body: str | None = None,
    author_type: str | None = None,
    author_id: str = "",
    author_name: str = "",
    tags: Iterable[str] = (),
    created_at: datetime | None = None,
    external_id: str | None = None,
    author_user: User | None = None,
    references: dict[str, str] | None = None,
    updated_at: datetime | None = None,
    savepoint: bool = True,
) -> Conversation:
    """Open a conversation, filed by the merchant or written first by support (outreach).

    The merchant's country is copied onto the conversation: reports count it there for good.
    With ``body``, its first message is stored too (``conversation_start`` returns both).
    """
    conversation, _ = conversation_start(
        merchant=merchant, channel=channel, subject=subject, kind=kind,
        initiated_by=initiated_by, body=body, author_type=author_type, author_id=author_id,
        author_name=author_name, tags=tags, created_at=created_at, external_id=external_id,
        author_user=author_user, references=references, updated_at=updated_at,
        savepoint=savepoint,
    )  # fmt: skip
    return conversation


def conversation_start(
    *,
    merchant: Merchant,
    channel: str,
    subject: str = "",
    kind: str = Kind.QUESTION,
    initiated_by: str = InitiatedBy.MERCHANT,
    body: str | None = None,
    author_type: str | None = None,
    author_id: str = "",
    author_name: str = "",
    tags: Iterable[str] = (),
    created_at: datetime | None = None,
    external_id: str | None = None,
    author_user: User | None = None,
    references: dict[str, str] | None = None,
    updated_at: datetime | None = None,
    savepoint: bool = True,
) -> tuple[Conversation, Message | None]:
    """``conversation_open``, returning the first message too (None without ``body``).

    The first message is written as ``message_add`` would write it (number 1, its author,
    the first response when support wrote it), but without locking and re-reading the
    conversation: it was inserted in this same transaction, so nobody else sees it and it has
    no message yet. ``references`` (order, product, invoice) and ``updated_at`` (the last
    change, when the caller's trail row says it) go into the conversation's own INSERT.
    ``savepoint=False``: as ``message_add``'s.
    """
    if channel not in Channel.values:
        raise ValidationError(f"unknown channel {channel!r}")
    if kind not in Kind.values:
        raise ValidationError(f"unknown kind {kind!r}")
    if initiated_by not in InitiatedBy.values:
        raise ValidationError(f"unknown initiator {initiated_by!r}")
    _check_text(subject=subject, external_id=external_id)
    moment = created_at or timezone.now()
    first: dict[str, object] = {}
    if body is not None:
        default_author = (
            AuthorType.MERCHANT if initiated_by == InitiatedBy.MERCHANT else AuthorType.AGENT
        )
        message_author = author_type or default_author
        message_author_id = author_id or (merchant.external_id if not author_type else "")
        if message_author not in AuthorType.values:
            raise ValidationError(f"unknown author type {message_author!r}")
        _check_text(body=body, author_id=message_author_id, author_name=author_name)
        first["message_seq"] = 1
        if message_author == AuthorType.AGENT:  # a public reply by support: the first response
            first["first_response_at"] = moment
            first["first_response_seconds"] = facts.seconds_between(moment, moment)
    message: Message | None = None
    with transaction.atomic(savepoint=savepoint):
        conversation = Conversation(
            external_id=external_id or f"sd-{uuid.uuid4().hex}",
            merchant=merchant,
            country=merchant.country,
            channel=channel,
            kind=kind,
            initiated_by=initiated_by,
            subject=subject,
            created_at=moment,
            updated_at=updated_at,
            **(references or {}),
            **first,
        )
        rows.insert(conversation)  # built once (core.rows), as the statements below
        if merchant.profile_at is None or moment >= merchant.profile_at:
            merchant.profile_at = moment
            rows.update(merchant, ["profile_at"])
        events.publish_conversation(
            conversation=conversation, change="created", audience="everyone"
        )
        if body is not None:
            message = rows.insert(
                Message(
                    conversation=conversation,
                    external_id="1",
                    author_type=message_author,
                    author_id=message_author_id,
                    author_name=author_name,
                    public=True,
                    body=body,
                    created_at=moment,
                    author_user=author_user,
                )
            )
            events.publish_message(message=message, conversation=conversation)
        if tags:
            conversation_set_tags(conversation=conversation, names=tags)
    return conversation, message


def _locked(conversation: Conversation) -> Conversation:
    return Conversation.objects.select_for_update().get(pk=conversation.pk)


class DuplicateMessage(Exception):
    """The conversation already holds a message with this client id: the client sent it
    again. ``message`` is the stored one; nothing was written."""

    def __init__(self, message: Message) -> None:
        super().__init__(f"message {message.pk} already has client id {message.client_id!r}")
        self.message = message


def message_add(
    *,
    conversation: Conversation,
    author_type: str,
    body: str,
    public: bool = True,
    author_id: str = "",
    author_name: str = "",
    created_at: datetime | None = None,
    external_id: str | None = None,
    author_user: User | None = None,
    touch: bool = False,
    client_id: str = "",
    savepoint: bool = True,
    locked: bool = False,
) -> Message:
    """Add a reply, an internal note (``public=False``) or a system message; ``author_user``
    is the signed-in person who wrote it, if any. ``touch``: also record the message's time as
    the conversation's last change (``updated_at``), in the same UPDATE.

    ``client_id`` (a chat client's own id for the message) makes a resend land once: a second
    message with the same client id in the conversation raises ``DuplicateMessage``.

    ``savepoint=False`` for a caller inside a transaction that lets any failure roll back the
    whole of it (two round trips fewer): the failure then leaves the transaction unusable.

    ``locked=True``: ``conversation`` was read by ``conversation_lock`` in the caller's
    transaction (the API reads and locks it in one statement): it is written to as it is.
    """
    if author_type not in AuthorType.values:
        raise ValidationError(f"unknown author type {author_type!r}")
    _check_text(
        body=body,
        author_id=author_id,
        author_name=author_name,
        external_id=external_id,
        client_id=client_id,
    )
    moment = created_at or timezone.now()
    with transaction.atomic(savepoint=savepoint):
        if locked:
            row = conversation
        else:
            found = conversation_lock(pk=conversation.pk)
            if found is None:
                raise Conversation.DoesNotExist("no such conversation")
            row = found
        if client_id:
            # Checked with the conversation locked, so two copies sent at once queue here;
            # the unique constraint stands behind it.
            stored = row.messages.filter(client_id=client_id).first()
            if stored is not None:
                raise DuplicateMessage(stored)
        if moment < row.created_at:
            raise ValidationError("a message cannot be dated before its conversation")
        row.message_seq += 1
        if not external_id:
            # Imported ids need not be 1..n: skip numbers an imported message already holds.
            # Read with the lock (conversation_lock); asked here only for a row read otherwise.
            taken = row.__dict__.get("next_taken")
            if taken is None:
                taken = row.messages.filter(external_id=str(row.message_seq)).exists()
            while taken:
                row.message_seq += 1
                taken = row.messages.filter(external_id=str(row.message_seq)).exists()
            external_id = str(row.message_seq)
        message = Message(
            conversation=row,
            external_id=external_id,
            author_type=author_type,
            author_id=author_id,
            author_name=author_name,
            public=public,
            body=body,
            created_at=moment,
            author_user=author_user,
            client_id=client_id,
        )
        fields = ["message_seq"]
        if touch:
            row.updated_at = moment
            fields.append("updated_at")
        is_response = public and author_type == AuthorType.AGENT
        if is_response and (row.first_response_at is None or moment < row.first_response_at):
            row.first_response_at = moment
            row.first_response_seconds = facts.seconds_between(row.created_at, moment)
            fields += ["first_response_at", "first_response_seconds"]
        # The message and the conversation's counters: one statement on PostgreSQL.
        rows.insert_and_update(message, row, fields)
        events.publish_message(message=message, conversation=row)
    if row is not conversation:
        _sync(conversation, row)
    return message


_CONVERSATION = rows.reader(Conversation)
_MERCHANT = rows.reader(Merchant)
_USER = rows.reader(User)
_lock_sql: dict[tuple[str, bool, bool, bool, bool], str] = {}


def conversation_lock(
    *,
    pk: int,
    merchant_id: int | None = None,
    with_merchant: bool = False,
    with_generation: bool = False,
    staff_email: str | None = None,
) -> Conversation | None:
    """Lock the conversation's row for a change and read it — with its merchant when asked,
    and whether its next message number is taken already (``next_taken``) — in one
    statement; None when there is no such conversation (or, with ``merchant_id``, when it is
    another merchant's). Call inside the change's transaction; ``message_add(locked=True)``
    then writes to it without reading it again.

    ``with_generation``: the same statement also reads the configuration's generation
    (``sla.config``), as ``config_generation_rows`` on the row, for
    ``config.reuse(generation_rows=...)`` around the change: one statement fewer.

    ``staff_email``: the same statement also reads the active staff member (agent, lead,
    admin) with that address (stored lower-case), as ``staff`` on the row, a ``User`` or None
    (the author of a post, read with the conversation: one statement fewer)."""
    vendor = connection.vendor
    staff = staff_email is not None
    key = (vendor, with_merchant, merchant_id is not None, with_generation, staff)
    sql = _lock_sql.get(key)
    if sql is None:
        qn = connection.ops.quote_name
        conversations = qn(Conversation._meta.db_table)
        messages = qn(Message._meta.db_table)
        select = _CONVERSATION.columns("c")
        join = ""
        if with_merchant:
            select += ", " + _MERCHANT.columns("m")
            join = f" JOIN {qn(Merchant._meta.db_table)} m ON m.id = c.merchant_id"
        if with_generation:
            from sellerdesk.sla import config

            select += f", ({config.generation_statement()[0]})"
        if staff:
            # Addresses are unique: one row at most.
            select += ", " + _USER.columns("u")
            join += (
                f" LEFT JOIN {qn(User._meta.db_table)} u ON u.email = %s"
                f" AND u.role IN ({', '.join(['%s'] * len(STAFF_ROLES))}) AND u.is_active = %s"
            )
        lock = rows.for_update()
        if lock and (with_merchant or staff):
            # Only the conversation's row (the staff member's side of the LEFT JOIN may be
            # NULL, which PostgreSQL does not lock).
            lock += " OF c"
        sql = _lock_sql[key] = (
            f"SELECT {select}, EXISTS (SELECT 1 FROM {messages} x "  # noqa: S608 - model names
            "WHERE x.conversation_id = c.id "
            "AND x.external_id = CAST(c.message_seq + 1 AS varchar(20))) "
            f"FROM {conversations} c{join} WHERE c.id = %s"
            + (" AND c.merchant_id = %s" if merchant_id is not None else "")
            + lock
        )
    params: list[Any] = []
    if staff_email is not None:
        params += [staff_email.strip().lower(), *sorted(STAFF_ROLES), True]
    params.append(pk)
    if merchant_id is not None:
        params.append(merchant_id)
    found = rows.fetch(sql, params)
    if found is None:
        return None
    width = len(_CONVERSATION)
    row: Conversation = _CONVERSATION.build(found[:width])
    at = width
    if with_merchant:
        row.merchant = _MERCHANT.build(found[at : at + len(_MERCHANT)])
        at += len(_MERCHANT)
    if with_generation:
        generation = found[at]
        row.__dict__["config_generation_rows"] = [] if generation is None else [(generation,)]
        at += 1
    if staff:
        person = found[at : at + len(_USER)]
        row.__dict__["staff"] = None if person[0] is None else _USER.build(person)
    row.__dict__["next_taken"] = bool(found[-1])
    return row


def conversation_set_status(
    *, conversation: Conversation, status: str, by: str = "", at: datetime | None = None
) -> StatusChange:
    """Record a status change (the event log) and recompute the resolution facts."""
    if status not in Status.values:
        raise ValidationError(f"unknown status {status!r}")
    _check_text(by=by)
    moment = at or timezone.now()
    with transaction.atomic():
        row = _locked(conversation)
        if moment < row.created_at:
            raise ValidationError("a status change cannot be dated before its conversation")
        row.status_seq += 1
        change = StatusChange.objects.create(
            conversation=row, status=status, at=moment, seq=row.status_seq, by=by
        )
        _refresh_resolution(row)
        events.publish_conversation(conversation=row, change="status", audience="everyone")
    _sync(conversation, row)
    return change


def _refresh_resolution(row: Conversation) -> None:
    """Recompute status, resolution stretches and resolved_at. Call with the row locked."""
    changes = [
        facts.StatusFact(status, at, seq)
        for status, at, seq in row.status_changes.values_list("status", "at", "seq")
    ]
    status, stretches = facts.resolution_stretches(changes)
    open_ended = stretches[-1] if stretches and stretches[-1].ended_at is None else None
    row.status = status
    row.status_changed_at = max((c.at for c in changes), default=None)
    row.resolved_at = open_ended.started_at if open_ended else None
    row.resolution_seconds = facts.seconds_between(row.created_at, row.resolved_at)
    row.save(
        update_fields=[
            "status", "status_changed_at", "resolved_at", "resolution_seconds", "status_seq"
        ]
    )  # fmt: skip
    ResolutionStretch.objects.filter(conversation=row).delete()
    ResolutionStretch.objects.bulk_create(stretch_rows(row, stretches))


def stretch_rows(row: Conversation, spans: Iterable[facts.Stretch]) -> list[ResolutionStretch]:
    """A conversation's resolution stretches (``facts.resolution_stretches``) as rows."""
    return [
        ResolutionStretch(
            conversation=row,
            started_at=s.started_at,
            ended_at=s.ended_at,
            started_seconds=(s.started_at - row.created_at).total_seconds(),
        )
        for s in spans
    ]


def tag_name(raw: str) -> str:
    """The stored name of a tag typed as ``raw`` ("" for white space only); ValidationError
    for a name that cannot be stored, as typed or once normalized."""
    _check_text(tag=raw)
    name = normalize_tag(raw)
    if len(name) > _MAX_LENGTHS["tag"]:
        # NFKC and case folding may lengthen a name (U+FDFA is 18 characters in NFKC).
        raise ValidationError(
            f"tag is longer than {_MAX_LENGTHS['tag']} characters once normalized"
        )
    return name


def conversation_set_tags(*, conversation: Conversation, names: Iterable[str]) -> list[Tag]:
    """Replace the conversation's tags (names normalized; repeats count once)."""
    wanted: dict[str, str] = {}
    for raw in names:
        name = tag_name(raw)
        if name:
            wanted.setdefault(name, display_tag(raw))
    with transaction.atomic():
        row = _locked(conversation)
        tags = _tags_get_or_create(wanted)
        ConversationTag.objects.filter(conversation=row).delete()
        ConversationTagPair.objects.filter(conversation=row).delete()
        ordered = sorted(tags, key=lambda t: t.name)
        population = {
            "created_at": row.created_at,
            "country": row.country,
            "counted": _counted(row),
        }
        ConversationTag.objects.bulk_create(
            ConversationTag(conversation=row, tag=tag, **population) for tag in ordered
        )
        ConversationTagPair.objects.bulk_create(
            ConversationTagPair(conversation=row, tag_a=a, tag_b=b, **population)
            for a, b in combinations(ordered, 2)
        )
    return ordered


def _counted(row: Conversation) -> bool:
    """Whether the report's population includes the conversation (copied onto its tag rows)."""
    return row.initiated_by == InitiatedBy.MERCHANT and not row.spam


def conversation_tag_add(*, conversation: Conversation, name: str) -> list[Tag]:
    current = list(conversation.tags.values_list("name", flat=True))
    return conversation_set_tags(conversation=conversation, names=[*current, name])


def conversation_tag_remove(*, conversation: Conversation, name: str) -> list[Tag]:
    target = normalize_tag(name)
    current = [n for n in conversation.tags.values_list("name", flat=True) if n != target]
    return conversation_set_tags(conversation=conversation, names=current)


def _tags_get_or_create(wanted: dict[str, str]) -> list[Tag]:
    if not wanted:
        return []
    Tag.objects.bulk_create(
        [Tag(name=n, display_name=d) for n, d in wanted.items()], ignore_conflicts=True
    )
    return list(Tag.objects.filter(name__in=list(wanted)))


def conversation_set_kind(*, conversation: Conversation, kind: str) -> None:
    if kind not in Kind.values:
        raise ValidationError(f"unknown kind {kind!r}")
    Conversation.objects.filter(pk=conversation.pk).update(kind=kind)
    conversation.kind = kind


def conversation_set_outcome(*, conversation: Conversation, outcome: str | None) -> None:
    """The human decision on a complaint (kept on any kind, reported on complaints)."""
    if outcome is not None and outcome not in Outcome.values:
        raise ValidationError(f"unknown outcome {outcome!r}")
    Conversation.objects.filter(pk=conversation.pk).update(outcome=outcome)
    conversation.outcome = outcome


def conversation_mark_spam(*, conversation: Conversation, spam: bool = True) -> None:
    """Spam is kept but never counted."""
    with transaction.atomic():
        row = _locked(conversation)
        row.spam = spam
        row.save(update_fields=["spam"])
        ConversationTag.objects.filter(conversation=row).update(counted=_counted(row))
        ConversationTagPair.objects.filter(conversation=row).update(counted=_counted(row))
    conversation.spam = spam


def _sync(target: Conversation, source: Conversation) -> None:
    """Copy the refreshed facts onto the caller's instance."""
    for name in (
        "status", "status_changed_at", "first_response_at", "first_response_seconds",
        "resolved_at", "resolution_seconds", "status_seq", "message_seq",
    ):  # fmt: skip
        setattr(target, name, getattr(source, name))
