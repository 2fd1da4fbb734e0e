"""The search index of a first load on SQLite, built beside the load instead of after it.

A first load into empty tables drops the FTS5 triggers (``importer``): fed batch by batch,
FTS5 writes and merges many small segments. Indexing the messages once after the load (FTS5
``rebuild``) is the longest single step left at its end, about 3.5 s of CPU per 100,000
conversations on one core while the machine's other core idles. Here a process of its own
indexes the rows as the writer commits them, into an FTS5 table of the same definition in a
scratch file, using the time the writer spends waiting for the parser; at the end the writer
copies the finished index (FTS5's shadow tables) into the database in one transaction and
puts the triggers back.

The copy is the index ``rebuild`` would make only when the builder saw every row as it is
now: rows are appended with ever larger ids (one writer at a time, ids never reused), so the
builder reads ``id > the last one read``; what it cannot see is a row deleted or a subject
changed after it read it. The copy is therefore made only when the load replaced no
conversation, nobody put the triggers back meanwhile (another importer), and each content
table holds exactly the rows indexed: checked under the write lock, after the rows committed
since the builder's last look are indexed in the same transaction. Otherwise the caller
falls back to ``rebuild``.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import sqlite3
from typing import Any

logger = logging.getLogger(__name__)

#: Rows indexed a transaction (fewer cost more CPU: FTS5 merges more, smaller segments).
_CHUNK = 20_000
#: How long the builder waits for new rows (or a word from the writer) when it has caught up.
_IDLE = 0.2


class SideIndex:
    """FTS5 tables ``tables`` ((fts table, content table, column)) of the SQLite file
    ``database``, built by a forked process into a scratch file beside it."""

    def __init__(self, database: str, tables: list[tuple[str, str, str]], timeout: float) -> None:
        self.database = database
        self.tables = tables
        self.timeout = timeout
        self.path = f"{database}.search-{os.getpid()}"
        self._remove_scratch()
        context = multiprocessing.get_context("fork")
        self._channel, child_end = context.Pipe()
        self._process = context.Process(
            target=_build, args=(database, self.path, tables, timeout, child_end),
            name="sellerdesk-import-search", daemon=True,
        )  # fmt: skip
        self._process.start()
        child_end.close()
        self._finished = False

    def finish(self) -> None:
        """Tell the builder the load has ended: it indexes what is left, then stops."""
        if not self._finished:
            self._finished = True
            with contextlib.suppress(OSError):
                self._channel.send("finish")

    def install(self, triggers: list[str], replaced: bool) -> bool:
        """Copy the finished index into the database and create ``triggers`` (statements),
        in one transaction; False (nothing changed) when the copy would not be exact."""
        try:
            read = self._read()
            if replaced or read is None:
                return False
            return self._install(read, triggers)
        finally:
            self.discard()

    def _read(self) -> dict[str, tuple[int, int]] | None:
        """(last id, rows indexed) by FTS table once the builder has ended; None if it failed."""
        self.finish()
        try:
            reply = self._channel.recv()
        except (EOFError, OSError):
            return None
        if isinstance(reply, str):
            logger.warning("search index built beside the load failed: %s", reply)
            return None
        self._process.join()
        return dict(reply)

    def _install(self, read: dict[str, tuple[int, int]], triggers: list[str]) -> bool:
        # A connection of its own: FTS5 caches an index's structure per connection and
        # notices other connections' writes only; the caller's then sees the new index.
        db = sqlite3.connect(self.database, timeout=self.timeout, isolation_level=None)
        try:
            db.execute("ATTACH DATABASE ? AS side", [self.path])
            db.execute("BEGIN IMMEDIATE")  # nobody commits until the copy is in
            if self._triggers_back(db):
                db.execute("ROLLBACK")
                return False  # another importer put them back (and re-indexed)
            for fts, table, column in self.tables:
                for shadow in _shadow_tables(db, fts):
                    db.execute(f"DELETE FROM main.{shadow}")  # noqa: S608 (our table names)
                    db.execute(f"INSERT INTO main.{shadow} SELECT * FROM side.{shadow}")  # noqa: S608
                last, indexed = read[fts]
                # Rows committed after the builder's last look (by another writer).
                cursor = db.execute(
                    f"INSERT INTO main.{fts}(rowid, {column}) "  # noqa: S608
                    f"SELECT id, {column} FROM main.{table} WHERE id > ?",
                    [last],
                )
                (stored,) = db.execute(f"SELECT COUNT(*) FROM main.{table}").fetchone()  # noqa: S608
                if stored != indexed + max(cursor.rowcount, 0):
                    db.execute("ROLLBACK")
                    return False  # a row deleted after the builder read it
            for statement in triggers:
                db.execute(statement)
            db.execute("COMMIT")
            return True
        except sqlite3.Error as exc:
            logger.warning("search index built beside the load not used: %s", exc)
            if db.in_transaction:
                db.execute("ROLLBACK")
            return False
        finally:
            db.close()

    def _triggers_back(self, db: sqlite3.Connection) -> bool:
        names = {name for (name,) in db.execute("SELECT name FROM main.sqlite_master")}
        return any(
            f"{fts}_{kind}" in names for fts, _, _ in self.tables for kind in ("ai", "ad", "au")
        )

    def discard(self) -> None:
        """Stop the builder (if it still runs) and remove its scratch file."""
        self._channel.close()
        if self._process.is_alive():
            self._process.terminate()
        self._process.join()
        self._remove_scratch()

    def _remove_scratch(self) -> None:
        for suffix in ("", "-journal", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.remove(self.path + suffix)


def _shadow_tables(db: sqlite3.Connection, fts: str) -> list[str]:
    """The shadow tables of FTS5 table ``fts`` (its index, sizes and configuration)."""
    candidates = [f"{fts}_{suffix}" for suffix in ("data", "idx", "docsize", "config", "content")]
    return [
        name
        for (name,) in db.execute(
            "SELECT name FROM side.sqlite_master WHERE type = 'table' AND name IN (?, ?, ?, ?, ?)",
            candidates,
        )
    ]


def _build(
    database: str, path: str, tables: list[tuple[str, str, str]], timeout: float, channel: Any
) -> None:
    """The builder process: index the rows the writer commits until told ``finish``, then
    the rest, and send (the last id read, the rows indexed) per FTS table, or the error met.

    A forked child: the parent's database connections are not its own, and it neither uses
    nor closes them (multiprocessing ends it with ``os._exit``)."""
    try:
        side = sqlite3.connect(path, timeout=timeout, isolation_level=None)
        # A scratch file, removed whatever happens: no journal, no syncing.
        side.execute("PRAGMA journal_mode = OFF")
        side.execute("PRAGMA synchronous = OFF")
        side.execute("ATTACH DATABASE ? AS load", [database])
        for fts, _, _ in tables:
            # The same definition as the database's table, so the copied index fits it.
            (sql,) = side.execute(
                "SELECT sql FROM load.sqlite_master WHERE type = 'table' AND name = ?", [fts]
            ).fetchone()
            side.execute(sql)
        last = dict.fromkeys((fts for fts, _, _ in tables), 0)
        counts = dict.fromkeys((fts for fts, _, _ in tables), 0)

        for fts, _, column in tables:
            side.execute(f"CREATE TABLE {fts}_rows (id INTEGER PRIMARY KEY, {column})")

        def catch_up(final: bool) -> int:
            """Index the rows committed since the last look, a chunk at a time (FTS5 writes
            a segment at each commit: no smaller chunk before the end). Each chunk is first
            copied as it is (a short read: a reader holding its snapshot while the chunk is
            indexed would keep the writer from starting its log afresh, which then grows by
            gigabytes), then indexed from the copy."""
            read = 0
            for fts, table, column in tables:
                while True:
                    if (
                        not final
                        and not side.execute(
                            f"SELECT EXISTS (SELECT 1 FROM load.{table} WHERE id >= ?)",  # noqa: S608
                            [last[fts] + _CHUNK],
                        ).fetchone()[0]
                    ):
                        break  # less than a chunk yet (ids of a load run on, nearly gapless)
                    side.execute("BEGIN")
                    side.execute(
                        f"INSERT INTO {fts}_rows SELECT id, {column} FROM load.{table} "  # noqa: S608
                        "WHERE id > ? ORDER BY id LIMIT ?",
                        [last[fts], _CHUNK],
                    )
                    rows, top = side.execute(f"SELECT COUNT(*), MAX(id) FROM {fts}_rows").fetchone()  # noqa: S608
                    if not rows:
                        side.execute("ROLLBACK")
                        break
                    side.execute("COMMIT")  # the read of the database ends here
                    side.execute("BEGIN")
                    side.execute(
                        f"INSERT INTO main.{fts}(rowid, {column}) SELECT id, {column} "  # noqa: S608
                        f"FROM {fts}_rows"
                    )
                    side.execute(f"DELETE FROM {fts}_rows")  # noqa: S608
                    side.execute("COMMIT")
                    last[fts] = top
                    counts[fts] += rows
                    read += rows
            return read

        while True:
            if catch_up(final=False) == 0 and channel.poll(_IDLE):
                channel.recv()  # "finish"
                catch_up(final=True)
                side.close()
                channel.send(sorted((fts, (last[fts], counts[fts])) for fts in last))
                return
    except (BrokenPipeError, ConnectionResetError, EOFError):  # the writer stopped listening
        return
    except BaseException as exc:
        with contextlib.suppress(OSError):
            channel.send(f"{type(exc).__name__}: {exc}")
