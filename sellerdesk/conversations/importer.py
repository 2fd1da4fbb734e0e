"""Bulk import of interchange files: the service that writes whole conversations in batches.

Each batch is one transaction; a line whose id is already stored replaces that conversation
whole (the row keeps its primary key, its messages, status changes, tags and derived facts are
written anew). Rows go in with ``COPY`` on PostgreSQL and ``executemany`` on SQLite rather
than through model instances: this is the hot path of a migration from another helpdesk
(millions of rows). On SQLite, whose one writer keeps one core busy, the rows are made
where the lines are parsed (``_prepare``; in a process of its own for a file import) and the
statements look merchant and tag ids up themselves. The derived facts come from the same
``facts.derive`` the live services use. ``import_files`` reads files and spreads an import
over worker processes.
"""

from __future__ import annotations

import functools
import gc
import importlib
import logging
import multiprocessing
import pickle
import queue
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from itertools import combinations
from typing import Any, NamedTuple, cast

from django.conf import settings
from django.db import DatabaseError, connection, reset_queries, transaction
from django.db.migrations.recorder import MigrationRecorder
from django.utils import timezone

from sellerdesk.accounts.models import Merchant
from sellerdesk.conversations import facts, search_backfill
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
from sellerdesk.core.rows import statement_cursor

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
    parse_in_process: bool = False,
) -> ImportResult:
    """Import numbered interchange lines; every rejected line is returned with its reason.

    Memory stays flat: a few batches of parsed conversations are held at a time, whatever
    the size of the input. Parsing runs one batch ahead of the writing, in a thread, or with
    ``parse_in_process`` in a forked process of its own, which then alone reads ``lines``
    (the parent's copy of a ``number`` and ``position`` it has, see ``import_files``, is kept
    up to date with how far the process has read).
    """
    size = batch_size or settings.SELLERDESK_IMPORT_BATCH
    result = ImportResult()
    with (
        _unmapped(),
        _indexes_built_after_a_first_load(result),
        _bulk_load_tuning(),
        _fewer_collections(),
    ):
        _import_batches(lines, size, keep_rejected_lines, on_batch, result, parse_in_process)
    return result


@contextmanager
def _unmapped() -> Iterator[None]:
    """On SQLite, read the database through the page cache alone while a load and the index
    builds after it last: pages read through the memory map (settings: ``mmap_size``) count
    in the process's resident memory, and building a million conversations' indexes reads
    the whole file, adding the map's 256 MB to the peak."""
    if connection.vendor != "sqlite":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA mmap_size")
        row = cursor.fetchone()  # none for an in-memory database
    if row is None or not row[0]:
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA mmap_size = 0")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA mmap_size = {int(row[0])}")


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


#: Migration 0002, whose NAMES and SQLITE statements are the report's indexes on SQLite.
_REPORT_INDEXES = importlib.import_module("sellerdesk.conversations.migrations.0002_report_indexes")
#: Migration 0011, whose SQLite FTS5 tables the search reads, kept current by triggers.
_SEARCH = importlib.import_module("sellerdesk.conversations.migrations.0011_search")


def deferred_model_indexes() -> list[tuple[str, str]]:
    """(name, CREATE INDEX statement) of the models' own full indexes that a first load
    builds at its end (here on SQLite, in ``first_load`` on PostgreSQL): those whose keys
    arrive in random order (created_at, merchant, tag), which a million conversations'
    inserts would scatter over B-trees larger than the page cache. Partial indexes (the desk's queues, which imported history seldom enters)
    and indexes that lead with the conversation (filled in order) are kept."""
    editor = connection.SchemaEditorClass(connection, collect_sql=True)
    return [
        (index.name, str(index.create_sql(model, editor)))
        for model in (Conversation, ConversationTag)
        for index in model._meta.indexes
        if index.condition is None and index.fields[0] not in ("conversation", "id")
    ]


