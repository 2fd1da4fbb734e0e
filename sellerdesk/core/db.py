"""Database helpers shared by the readers that must see one moment: the report, the export."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
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
    with connection.cursor() as cursor:
        cursor.execute("BEGIN DEFERRED")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("COMMIT")
