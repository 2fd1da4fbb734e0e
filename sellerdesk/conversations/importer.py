"""Bulk import of interchange files: the service that writes whole conversations in batches.

Each batch is one transaction; a line whose id is already stored replaces that conversation
whole (the row keeps its primary key, its messages, status changes, tags and derived facts are
written anew). Rows go in with ``COPY`` on PostgreSQL and ``executemany`` on SQLite rather
than through model instances: this is the hot path of a migration from another helpdesk
(millions of rows). The derived facts come from the same ``facts.derive`` the live services
use. ``import_files`` reads files and spreads an import over worker processes.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from itertools import combinations
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection, reset_queries, transaction
from django.utils import timezone

from sellerdesk.accounts.models import Merchant
from sellerdesk.conversations import facts
from sellerdesk.conversations.interchange import ConversationRecord, InterchangeError, parse_line
from sellerdesk.conversations.models import (
    Conversation,
    ConversationTag,
    ConversationTagPair,
    InitiatedBy,
    Message,
    ResolutionStretch,
    StatusChange,
    Tag,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Rejection:
    line: int
    reason: str
    raw: bytes = b""


@dataclass(slots=True)
class ImportResult:
    imported: int = 0
    created: int = 0
    replaced: int = 0
    rejected: list[Rejection] = field(default_factory=list)


def conversations_import(
    lines: Iterable[tuple[int, bytes]],
    *,
    batch_size: int | None = None,
    on_batch: Callable[[ImportResult], None] | None = None,
    keep_rejected_lines: bool = False,
) -> ImportResult:
    """Import numbered interchange lines; every rejected line is returned with its reason.

    Memory stays flat: a few batches of parsed conversations are held at a time, whatever
    the size of the input.
    """
    size = batch_size or settings.SELLERDESK_IMPORT_BATCH
    result = ImportResult()
    with _bulk_load_tuning():
        _import_batches(lines, size, keep_rejected_lines, on_batch, result)
    return result


@contextmanager
def _bulk_load_tuning() -> Iterator[None]:
    """On SQLite, copy the write-ahead log into the database every ~256 MB rather than every
    4 MB (each copy syncs the disk: a bulk load's batches of 15 MB would each pay for
    several), and give the page cache 192 MB while the load lasts."""
    if connection.vendor != "sqlite":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA wal_autocheckpoint = 65536")
        # A larger page cache while indexes grow by millions of entries (the default 64 MB
        # keeps a million conversations' indexes mostly outside it).
        cursor.execute("PRAGMA cache_size = -196608")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA cache_size = -65536")
            cursor.execute("PRAGMA wal_autocheckpoint = 1000")
            if not connection.in_atomic_block:
                cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")


def _import_batches(
    lines: Iterable[tuple[int, bytes]],
    size: int,
    keep_rejected_lines: bool,
    on_batch: Callable[[ImportResult], None] | None,
    result: ImportResult,
) -> None:
    for batch, rejected in _parsed_batches(lines, size, keep_rejected_lines):
        result.rejected.extend(rejected)
        if batch:
            _flush(batch, result)
        # With DEBUG on (development), Django keeps the SQL of recent statements; an import's
        # statements are long: drop them each batch so memory stays flat.
        reset_queries()
        if on_batch:
            on_batch(result)


_Batch = tuple[list[tuple[int, ConversationRecord]], list[Rejection]]
_END = object()


def _parse_batches(
    lines: Iterable[tuple[int, bytes]], size: int, keep_rejected_lines: bool
) -> Iterator[_Batch]:
    """Batches of parsed conversations (within a batch the later line of an id wins), each
    with the lines rejected while reading it."""
    batch: dict[str, tuple[int, ConversationRecord]] = {}
    rejected: list[Rejection] = []
    for number, raw in lines:
        if number == 1:
            raw = raw.removeprefix(b"\xef\xbb\xbf")  # a byte-order mark some editors write
        if not raw.strip():
            continue
        try:
            record = parse_line(raw)
        except InterchangeError as exc:
            rejected.append(Rejection(number, str(exc), raw if keep_rejected_lines else b""))
            continue
        batch.pop(record.id, None)
        batch[record.id] = (number, record)
        if len(batch) >= size:
            yield list(batch.values()), rejected
            batch, rejected = {}, []
    yield list(batch.values()), rejected


def _parsed_batches(
    lines: Iterable[tuple[int, bytes]], size: int, keep_rejected_lines: bool
) -> Iterator[_Batch]:
    """``_parse_batches`` run one batch ahead in a thread of its own.

    Parsing is Python work; writing a batch mostly waits on the database, and the GIL is free
    while it waits, so the next batch is parsed meanwhile. Database work stays in the
    caller's thread (Django connections belong to a thread). An error while reading (a
    truncated .gz) is raised in the caller.
    """
    handoff: queue.Queue[Any] = queue.Queue(maxsize=2)
    stop = threading.Event()

    def hand_over(item: Any) -> bool:
        """Put an item for the caller, unless the caller has stopped listening."""
        while not stop.is_set():
            try:
                handoff.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in _parse_batches(lines, size, keep_rejected_lines):
                if not hand_over(item):
                    return
            hand_over(_END)
        except BaseException as exc:  # handed to the caller, which raises it
            hand_over(exc)

    thread = threading.Thread(target=produce, name="sellerdesk-import-parser", daemon=True)
    thread.start()
    try:
        while True:
            item = handoff.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join()


def _flush(batch: list[tuple[int, ConversationRecord]], result: ImportResult) -> None:
    try:
        with transaction.atomic():
            _relax_commit()
            created, replaced = _write(batch)
    except DatabaseError as exc:
        # One record the database refuses must not take its batch with it: write one by one
        # and reject only the ones that fail, with the database's reason.
        logger.warning(
            "import batch failed (%s); retrying its %d conversations one by one",
            str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__,
            len(batch),
        )
        created = replaced = 0
        for item in batch:
            try:
                with transaction.atomic():
                    one_created, one_replaced = _write([item])
            except DatabaseError as exc:
                result.rejected.append(
                    Rejection(item[0], f"refused by the database: {str(exc).strip()[:300]}")
                )
                continue
            created += one_created
            replaced += one_replaced
    result.created += created
    result.replaced += replaced
    result.imported += created + replaced


# --- writing ---------------------------------------------------------------------------------


def _relax_commit() -> None:
    """On PostgreSQL, let this transaction's commit return before its WAL reaches the disk.

    A crash can then lose the last batches of an import, never corrupt or half-write one, and
    an import is idempotent: running it again restores them. It saves an fsync per batch.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