@contextmanager
def _indexes_built_after_a_first_load(result: ImportResult) -> Iterator[None]:
    """On SQLite, a load into empty tables builds the report's wide indexes, the models' own
    indexes on random keys (``deferred_model_indexes``) and the search index once at the end.

    Built in one sorted pass, rather than entry by entry into B-trees that outgrow the page
    cache as a million conversations go in (migration 0002's statements, whatever ends the
    load). The search's FTS5 triggers are dropped for the load too: fed row by row, batch
    after batch, FTS5 writes and merges many small segments (the triggers doubled a first
    load's CPU time); its ``rebuild`` at the end reads the messages once. An import into
    tables that are not empty first puts back any report index or search trigger that is
    missing — one a killed first load left out, or one a later migration lost when it
    rebuilt a table (SQLite's ALTER TABLE copies the table; Django re-creates only the
    indexes it knows of) — and re-indexes what a missing trigger let through. Concurrent
    importers agree, under the write lock, on who drops them. Where the load commits batch
    by batch to a file, the search index is built beside it instead (``search_backfill``)
    and copied in at the end, unless the load (``result``) replaced a conversation or the
    copy would otherwise not be what ``rebuild`` makes.
    """
    if connection.vendor != "sqlite" or not migrated(_REPORT_INDEXES):
        yield
        return
    deferred = deferred_model_indexes()
    statements = [*_REPORT_INDEXES.SQLITE, *(sql for _, sql in deferred)]
    names = [*_REPORT_INDEXES.NAMES, *(name for name, _ in deferred)]
    triggers = list(_SEARCH.SQLITE_TRIGGER_NAMES) if migrated(_SEARCH) else []
    with transaction.atomic(), connection.cursor() as cursor:  # the write lock, for the check
        present = _sqlite_objects(cursor, "index", names)
        present_triggers = _sqlite_objects(cursor, "trigger", triggers)
        cursor.execute(f"SELECT EXISTS (SELECT 1 FROM {_table(Conversation)})")
        empty = not cursor.fetchone()[0]
        if empty:
            for name in present:
                cursor.execute(f"DROP INDEX {connection.ops.quote_name(name)}")
            for name in present_triggers:
                cursor.execute(f"DROP TRIGGER {connection.ops.quote_name(name)}")
        else:
            if len(present) < len(names):
                for sql in statements:
                    cursor.execute(if_not_exists(sql))
            if len(present_triggers) < len(triggers):
                _restore_search(cursor)
    side = _side_search_index() if empty and triggers else None
    try:
        yield
    finally:
        try:
            if empty:
                if side is not None:
                    side.finish()  # it indexes the last batches while these indexes are built
                _build_indexes(statements)
                installed = side is not None and side.install(
                    _SEARCH.sqlite_trigger_statements(), replaced=result.replaced > 0
                )
                if triggers and not installed:
                    with transaction.atomic(), connection.cursor() as cursor:
                        _restore_search(cursor)
        finally:
            if side is not None:
                side.discard()


def _build_indexes(statements: list[str]) -> None:
    """Build the indexes a first load left out (after the load's larger page cache is given
    back: see the order in conversations_import). The sort spills to a temporary file, not to
    memory as the connection's other temporary data does: peak memory stays that of the load.
    (SQLite refuses the change inside a transaction: a caller's, or a test's.)"""
    spill = not connection.in_atomic_block
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA temp_store")
        temp_store = int(cursor.fetchone()[0])
        if spill:
            cursor.execute("PRAGMA temp_store = FILE")
        try:
            for sql in statements:
                cursor.execute(if_not_exists(sql))
        finally:
            if spill:
                cursor.execute(f"PRAGMA temp_store = {temp_store}")


def _side_search_index() -> search_backfill.SideIndex | None:
    """A builder of the search index beside a first load, where it can see the load's rows
    as they are committed: a database file, no transaction around the load (a caller's, or
    a test's)."""
    if connection.in_atomic_block:
        return None
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA database_list")
        files = {name: path for _, name, path in cursor.fetchall()}
    if not files.get("main"):  # an in-memory database
        return None
    timeout = float(connection.settings_dict.get("OPTIONS", {}).get("timeout", 5))
    return search_backfill.SideIndex(files["main"], list(_SEARCH.SQLITE_TABLES), timeout)


def _restore_search(cursor: Any) -> None:
    """Put the FTS triggers back and re-index the FTS tables from their content tables."""
    for sql in _SEARCH.sqlite_trigger_statements():
        cursor.execute(sql)
    for sql in _SEARCH.sqlite_rebuild_statements():
        cursor.execute(sql)


