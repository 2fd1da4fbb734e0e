"""Database helpers shared by the readers that must see one moment: the report, the export."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from django.db import transaction


@contextmanager
def read_snapshot(connection: Any, *, repeatable: bool = False) -> Iterator[None]:
    """One read transaction, so that every statement inside it sees the same data.

    ``repeatable``: REPEATABLE READ on PostgreSQL, where a READ COMMITTED transaction takes a
    new snapshot per statement (and where another connection may import this snapshot).
    sellerdesk opens SQLite transactions IMMEDIATE (writers queue instead of failing), which
    would hold the write lock for the whole read: outside any transaction a reader opens a
    deferred one of its own, a snapshot in WAL mode beside which writers go on.
    """
    if connection.vendor != "sqlite" or connection.in_atomic_block:
        # Inside a caller's transaction, its isolation holds (it may have read already).
        outermost = not connection.in_atomic_block
        with transaction.atomic(using=connection.alias):
            if repeatable and outermost:
                with connection.cursor() as cursor:
                    cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield
        return
    connection.ensure_connection()
    if connection.connection.in_transaction:
        # Inside a caller's read_snapshot (its BEGIN DEFERRED): the same snapshot.
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("BEGIN DEFERRED")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("COMMIT")


def snapshot_moment(connection: Any) -> datetime:
    """The moment of the snapshot of the read_snapshot around this call: call it first.

    The snapshot is taken by the first read (PostgreSQL's REPEATABLE READ at its first
    statement, SQLite's WAL at its first page read); this is that read, and the time just
    after it rounded up to the second. Every row the snapshot holds was committed before it,
    so its timestamps are not later (one clock: the application's, on the machine that also
    runs the database); a row committed after it is not in the snapshot, whatever its
    timestamps say.
    """
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT clock_timestamp()")
            moment = cursor.fetchone()[0]
        else:
            cursor.execute("SELECT count(*) FROM sqlite_master")
            cursor.fetchone()
            moment = datetime.now(UTC)
    whole = math.ceil(moment.timestamp())
    return datetime.fromtimestamp(whole, UTC)