def _table(model: Any) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _placeholders(count: int) -> str:
    return ", ".join(["%s"] * count)


def _as_text(value: datetime | None) -> str | None:
    # What Django's SQLite backend stores for an aware UTC datetime, without its per-value
    # checks: this runs for every timestamp of every imported row.
    return None if value is None else value.replace(tzinfo=None).isoformat(" ")


def _as_is(value: datetime | None) -> datetime | None:
    return value


def _adapter() -> Callable[[datetime | None], Any]:
    """How datetimes are bound on this connection (records hold aware UTC datetimes)."""
    return _as_text if connection.vendor == "sqlite" else _as_is


def _chunks(items: Sequence[Any], size: int = 500) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _ids_by(model: Any, column: str, keys: Sequence[Any]) -> dict[Any, int]:
    """``{key: id}`` for the rows whose ``column`` is one of ``keys``.

    PostgreSQL takes the keys as one array parameter (a statement of the same text each
    batch); SQLite as chunks of placeholders.
    """
    found: dict[Any, int] = {}
    if not keys:
        return found
    sql = f"SELECT {column}, id FROM {_table(model)} WHERE {column}"
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"{sql} = ANY(%s)", [list(keys)])
            found.update(cursor.fetchall())
            return found
        for chunk in _chunks(keys):
            cursor.execute(f"{sql} IN ({_placeholders(len(chunk))})", list(chunk))
            found.update(cursor.fetchall())
    return found