def _sqlite_objects(cursor: Any, kind: str, names: Sequence[str]) -> list[str]:
    """Which of ``names`` exist in the SQLite schema as objects of ``kind``."""
    if not names:
        return []
    cursor.execute(
        f"SELECT name FROM sqlite_master WHERE type = %s AND name IN ({_placeholders(len(names))})",
        [kind, *names],
    )
    return [name for (name,) in cursor.fetchall()]


def if_not_exists(sql: str) -> str:
    """A CREATE INDEX statement that does nothing when the index is there (another importer
    may have put it back)."""
    return re.sub(r"^CREATE INDEX (?!IF NOT EXISTS )", "CREATE INDEX IF NOT EXISTS ", sql)


def migrated(migration: Any) -> bool:
    """Whether the conversations migration module ``migration`` is applied."""
    applied = MigrationRecorder(connection).applied_migrations()
    return ("conversations", migration.__name__.rsplit(".", 1)[1]) in applied


@contextmanager
def _fewer_collections() -> Iterator[None]:
    """Look for reference cycles less often while importing.

    A batch holds a few hundred thousand young objects, none of them in a cycle; at the
    default threshold (every 700 allocations) the collector walks them again and again, which
    measured a fifth of the parsing time.
    """
    thresholds = gc.get_threshold()
    gc.set_threshold(100_000, 50, 100)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)


def _import_batches(
    lines: Iterable[tuple[int, bytes]],
    size: int,
    keep_rejected_lines: bool,
    on_batch: Callable[[ImportResult], None] | None,
    result: ImportResult,
    parse_in_process: bool,
) -> None:
    prepare = connection.vendor == "sqlite"

    def produce() -> Iterator[_Batch]:
        return _parse_batches(lines, size, keep_rejected_lines, prepare)

    batches = _from_process(produce, lines) if parse_in_process else _from_thread(produce)
    for batch, rejected in batches:
        result.rejected.extend(rejected)
        if batch:
            _flush(batch, result)
        # With DEBUG on (development), Django keeps the SQL of recent statements; an import's
        # statements are long: drop them each batch so memory stays flat.
        reset_queries()
        if on_batch:
            on_batch(result)


_Records = list[tuple[int, ConversationRecord]]


class _Prepared(NamedTuple):
    """A batch as the parameters of SQLite's statements, made where it was parsed.

    Timestamps are already the text Django's SQLite backend stores; merchants and tags are
    named by external id and name (the statements look their ids up). A conversation's own
    rows lead with its index in the batch, which the writer turns into its primary key.
    """

    lines: list[int]
    ids: list[str]
    #: Each conversation's merchant values as of its filing (external id first).
    filings: list[tuple[Any, ...]]
    #: The latest filing of each merchant in the batch, by external id.
    merchants: list[tuple[Any, ...]]
    #: (name, display name), a new tag's display name as first seen, by name.
    tags: list[tuple[str, str]]
    conversations: list[tuple[Any, ...]]
    messages: list[tuple[Any, ...]]
    changes: list[tuple[Any, ...]]
    stretches: list[tuple[Any, ...]]
    conversation_tags: list[tuple[Any, ...]]
    pairs: list[tuple[Any, ...]]


_Batch = tuple[_Records | _Prepared, list[Rejection]]
_END = object()


def _parse_batches(
    lines: Iterable[tuple[int, bytes]], size: int, keep_rejected_lines: bool, prepare: bool
) -> Iterator[_Batch]:
    """Batches of parsed conversations (within a batch the later line of an id wins), each
    with the lines rejected while reading it; with ``prepare``, as SQLite's rows."""
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
            items = list(batch.values())
            yield (_prepare(items) if prepare else items), rejected
            batch, rejected = {}, []
    items = list(batch.values())
    yield (_prepare(items) if prepare and items else items), rejected


