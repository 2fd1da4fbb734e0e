"""Importing an interchange file: numbered lines, ``.gz``, and the work spread over processes.

On PostgreSQL one process parses and writes about 3,500 conversations a second, and spends
much of that waiting for the database while the machine's other core idles. ``workers > 1``
forks worker processes that each read the whole file but import only their share of the
conversations, chosen by a hash of the conversation's id: every line of one id goes to the
same worker, in file order, so "the later line wins" still holds. Merchant upserts keep the
latest filing whatever order workers commit in (see ``importer._upsert_merchants``); rows are
locked in sorted order, so workers cannot deadlock each other. Lines whose id cannot be read
(bad JSON) go to the first worker, which rejects them with their reason. SQLite has one
writer: there the parsing runs in a process of its own beside it instead.
"""

from __future__ import annotations

import gzip
import json
import multiprocessing
import os
import queue
import sys
import time
import zlib
from collections.abc import Callable, Iterator
from typing import IO, Any, cast

from django.db import connection, connections

from sellerdesk.conversations.first_load import indexes_built_after_a_first_load
from sellerdesk.conversations.importer import ImportResult, Rejection, conversations_import
from sellerdesk.conversations.interchange import leading_id
from sellerdesk.conversations.models import (
    Conversation,
    ConversationTag,
    ConversationTagPair,
    ResolutionStretch,
)

Progress = Callable[[int, int], None]  # (bytes read, conversations imported)
_DONE = 2**62


class ImportReadError(OSError):
    """The file could not be read to its end (a truncated .gz, a disk error)."""

    def __init__(self, path: str, line: int, reason: str) -> None:
        super().__init__(f"{path}: cannot read past line {line}: {reason}")


class ImportWorkerError(RuntimeError):
    """A worker process failed; what the other workers committed stays (re-import is safe)."""


def open_interchange(path: str) -> IO[bytes]:
    """The file's bytes, decompressed when its name ends in .gz; ``-`` is standard input."""
    if path == "-":
        try:
            descriptor = sys.stdin.fileno()
        except (AttributeError, OSError, ValueError):  # replaced by an in-memory stream
            return sys.stdin.buffer
        # A handle of its own on the same input: the parser process (SQLite) reads it after
        # multiprocessing has closed the child's ``sys.stdin``.
        return os.fdopen(os.dup(descriptor), "rb")
    if path.endswith(".gz"):
        return cast(IO[bytes], gzip.open(path, "rb"))
    return open(path, "rb")  # closed by the caller


def default_workers(path: str) -> int:
    """Worker processes for a file: one where sharing is impossible or pointless.

    Standard input cannot be read twice; an open transaction (a caller's, or a test's) cannot
    be shared with other processes; SQLite has one writer at a time.
    """
    if path == "-" or connection.in_atomic_block:
        return 1
    if connection.vendor == "sqlite":
        # One writer at a time, and the parsing already runs in a process of its own beside
        # it (see _import_share): another worker would only wait for the write lock.
        return 1
    return max(1, min(os.cpu_count() or 1, 4))


class _Lines:
    """Numbered lines of a file, with how many bytes of it have been read."""

    def __init__(self, handle: IO[bytes]) -> None:
        self.handle = handle
        self.number = 0
        self.position = 0
        self._compressed = getattr(handle, "fileobj", None)

    def __iter__(self) -> Iterator[tuple[int, bytes]]:
        for line in self.handle:
            self.number += 1
            if self._compressed is not None:
                self.position = self._compressed.tell()
            else:
                self.position += len(line)
            yield self.number, line


def _owner(raw: bytes, workers: int) -> int:
    """Which worker imports this line: by the conversation id, or the first one.

    Every worker asks this of every line: the id is read off the line's start where it
    opens with it (the common case, a regular expression) and parsed out of the JSON only
    otherwise."""
    conversation_id: Any = leading_id(raw)
    if conversation_id is None:
        try:
            obj = json.loads(raw)
        except ValueError:
            return 0
        conversation_id = obj.get("id") if isinstance(obj, dict) else None
    if not isinstance(conversation_id, str):
        return 0
    return zlib.crc32(conversation_id.encode("utf-8", "surrogatepass")) % workers


def _import_share(
    path: str,
    *,
    worker: int,
    workers: int,
    batch_size: int | None,
    keep_rejected_lines: bool,
    on_progress: Progress | None,
) -> ImportResult:
    handle = open_interchange(path)
    lines = _Lines(handle)
    mine = (
        lines if workers == 1 else ((n, raw) for n, raw in lines if _owner(raw, workers) == worker)
    )

    def progress(result: ImportResult) -> None:
        if on_progress:
            on_progress(lines.position, result.imported)

    try:
        return conversations_import(
            mine, batch_size=batch_size, on_batch=progress, keep_rejected_lines=keep_rejected_lines,
            # SQLite's one writer keeps one core busy: parsing takes the other (unless the
            # input is an in-memory stream, which the process could not read).
            parse_in_process=connection.vendor == "sqlite" and handle is not sys.stdin.buffer,
        )  # fmt: skip
    except (EOFError, gzip.BadGzipFile, OSError) as exc:
        raise ImportReadError(path, lines.number, str(exc) or type(exc).__name__) from exc
    finally:
        if handle is not sys.stdin.buffer:
            handle.close()


