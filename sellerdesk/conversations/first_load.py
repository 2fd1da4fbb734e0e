"""On PostgreSQL, a file import into empty tables builds its indexes and checks its keys at its end.

Kept up entry by entry, the four GIN indexes of search (``to_tsvector`` and pg_trgm over
message bodies and subjects, migration 0011) cost PostgreSQL more CPU than everything else an
import writes: at 100k conversations 15.7 s of the server's 28 s, where building them once
from the loaded tables takes 8 s. The report's indexes and the models' indexes on keys that
arrive in random order (``importer.deferred_model_indexes``) are left out too and built in
the same pass, several at a time on connections of their own, largest first. The foreign keys
of the ids an import fills (``_CHECKED``), which PostgreSQL checks row by row as they go in
(4.7 s of its CPU at 100k), are dropped as well and added back exactly as they stood, each
checking every row in one join (about 1 s).

An import into tables that are not empty keeps every index and key, and first puts back any
that is missing: one a killed first load left out. Concurrent importers agree on who drops
them under a table lock; one that cannot have the lock soon (a long-running read of the
tables) simply imports with everything in place. SQLite does the same for its indexes inside
``importer`` (its one writer builds them itself, one at a time).
"""

from __future__ import annotations

import importlib
import logging
import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

from django.db import DatabaseError, connection, transaction

from sellerdesk.conversations.importer import (
    deferred_model_indexes,
    if_not_exists,
    migrated,
)
from sellerdesk.conversations.models import Conversation, ConversationTag, Message, StatusChange

logger = logging.getLogger(__name__)

_REPORT_INDEXES = importlib.import_module("sellerdesk.conversations.migrations.0002_report_indexes")
_SEARCH = importlib.import_module("sellerdesk.conversations.migrations.0011_search")

#: How long a first load waits for the tables' lock before it imports with the indexes in place.
LOCK_WAIT = "5s"


def _deferred() -> list[tuple[str, str]]:
    """(name, CREATE INDEX statement) of every index a first load builds at its end, largest
    first (the message body's trigram index alone takes about half of the time)."""
    found: list[tuple[str, str]] = []
    if migrated(_SEARCH):
        statements = [s for s in _SEARCH.POSTGRESQL if s.startswith("CREATE INDEX")]
        found += zip(_SEARCH.POSTGRESQL_NAMES, statements, strict=True)
    if migrated(_REPORT_INDEXES):
        found += zip(_REPORT_INDEXES.NAMES, _REPORT_INDEXES.POSTGRESQL, strict=True)
    found += deferred_model_indexes()
    largest_first = ("conv_message_trgm_idx", "conv_message_fts_idx", "conv_subject_trgm_idx")
    found.sort(key=lambda item: largest_first.index(item[0]) if item[0] in largest_first else 9)
    return found


def _present(cursor: Any, names: list[str]) -> set[str]:
    cursor.execute(
        "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() "
        "AND indexname = ANY(%s)",
        [names],
    )
    return {name for (name,) in cursor.fetchall()}


#: The foreign keys whose every row an import checks: the columns it fills with ids.
_CHECKED = (
    (Conversation, "merchant"), (Message, "conversation"), (StatusChange, "conversation"),
    (ConversationTag, "conversation"), (ConversationTag, "tag"),
)  # fmt: skip


def _foreign_keys(cursor: Any) -> dict[tuple[str, str], tuple[str, str]]:
    """(table, column) of each ``_CHECKED`` foreign key in place: its constraint's ALTER
    TABLE … DROP and ADD statements, the ADD exactly as the constraint stands."""
    tables = sorted({model._meta.db_table for model, _ in _CHECKED})
    columns = {(m._meta.db_table, _field(m, f).column) for m, f in _CHECKED}
    cursor.execute(
        "SELECT c.conrelid::regclass::text, a.attname, c.conname, pg_get_constraintdef(c.oid) "
        "FROM pg_constraint c JOIN pg_attribute a "
        "ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1] "
        "WHERE c.contype = 'f' AND c.conrelid = ANY(%s::regclass[])",
        [tables],
    )
    qn = connection.ops.quote_name
    return {
        (table, column): (
            f"ALTER TABLE {qn(table)} DROP CONSTRAINT {qn(name)}",
            f"ALTER TABLE {qn(table)} ADD CONSTRAINT {qn(name)} {definition}",
        )
        for table, column, name, definition in cursor.fetchall()
        if (table, column) in columns
    }