def _from_thread(produce: Callable[[], Iterator[_Batch]]) -> Iterator[_Batch]:
    """What ``produce`` yields, made one batch ahead in a thread of its own.

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

    def run() -> None:
        try:
            for item in produce():
                if not hand_over(item):
                    return
            hand_over(_END)
        except BaseException as exc:  # handed to the caller, which raises it
            hand_over(exc)

    thread = threading.Thread(target=run, name="sellerdesk-import-parser", daemon=True)
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


class ImportParserError(RuntimeError):
    """The parser process ended without saying why (killed, out of memory)."""


def _from_process(produce: Callable[[], Iterator[_Batch]], lines: Any) -> Iterator[_Batch]:
    """What ``produce`` yields, made in a forked process and sent over a pipe, pickled.

    The GIL is shared by a process's threads: parsing in a thread of the writing process
    leaves the machine's other cores idle, while SQLite's writing (one writer) keeps one core
    busy. The child reads the lines and parses; it touches no database. An error it meets
    (a truncated .gz) is raised here.
    """
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(
        target=_produce_into, args=(produce, lines, sender), name="sellerdesk-import-parser",
        daemon=True,
    )  # fmt: skip
    child.start()
    sender.close()
    try:
        while True:
            try:
                # Bytes from our own forked child, never from outside.
                kind, where, item = pickle.loads(receiver.recv_bytes())  # noqa: S301
            except EOFError:
                child.join(timeout=5)
                raise ImportParserError(
                    f"the import's parser process ended with exit code {child.exitcode}"
                ) from None
            for name, value in zip(("number", "position"), where, strict=True):
                if value is not None:
                    setattr(lines, name, value)
            if kind == "end":
                return
            if kind == "error":
                raise item
            yield item
    finally:
        receiver.close()  # a child still sending gets a broken pipe and ends
        child.join(timeout=5)
        if child.is_alive():
            child.terminate()
            child.join()


def _produce_into(produce: Callable[[], Iterator[_Batch]], lines: Any, sender: Any) -> None:
    """The parser process: send what ``produce`` yields, then the end or the error met.

    A forked child: the parent's database connections are not its own, and it neither uses
    nor closes them (multiprocessing ends it with ``os._exit``).
    """

    def send(kind: str, item: Any) -> None:
        where = (getattr(lines, "number", None), getattr(lines, "position", None))
        sender.send_bytes(pickle.dumps((kind, where, item), protocol=pickle.HIGHEST_PROTOCOL))

    try:
        for item in produce():
            send("batch", item)
        send("end", None)
    except (BrokenPipeError, ConnectionResetError):  # the parent stopped listening
        return
    except BaseException as exc:
        try:
            send("error", exc)
        except (BrokenPipeError, ConnectionResetError):
            return
        except Exception:  # an exception that cannot be pickled: its text
            send("error", ImportParserError(f"{type(exc).__name__}: {exc}"))


def _flush(batch: _Records | _Prepared, result: ImportResult) -> None:
    write: Callable[[Any], tuple[int, int]] = (
        _write_prepared if isinstance(batch, _Prepared) else _write
    )
    if not isinstance(batch, _Prepared):
        # PostgreSQL: the merchants first, in a short transaction of their own. An upsert
        # locks every merchant row it meets until its transaction ends; inside the batch's
        # transaction, concurrent import workers (whose batches share merchants) would each
        # wait for the other's whole batch. A merchant's values are those of its latest
        # filing whether or not that filing's conversation lands, and the upsert is
        # idempotent, so a batch retried one by one below finds them in place.
        with transaction.atomic():
            _relax_commit()
            _upsert_merchants(_latest_filings([record for _, record in batch]))
    try:
        with transaction.atomic():
            _relax_commit()
            created, replaced = write(batch)
    except DatabaseError as exc:
        # One record the database refuses must not take its batch with it: write one by one
        # and reject only the ones that fail, with the database's reason.
        logger.warning(
            "import batch failed (%s); retrying its %d conversations one by one",
            str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__,
            len(batch.ids) if isinstance(batch, _Prepared) else len(batch),
        )
        created = replaced = 0
        for line, one in _one_by_one(batch):
            try:
                with transaction.atomic():
                    one_created, one_replaced = write(one)
            except DatabaseError as exc:
                result.rejected.append(
                    Rejection(line, f"refused by the database: {str(exc).strip()[:300]}")
                )
                continue
            created += one_created
            replaced += one_replaced
    result.created += created
    result.replaced += replaced
    result.imported += created + replaced


def _one_by_one(batch: _Records | _Prepared) -> Iterator[tuple[int, Any]]:
    """Each conversation of a batch as a batch of its own, with its line."""
    if not isinstance(batch, _Prepared):
        for item in batch:
            yield item[0], [item]
        return
    for local, line in enumerate(batch.lines):

        def own(rows: list[tuple[Any, ...]], local: int = local) -> list[tuple[Any, ...]]:
            return [(0, *row[1:]) for row in rows if row[0] == local]

        tag_rows = own(batch.conversation_tags)
        names = {row[1] for row in tag_rows}
        yield line, _Prepared(
            lines=[line], ids=[batch.ids[local]], filings=[batch.filings[local]],
            merchants=[batch.filings[local]], tags=[t for t in batch.tags if t[0] in names],
            conversations=own(batch.conversations), messages=own(batch.messages),
            changes=own(batch.changes), stretches=own(batch.stretches),
            conversation_tags=tag_rows, pairs=own(batch.pairs),
        )  # fmt: skip


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
    # What Django's SQLite backend stores for an aware UTC datetime (records hold nothing
    # else), without its per-value checks: this runs for every timestamp of every imported
    # row. Cutting the "+00:00" off costs less than making the value naive first.
    return None if value is None else value.isoformat(" ")[:-6]


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
    # On PostgreSQL the keys go apart from the SQL text, as one binary array (``%b``; Django's
    # cursor would quote every key into the text, in Python: a tenth of an import's client
    # time, and psycopg's text arrays are written in Python too).
    with statement_cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"{sql} = ANY(%b)", [list(keys)])
            found.update(cursor.fetchall())
            return found
        for chunk in _chunks(keys):
            cursor.execute(f"{sql} IN ({_placeholders(len(chunk))})", list(chunk))
            found.update(cursor.fetchall())
    return found


def _latest_filings(records: list[ConversationRecord]) -> list[tuple[Any, ...]]:
    """Each merchant's values as of its latest filing in ``records``, by external id."""
    latest: dict[str, ConversationRecord] = {}
    for record in records:
        seen = latest.get(record.merchant.id)
        if seen is None or record.created_at >= seen.created_at:
            latest[record.merchant.id] = record
    _dt = _adapter()
    return [_filing(r, _dt) for _, r in sorted(latest.items())]


