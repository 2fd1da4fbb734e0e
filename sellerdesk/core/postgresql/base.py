"""PostgreSQL as Django's backend serves it, with writes that may wait for the COMMIT.

A row whose insert nobody reads back in its transaction — an outbox item, an idempotency
record — can be handed to ``core.rows.insert(..., later=True)``. It is then sent with the
transaction's COMMIT, in one psycopg pipeline: one round trip for the rows and the COMMIT
instead of one each, and the database's work for them unchanged. Nothing else changes:

- a statement sent through any of this connection's Django cursors first sends the rows
  waiting (in their own pipeline), so every read in the transaction sees them, and a
  SAVEPOINT or its RELEASE keeps them where they were written;
- a ROLLBACK, or a rollback to a savepoint, drops the rows waiting (all of them were written
  after the savepoint: making it sent those written before);
- an error storing a row (a unique constraint) is raised by the statement that sent it, or by
  the commit, as Django raises a failed COMMIT: ``transaction.atomic`` then rolls back and the
  error leaves the ``with`` block.

Statements sent on the psycopg connection itself (``connection.connection``) bypass this:
send the rows first with ``send_pending()``.
"""

from __future__ import annotations

from typing import Any, cast

import psycopg
from django.db.backends import utils
from django.db.backends.postgresql import base

# Django's, whose private methods (``_commit``...) and helpers its type stubs leave out.
_PostgreSQL: Any = base.DatabaseWrapper
_DebugWrapper: Any = cast(Any, base).CursorDebugWrapper
debug_transaction: Any = cast(Any, utils).debug_transaction

#: psycopg's ``TransactionStatus.IDLE``.
_IDLE = 0
#: Whether libpq has pipeline mode (14 or later); without it rows are sent at once.
PIPELINE_SUPPORTED = bool(psycopg.Pipeline.is_supported())


class _SendsPendingFirst:
    """A Django cursor that sends its connection's waiting rows before each statement."""

    db: DatabaseWrapper

    def _execute_with_wrappers(self, sql: Any, params: Any, many: bool, executor: Any) -> Any:
        if self.db.pending_writes:
            self.db.send_pending()
        return super()._execute_with_wrappers(sql, params, many, executor)  # type: ignore[misc]


class _Cursor(_SendsPendingFirst, utils.CursorWrapper):
    pass


class _DebugCursor(_SendsPendingFirst, _DebugWrapper):
    pass


class DatabaseWrapper(_PostgreSQL):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: The statements and values waiting for this transaction's next statement or COMMIT.
        self.pending_writes: list[tuple[str, list[Any]]] = []

    def write_later(self, sql: str, params: list[Any]) -> bool:
        """Keep an INSERT (whose result is not read) for the next statement or the COMMIT;
        False, and nothing kept, outside a transaction (or with a libpq older than 14, which
        has no pipeline mode)."""
        if not self.in_atomic_block or not PIPELINE_SUPPORTED:
            return False
        self.pending_writes.append((sql, params))
        return True

    def send_pending(self) -> None:
        """Send the waiting rows now, in one round trip (an error storing one is raised)."""
        writes, self.pending_writes = self.pending_writes, []
        if writes:
            with self.wrap_database_errors:
                self._pipeline(writes, commit=False)

    def _pipeline(self, writes: list[tuple[str, list[Any]]], *, commit: bool) -> None:
        from sellerdesk.core.rows import preparing_cursor

        pg = self.connection
        cursors = [preparing_cursor()(pg) for _ in writes]
        try:
            with pg.pipeline():
                for cursor, (sql, params) in zip(cursors, writes, strict=True):
                    with debug_transaction(self, sql):
                        cursor.execute(sql, params)
                if commit:
                    pg.commit()  # queued after the rows; the pipeline's sync reads all
        finally:
            for cursor in cursors:
                cursor.close()

    def _commit(self) -> Any:
        writes, self.pending_writes = self.pending_writes, []
        if not writes or self.connection is None:
            return super()._commit()
        with debug_transaction(self, "COMMIT"), self.wrap_database_errors:
            try:
                self._pipeline(writes, commit=True)
            except BaseException:
                # A row refused: the pipeline skipped the COMMIT and left the transaction
                # failed; Django's rollback after a failed commit then finds it closed.
                if self.connection.info.transaction_status != _IDLE:
                    self.connection.rollback()
                raise

    def _rollback(self) -> Any:
        self.pending_writes.clear()
        return super()._rollback()

    def _savepoint_rollback(self, sid: str) -> None:
        self.pending_writes.clear()
        super()._savepoint_rollback(sid)

    def _close(self) -> Any:
        self.pending_writes.clear()
        return super()._close()

    def make_cursor(self, cursor: Any) -> Any:
        return _Cursor(cursor, self)

    def make_debug_cursor(self, cursor: Any) -> Any:
        return _DebugCursor(cursor, self)