def _upsert_merchants(records: list[ConversationRecord]) -> dict[str, int]:
    """Merchant ids by external id; each merchant takes the values of its latest filing.

    One upsert: the row is updated only when this filing is at least as recent as the one its
    values came from, so batches (and concurrent imports) may arrive in any order.
    """
    latest: dict[str, ConversationRecord] = {}
    for record in records:
        seen = latest.get(record.merchant.id)
        if seen is None or record.created_at >= seen.created_at:
            latest[record.merchant.id] = record
    table = _table(Merchant)
    _dt = _adapter()
    now = _dt(timezone.now())
    rows = [
        [key, r.merchant.name, r.merchant.country, r.merchant.status, r.merchant.language,
         _dt(r.created_at), now]
        for key, r in sorted(latest.items())  # one lock order for concurrent importers
    ]  # fmt: skip
    upsert = f"""INSERT INTO {table}
          (external_id, name, country, status, language, profile_at, created_at)
        {{values}}
        ON CONFLICT (external_id) DO UPDATE SET
          name = excluded.name, country = excluded.country, status = excluded.status,
          language = excluded.language, profile_at = excluded.profile_at
        WHERE {table}.profile_at IS NULL OR {table}.profile_at <= excluded.profile_at"""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # One array per column: the same statement text whatever the batch.
            arrays = "%s::text[], %s::text[], %s::text[], %s::text[], %s::text[], "
            arrays += "%s::timestamptz[], %s::timestamptz[]"
            cursor.execute(
                upsert.format(values=f"SELECT * FROM unnest({arrays})"),
                [list(column) for column in zip(*rows, strict=True)],
            )
        else:
            for chunk in _chunks(rows):
                values = ", ".join([f"({_placeholders(7)})"] * len(chunk))
                cursor.execute(
                    upsert.format(values=f"VALUES {values}"),
                    [value for row in chunk for value in row],
                )
    return _ids_by(Merchant, "external_id", list(latest))


def _ensure_tags(records: list[ConversationRecord]) -> dict[str, int]:
    """Tag ids by normalized name; a new tag keeps the display name it was first seen with."""
    names: dict[str, str] = {}
    for record in records:
        for name, display in record.tags.items():
            names.setdefault(name, display)
    if not names:
        return {}
    table = _table(Tag)
    known = _ids_by(Tag, "name", list(names))
    missing = sorted([n, d] for n, d in names.items() if n not in known)  # one lock order
    if missing:
        with connection.cursor() as cursor:
            cursor.executemany(
                f"INSERT INTO {table} (name, display_name) VALUES (%s, %s) "
                "ON CONFLICT (name) DO NOTHING",
                missing,
            )
        known.update(_ids_by(Tag, "name", [n for n, _ in missing]))
    return known


_CONVERSATION_COLUMNS = (
    "merchant_id", "country", "channel", "kind", "initiated_by", "subject", "status", "spam",
    "outcome", "created_at", "first_response_at", "first_response_seconds", "resolved_at",
    "resolution_seconds", "status_changed_at", "status_seq", "message_seq",
)  # fmt: skip
_CHILD_MODELS = (Message, StatusChange, ResolutionStretch, ConversationTag, ConversationTagPair)


def _write(batch: list[tuple[int, ConversationRecord]]) -> tuple[int, int]:
    records = [record for _, record in batch]
    merchants = _upsert_merchants(records)
    tags = _ensure_tags(records)
    conversation_table = _table(Conversation)
    existing = _ids_by(Conversation, "external_id", [r.id for r in records])
    _dt = _adapter()
    derived = {
        r.id: facts.derive(r.created_at, _message_facts(r), _status_facts(r)) for r in records
    }

    def row(record: ConversationRecord) -> list[Any]:
        f = derived[record.id]
        return [
            merchants[record.merchant.id], record.merchant.country, record.channel, record.kind,
            record.initiated_by, record.subject, f.status, record.spam, record.outcome,
            _dt(record.created_at), _dt(f.first_response_at),
            facts.seconds_between(record.created_at, f.first_response_at), _dt(f.resolved_at),
            facts.seconds_between(record.created_at, f.resolved_at), _dt(f.status_changed_at),
            len(record.status_changes), len(record.messages),
        ]  # fmt: skip

    with connection.cursor() as cursor:
        replaced = [r for r in records if r.id in existing]
        if replaced:
            ids = [existing[r.id] for r in replaced]
            for model in _CHILD_MODELS:
                _delete_children(cursor, model, ids)
            assignments = ", ".join(f"{c} = %s" for c in _CONVERSATION_COLUMNS)
            cursor.executemany(
                f"UPDATE {conversation_table} SET {assignments} WHERE id = %s",
                [[*row(r), existing[r.id]] for r in replaced],
            )
        fresh = [r for r in records if r.id not in existing]
        if fresh:
            columns = ("external_id", *_CONVERSATION_COLUMNS)
            _insert_rows(cursor, Conversation, columns, [[r.id, *row(r)] for r in fresh])
            existing.update(_ids_by(Conversation, "external_id", [r.id for r in fresh]))
        _write_children(cursor, records, existing, tags, derived)
    return len(fresh), len(replaced)