def _filing(record: ConversationRecord, dt: Callable[[datetime | None], Any]) -> tuple[Any, ...]:
    m = record.merchant
    return (m.id, m.name, m.country, m.status, m.language, dt(record.created_at))


def _upsert_merchants(filings: list[tuple[Any, ...]]) -> None:
    """Each merchant takes the values of its latest filing, in one upsert.

    The row is updated only when this filing is at least as recent as the one its values
    came from, so batches (and concurrent imports) may arrive in any order. ``filings`` come
    sorted by external id: one lock order for concurrent importers.
    """
    table = _table(Merchant)
    now = _adapter()(timezone.now())
    rows = [[*filing, now] for filing in filings]
    upsert = f"""INSERT INTO {table}
          (external_id, name, country, status, language, profile_at, created_at)
        {{values}}
        ON CONFLICT (external_id) DO UPDATE SET
          name = excluded.name, country = excluded.country, status = excluded.status,
          language = excluded.language, profile_at = excluded.profile_at
        WHERE {table}.profile_at IS NULL OR {table}.profile_at <= excluded.profile_at"""
    with statement_cursor() as cursor:  # the arrays bound on the server (see _ids_by)
        if connection.vendor == "postgresql":
            # One array per column: the same statement text whatever the batch.
            arrays = "%b::text[], %b::text[], %b::text[], %b::text[], %b::text[], "
            arrays += "%b::timestamptz[], %b::timestamptz[]"
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


def _tag_names(records: list[ConversationRecord]) -> dict[str, str]:
    """The display name of each tag as first seen, by normalized name."""
    names: dict[str, str] = {}
    for record in records:
        for name, display in record.tags.items():
            names.setdefault(name, display)
    return names