#: After an import this large, the planner's statistics are refreshed at once.
ANALYZE_AFTER = 10_000


def conversations_import_file(
    path: str,
    *,
    workers: int = 1,
    batch_size: int | None = None,
    keep_rejected_lines: bool = False,
    on_progress: Progress | None = None,
) -> ImportResult:
    """Import an interchange file with ``workers`` processes; rejections in line order.

    On PostgreSQL a load into empty tables builds its indexes once at the end, after every
    worker is done (``first_load``)."""
    with indexes_built_after_a_first_load():
        result = _import_file(path, workers, batch_size, keep_rejected_lines, on_progress)
    if result.imported >= ANALYZE_AFTER:
        refresh_statistics()
    return result


def refresh_statistics() -> None:
    """Bring the planner's statistics up to date after a bulk load, as autovacuum would later.

    SQLite has no autovacuum: without statistics it cannot tell that the report's indexes,
    which lead with the country, are best walked a country at a time (a skip-scan).
    """
    tables = [
        model._meta.db_table
        for model in (Conversation, ConversationTag, ConversationTagPair, ResolutionStretch)
    ]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("ANALYZE " + ", ".join(connection.ops.quote_name(t) for t in tables))
        else:
            for table in tables:
                cursor.execute(f"ANALYZE {connection.ops.quote_name(table)}")


def _import_file(
    path: str,
    workers: int,
    batch_size: int | None,
    keep_rejected_lines: bool,
    on_progress: Progress | None,
) -> ImportResult:
    if workers <= 1 or path == "-":
        return _import_share(
            path, worker=0, workers=1, batch_size=batch_size,
            keep_rejected_lines=keep_rejected_lines, on_progress=on_progress,
        )  # fmt: skip
    # Children must not share the parent's database connection: each opens its own.
    connections.close_all()
    context = multiprocessing.get_context("fork")
    positions = context.Array("q", workers)
    imported = context.Array("q", workers)
    outcomes: Any = context.Queue()
    processes = [
        context.Process(
            target=_worker,
            args=(path, index, workers, batch_size, keep_rejected_lines, positions, imported, outcomes),
            name=f"sellerdesk-import-{index}",
        )
        for index in range(workers)
    ]  # fmt: skip
    for process in processes:
        process.start()
    results: dict[int, ImportResult] = {}
    failures: list[str] = []
    while len(results) + len(failures) < workers:
        try:
            index, result, failure = outcomes.get(timeout=0.2)
        except queue.Empty:  # meanwhile: report progress, notice a worker that died
            if on_progress:
                on_progress(_slowest(positions[:]), sum(imported[:]))
            dead = [p for p in processes if p.exitcode not in (None, 0)]
            if dead and outcomes.empty():
                time.sleep(0.2)
                if outcomes.empty():
                    failures.append(
                        f"worker {dead[0].name} ended with exit code {dead[0].exitcode}"
                    )
                    break
            continue
        if failure:
            failures.append(failure)
        else:
            results[index] = result
    for process in processes:
        process.join(timeout=None if not failures else 5)
        if process.is_alive():
            process.terminate()
    if failures:
        raise ImportWorkerError("; ".join(failures))
    total = ImportResult()
    rejected: list[Rejection] = []
    for result in results.values():
        total.created += result.created
        total.replaced += result.replaced
        total.imported += result.imported
        rejected.extend(result.rejected)
    total.rejected = sorted(rejected, key=lambda r: r.line)
    return total


def _slowest(positions: list[int]) -> int:
    """How far the file has been read by every worker still reading it."""
    reading = [position for position in positions if position < _DONE]
    return min(reading) if reading else 0


def _worker(
    path: str,
    index: int,
    workers: int,
    batch_size: int | None,
    keep_rejected_lines: bool,
    positions: Any,
    imported: Any,
    outcomes: Any,
) -> None:
    def progress(position: int, count: int) -> None:
        positions[index] = position
        imported[index] = count

    try:
        result = _import_share(
            path, worker=index, workers=workers, batch_size=batch_size,
            keep_rejected_lines=keep_rejected_lines, on_progress=progress,
        )  # fmt: skip
        positions[index] = _DONE  # no longer the slowest
        outcomes.put((index, result, None))
    except BaseException as exc:  # reported to the parent, which raises it
        outcomes.put((index, None, str(exc) or type(exc).__name__))
    finally:
        connections.close_all()