def _foreign_keys_as_migrated() -> dict[tuple[str, str], str]:
    """(table, column) of each ``_CHECKED`` foreign key: the statement that adds it as a
    migration does (for one a killed first load left out)."""
    editor: Any = connection.schema_editor(collect_sql=True)
    return {
        (model._meta.db_table, _field(model, name).column): str(
            # Django's own, as its migrations name and write them.
            editor._create_fk_sql(model, _field(model, name), "_fk_%(to_table)s_%(to_column)s")
        )
        for model, name in _CHECKED
        if _field(model, name).db_constraint
    }


def _field(model: Any, name: str) -> Any:
    return model._meta.get_field(name)


@contextmanager
def indexes_built_after_a_first_load(builders: int | None = None) -> Iterator[None]:
    """Around a whole file import on PostgreSQL (all its worker processes): drop the deferred
    indexes and the checked foreign keys when the tables are empty, and build them at the
    end, the indexes with ``builders`` connections (default: one per core); otherwise put
    back any that is missing first."""
    if connection.vendor != "postgresql":
        yield
        return
    deferred = _deferred()
    names = [name for name, _ in deferred]
    expected_keys = _foreign_keys_as_migrated()
    table = connection.ops.quote_name(Conversation._meta.db_table)
    dropped: list[tuple[str, str]] = []
    dropped_keys: dict[tuple[str, str], str] = {}
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_WAIT}'")
            cursor.execute(f"LOCK TABLE {table} IN SHARE ROW EXCLUSIVE MODE")
            present = _present(cursor, names)
            keys = _foreign_keys(cursor)
            present_keys = set(keys)
            cursor.execute(f"SELECT EXISTS (SELECT 1 FROM {table})")  # noqa: S608 (a model table)
            empty = not cursor.fetchone()[0]
            if empty:
                for name, sql in deferred:
                    if name in present:
                        cursor.execute(f"DROP INDEX {connection.ops.quote_name(name)}")
                        dropped.append((name, sql))
                for key, (drop, add) in keys.items():
                    cursor.execute(drop)
                    dropped_keys[key] = add
    except DatabaseError as exc:  # the lock not had in time: import with the indexes in place
        logger.info("import keeps its indexes: %s", str(exc).strip().splitlines()[0])
        empty = False
        present = set(names)
        present_keys = set(expected_keys)
        dropped, dropped_keys = [], {}
    if not empty:
        if len(present) < len(names):
            _build([(n, sql) for n, sql in deferred if n not in present], builders)
        _add_keys({key: add for key, add in expected_keys.items() if key not in present_keys})
    try:
        yield
    finally:
        if dropped:
            _build(dropped, builders)
        _add_keys(dropped_keys)


def _add_keys(statements: dict[tuple[str, str], str]) -> None:
    """Add the foreign keys of these (table, column) not there by now (a concurrent importer
    may have put one back): each checks the rows already there in one join, not row by row."""
    if not statements:
        return
    started = time.monotonic()
    with connection.cursor() as cursor:
        present = _foreign_keys(cursor)
        for key, sql in statements.items():
            if key not in present:
                cursor.execute(sql)
    logger.info("foreign keys added after the load in %.1f s", time.monotonic() - started)


def _build(indexes: list[tuple[str, str]], builders: int | None) -> None:
    """Create ``indexes`` (if not there), each on a connection of its own unless the caller's
    connection is inside a transaction (whose uncommitted rows and locks only it can see)."""
    statements = [if_not_exists(sql) for _, sql in indexes]
    if connection.in_atomic_block:
        with connection.cursor() as cursor:
            # PostgreSQL builds no index on a table whose rows' deferred foreign-key checks
            # are pending in this transaction: run them now (they would run at its commit).
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            for sql in statements:
                cursor.execute(sql)
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        return

    def build(sql: str) -> None:
        started = time.monotonic()
        try:
            with connection.cursor() as cursor:  # this thread's own connection
                cursor.execute(sql)
        finally:
            connection.close()
        logger.info("built after the load in %.1f s: %s", time.monotonic() - started, sql)

    count = max(1, min(builders or os.cpu_count() or 1, len(statements)))
    with ThreadPoolExecutor(count, thread_name_prefix="sellerdesk-index") as pool:
        for future in [pool.submit(build, sql) for sql in statements]:
            future.result()