def _ensure_tags(names: dict[str, str]) -> dict[str, int]:
    """Tag ids by normalized name; a new tag keeps the display name it was first seen with."""
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
    """Write a batch of records on PostgreSQL; its merchants are already upserted (``_flush``)."""
    records = [record for _, record in batch]
    merchants = _ids_by(Merchant, "external_id", sorted({r.merchant.id for r in records}))
    tags = _ensure_tags(_tag_names(records))
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
        # Binary: the server reads timestamps and numbers as they are stored instead of
        # parsing their text, and the client writes them without formatting.
        with (
            connection.wrap_database_errors,
            cursor.cursor.copy(
                f"COPY {_table(model)} ({quoted}) FROM STDIN (FORMAT BINARY)"
            ) as copy,
        ):
            copy.set_types(_copy_types(model, tuple(columns)))
            for item in rows:
                copy.write_row(item)
        return
    cursor.executemany(
        f"INSERT INTO {_table(model)} ({quoted}) VALUES ({_placeholders(len(columns))})", rows
    )


@functools.cache
def _copy_types(model: Any, columns: tuple[str, ...]) -> list[str]:
    """The PostgreSQL types of ``columns``, for a binary COPY (``varchar(200)`` as
    ``varchar``: the column's own length check still applies as the server reads the row)."""
    fields = {f.column: f for f in model._meta.concrete_fields}
    return [fields[c].db_type(connection).split("(")[0] for c in columns]


# --- SQLite: rows prepared where they are parsed --------------------------------------------

_MERCHANT_ID = f"(SELECT id FROM {Merchant._meta.db_table} WHERE external_id = %s)"
_TAG_ID = f"(SELECT id FROM {Tag._meta.db_table} WHERE name = %s)"


def _prepare(items: list[tuple[int, ConversationRecord]]) -> _Prepared:
    """A batch's rows for SQLite (see ``_Prepared``): the Python work of writing it, done
    beside the writer rather than in it. (The hot loop of an import: local names, no helper
    calls per row.)"""
    batch = _Prepared([], [], [], [], [], [], [], [], [], [], [])
    messages, changes, stretches = batch.messages, batch.changes, batch.stretches
    tag_rows, pairs = batch.conversation_tags, batch.pairs
    tags: dict[str, str] = {}
    merchant = InitiatedBy.MERCHANT.value
    for local, (number, r) in enumerate(items):
        m = r.merchant
        start = r.created_at
        # Records carry the fields the facts are derived from (duck-typed): no copies.
        f = facts.derive(start, cast(Any, r.messages), cast(Any, r.status_changes))
        created = start.isoformat(" ")[:-6]  # as _as_text, inline
        first = f.first_response_at
        resolved = f.resolved_at
        changed = f.status_changed_at
        batch.lines.append(number)
        batch.ids.append(r.id)
        batch.filings.append((m.id, m.name, m.country, m.status, m.language, created))
        batch.conversations.append((
            local, r.id, m.id, m.country, r.channel, r.kind, r.initiated_by, r.subject,
            f.status, r.spam, r.outcome, created,
            None if first is None else first.isoformat(" ")[:-6],
            None if first is None else (first - start).total_seconds(),
            None if resolved is None else resolved.isoformat(" ")[:-6],
            None if resolved is None else (resolved - start).total_seconds(),
            None if changed is None else changed.isoformat(" ")[:-6],
            len(r.status_changes), len(r.messages),
        ))  # fmt: skip
        messages += [
            (local, x.id, x.author_type, x.author_id, x.author_name, x.public, x.body,
             x.created_at.isoformat(" ")[:-6])
            for x in r.messages
        ]  # fmt: skip
        changes += [
            (local, c.status, c.at.isoformat(" ")[:-6], c.seq, c.by) for c in r.status_changes
        ]
        for s in f.stretches:
            ended = s.ended_at
            stretches.append((
                local, s.started_at.isoformat(" ")[:-6],
                None if ended is None else ended.isoformat(" ")[:-6],
                (s.started_at - start).total_seconds(),
            ))  # fmt: skip
        if r.tags:
            names = sorted(r.tags)  # code-point order: pairs are stored with a < b
            country = m.country
            counted = r.initiated_by == merchant and not r.spam  # as _counted
            tag_rows += [(local, n, created, country, counted) for n in names]
            if len(names) > 1:
                pairs += [
                    (local, a, b, created, country, counted) for a, b in combinations(names, 2)
                ]
            for name, display in r.tags.items():
                tags.setdefault(name, display)
    batch.merchants.extend(_latest_filings([r for _, r in items]))
    batch.tags.extend(sorted(tags.items()))  # one lock order
    return batch