def _delete_children(cursor: Any, model: Any, ids: list[int]) -> None:
    sql = f"DELETE FROM {_table(model)} WHERE conversation_id"
    if connection.vendor == "postgresql":
        cursor.execute(f"{sql} = ANY(%s)", [ids])
        return
    for chunk in _chunks(ids):
        cursor.execute(f"{sql} IN ({_placeholders(len(chunk))})", list(chunk))


def _write_children(
    cursor: Any,
    records: list[ConversationRecord],
    ids: dict[str, int],
    tags: dict[str, int],
    derived: dict[str, facts.Facts],
) -> None:
    _dt = _adapter()
    messages: list[list[Any]] = []
    changes: list[list[Any]] = []
    stretches: list[list[Any]] = []
    conversation_tags: list[list[Any]] = []
    pairs: list[list[Any]] = []
    for record in records:
        pk = ids[record.id]
        for m in record.messages:
            messages.append(
                [
                    pk,
                    m.id,
                    m.author_type,
                    m.author_id,
                    m.author_name,
                    m.public,
                    m.body,
                    _dt(m.created_at),
                ]
            )
        for c in record.status_changes:
            changes.append([pk, c.status, _dt(c.at), c.seq, c.by])
        for s in derived[record.id].stretches:
            stretches.append(
                [
                    pk,
                    _dt(s.started_at),
                    _dt(s.ended_at),
                    facts.seconds_between(record.created_at, s.started_at),
                ]
            )
        names = sorted(record.tags)  # code-point order: pairs are stored with a < b
        population = [_dt(record.created_at), record.merchant.country, _counted(record)]
        conversation_tags.extend([pk, tags[name], *population] for name in names)
        pairs.extend([pk, tags[a], tags[b], *population] for a, b in combinations(names, 2))
    inserts: list[tuple[Any, tuple[str, ...], list[list[Any]]]] = [
        (Message, ("conversation_id", "external_id", "author_type", "author_id", "author_name", "public", "body", "created_at"), messages),
        (StatusChange, ("conversation_id", "status", "at", "seq", "by"), changes),
        (ResolutionStretch, ("conversation_id", "started_at", "ended_at", "started_seconds"), stretches),
        (ConversationTag, ("conversation_id", "tag_id", "created_at", "country", "counted"), conversation_tags),
        (ConversationTagPair, ("conversation_id", "tag_a_id", "tag_b_id", "created_at", "country", "counted"), pairs),
    ]  # fmt: skip
    for model, columns, rows in inserts:
        _insert_rows(cursor, model, columns, rows)


def _insert_rows(cursor: Any, model: Any, columns: Sequence[str], rows: list[list[Any]]) -> None:
    """Append rows to a table: COPY on PostgreSQL (one round trip for the lot, where an
    INSERT per row costs one server statement each), executemany on SQLite (in-process)."""
    if not rows:
        return
    quoted = ", ".join(connection.ops.quote_name(c) for c in columns)
    if connection.vendor == "postgresql":
        # The raw psycopg COPY bypasses Django's cursor wrapper: translate its errors into
        # Django's DatabaseError, which _flush catches to reject only the refused conversation.
        with (
            connection.wrap_database_errors,
            cursor.cursor.copy(f"COPY {_table(model)} ({quoted}) FROM STDIN") as copy,
        ):
            for item in rows:
                copy.write_row(item)
        return
    cursor.executemany(
        f"INSERT INTO {_table(model)} ({quoted}) VALUES ({_placeholders(len(columns))})", rows
    )


def _counted(record: ConversationRecord) -> bool:
    return record.initiated_by == InitiatedBy.MERCHANT and not record.spam


def _message_facts(record: ConversationRecord) -> list[facts.MessageFact]:
    return [facts.MessageFact(m.author_type, m.public, m.created_at) for m in record.messages]


def _status_facts(record: ConversationRecord) -> list[facts.StatusFact]:
    return [facts.StatusFact(c.status, c.at, c.seq) for c in record.status_changes]