def _write_prepared(batch: _Prepared) -> tuple[int, int]:
    """Write a prepared batch (SQLite): a few statements, with no Python work per row when
    none of its conversations is stored yet."""
    _upsert_merchants(batch.merchants)
    conversation_table = _table(Conversation)
    with connection.cursor() as cursor:
        if batch.tags:
            cursor.executemany(
                f"INSERT INTO {_table(Tag)} (name, display_name) VALUES (%s, %s) "
                "ON CONFLICT (name) DO NOTHING",
                batch.tags,
            )
        existing = _ids_by(Conversation, "external_id", batch.ids)
        # New conversations take the ids AUTOINCREMENT would give them, in batch order; the
        # transaction holds SQLite's one write lock, so nobody else takes them meanwhile.
        cursor.execute(
            "SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = %s), 0), "
            f"COALESCE((SELECT MAX(id) FROM {conversation_table}), 0))",
            [Conversation._meta.db_table],
        )
        next_id = int(cursor.fetchone()[0]) + 1
        keys: list[int] = []
        for external_id in batch.ids:
            key = existing.get(external_id)
            if key is None:
                key, next_id = next_id, next_id + 1
            keys.append(key)
        fresh = batch.conversations
        if existing:
            # Replacements keep their row: its derived rows go, the row is updated.
            for model in _CHILD_MODELS:
                _delete_children(cursor, model, list(existing.values()))
            assignments = ", ".join(
                f"{c} = {_MERCHANT_ID if c == 'merchant_id' else '%s'}"
                for c in _CONVERSATION_COLUMNS
            )
            cursor.executemany(
                f"UPDATE {conversation_table} SET {assignments} WHERE id = %s",
                [(*row[2:], keys[row[0]]) for row in batch.conversations if row[1] in existing],
            )
            fresh = [row for row in batch.conversations if row[1] not in existing]

        # Rows lead with their conversation's index in the batch. When the keys run on from
        # the first one (no replacement), the statements add the first key in SQL; else the
        # rows get their keys here.
        offset = 0 if existing else keys[0]

        def keyed(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
            return [(keys[row[0]], *row[1:]) for row in rows] if existing else rows

        pk = f"%s + {int(offset)}"
        conversation_values = ", ".join(
            _MERCHANT_ID if c == "merchant_id" else "%s" for c in _CONVERSATION_COLUMNS
        )
        statements: list[tuple[Any, str, str, list[tuple[Any, ...]]]] = [
            (Conversation, f"id, external_id, {', '.join(_CONVERSATION_COLUMNS)}",
             f"{pk}, %s, {conversation_values}", fresh),
            (Message, "conversation_id, external_id, author_type, author_id, author_name, public, body, created_at",
             f"{pk}, %s, %s, %s, %s, %s, %s, %s", batch.messages),
            (StatusChange, 'conversation_id, status, "at", seq, "by"',
             f"{pk}, %s, %s, %s, %s", batch.changes),
            (ResolutionStretch, "conversation_id, started_at, ended_at, started_seconds",
             f"{pk}, %s, %s, %s", batch.stretches),
            (ConversationTag, "conversation_id, tag_id, created_at, country, counted",
             f"{pk}, {_TAG_ID}, %s, %s, %s", batch.conversation_tags),
            (ConversationTagPair, "conversation_id, tag_a_id, tag_b_id, created_at, country, counted",
             f"{pk}, {_TAG_ID}, {_TAG_ID}, %s, %s, %s", batch.pairs),
        ]  # fmt: skip
        for model, columns, values, rows in statements:
            if rows:
                cursor.executemany(
                    f"INSERT INTO {_table(model)} ({columns}) VALUES ({values})", keyed(rows)
                )
    return len(fresh), len(existing)


def _counted(record: ConversationRecord) -> bool:
    return record.initiated_by == InitiatedBy.MERCHANT and not record.spam


def _message_facts(record: ConversationRecord) -> list[facts.MessageFact]:
    return [facts.MessageFact(m.author_type, m.public, m.created_at) for m in record.messages]


def _status_facts(record: ConversationRecord) -> list[facts.StatusFact]:
    return [facts.StatusFact(c.status, c.at, c.seq) for c in record.status_changes]
