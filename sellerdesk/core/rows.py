"""Rows read and written by statements built once per process, for the few statements every
message runs (the API's post, a mail, a chat line).

Django's ORM compiles each statement anew — for a 40-column row, most of a request's CPU —
while these statements never change. The helpers here build the SQL text once (per model and
database vendor), send each value through its field exactly as the ORM does on the way in
(``get_db_prep_save``) and out (the backend's and the field's converters), and give back
model instances as the ORM would. No signals are sent: sellerdesk connects none to these
models (saving through them is the same rows, the same constraints, the same triggers).
On PostgreSQL, statements that need not wait for each other go in one pipeline, one round
trip (``insert_committed``, ``fetch_together``), and every statement here is a prepared one
(``statement_cursor``): its values travel apart from its text, and the server parses and
plans it once per connection instead of at each run.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.db.models import Field, Model

M = TypeVar("M", bound=Model)
T = TypeVar("T")
Converter = Callable[[Any, Any, Any], Any]


def _qn(name: str) -> str:
    return connection.ops.quote_name(name)


class Reader:
    """Reads ``model`` rows: ``columns(alias)`` is the SELECT list, ``build(values)`` makes
    the instance from that many values of a row. ``only``: those fields (and the primary
    key) alone, the others deferred, as ``QuerySet.only``."""

    def __init__(self, model: type[M], only: Sequence[str] = ()) -> None:
        self.model = model
        self.fields: list[Field[Any, Any]] = [
            f
            for f in model._meta.concrete_fields
            if not only or f.primary_key or f.name in only or f.attname in only
        ]
        self.names = [f.attname for f in self.fields]
        self._converters: dict[str, list[tuple[int, list[Converter], Any]]] = {}

    def __len__(self) -> int:
        return len(self.fields)

    def columns(self, alias: str) -> str:
        return ", ".join(f"{alias}.{_qn(f.column)}" for f in self.fields)

    def _for(self) -> list[tuple[int, list[Converter], Any]]:
        vendor = connection.vendor
        found = self._converters.get(vendor)
        if found is None:
            found = []
            table = self.model._meta.db_table
            for i, field in enumerate(self.fields):
                expression = field.get_col(table)
                converters = connection.ops.get_db_converters(
                    expression
                ) + expression.get_db_converters(connection)
                if converters:
                    found.append((i, converters, expression))
            self._converters[vendor] = found
        return found

    def build(self, values: Sequence[Any]) -> Any:
        row = list(values)
        for i, converters, expression in self._for():
            value = row[i]
            for converter in converters:
                value = converter(value, expression, connection)
            row[i] = value
        return self.model.from_db(connection.alias, self.names, row)


_readers: dict[tuple[type[Model], tuple[str, ...]], Reader] = {}


def reader(model: type[Model], only: Sequence[str] = ()) -> Reader:
    key = (model, tuple(only))
    found = _readers.get(key)
    if found is None:
        found = _readers[key] = Reader(model, only)
    return found


def for_update() -> str:
    """`` FOR UPDATE`` where the database locks rows (PostgreSQL), else nothing (SQLite's
    transactions here take the write lock at BEGIN)."""
    return " FOR UPDATE" if connection.features.has_select_for_update else ""


def statement_cursor() -> Any:
    """A cursor (``connection.cursor()``'s wrapper) for the statements built here.

    On PostgreSQL it binds on the server and prepares: psycopg sends the values apart from
    the SQL text (Django's default cursor instead formats every value into the text, in
    Python) and prepares each statement on its connection the first time it runs there, so
    the server parses and plans it once per connection (psycopg keeps the last 100
    statements of each). The statements built here take no value whose type the server
    could not tell from its place. The connection prepares only with a
    ``prepare_threshold`` (settings: ``DATABASE_PREPARE``); without, the values are still
    bound on the server. Elsewhere: ``connection.cursor()``.
    """
    # The connection itself, not the ``connection`` proxy: each of its attributes would be
    # looked up again in the request's context-local connections.
    db = connections[DEFAULT_DB_ALIAS]
    if db.vendor != "postgresql":
        return db.cursor()
    db.ensure_connection()
    pg = db.connection
    plain = pg.cursor_factory
    # The Django connection is this thread's alone: no other cursor is made meanwhile.
    pg.cursor_factory = preparing_cursor()
    try:
        return db.cursor()
    finally:
        pg.cursor_factory = plain


@functools.cache
def preparing_cursor() -> type[Any]:
    """Django's own cursor for ``server_side_binding``, asking to prepare every statement."""
    from django.db.backends.postgresql.base import (  # type: ignore[attr-defined]
        ServerBindingCursor,
    )

    class PreparingCursor(ServerBindingCursor):
        def execute(
            self, query: Any, params: Any = None, *, prepare: bool | None = None, **kwargs: Any
        ) -> Any:
            return super().execute(
                query, params, prepare=True if prepare is None else prepare, **kwargs
            )

    return PreparingCursor


def fetch_together(statements: Sequence[tuple[str, Sequence[Any]]]) -> list[list[Any]]:
    """Each read statement's rows, in order. On PostgreSQL they go in one pipeline: one
    round trip for all (and one more for psycopg's BEGIN when they open the transaction).
    Each runs as it would alone, after the one before; an error of any is raised."""
    if len(statements) < 2 or connection.vendor != "postgresql" or not pipeline_supported():
        found = []
        for sql, params in statements:
            with statement_cursor() as cursor:
                cursor.execute(sql, params)
                found.append(cursor.fetchall())
        return found
    connection.ensure_connection()
    cursors = [statement_cursor() for _ in statements]
    try:
        with connection.wrap_database_errors:
            with connection.connection.pipeline():
                for cursor, (sql, params) in zip(cursors, statements, strict=True):
                    cursor.execute(sql, params)
            return [cursor.fetchall() for cursor in cursors]
    finally:
        for cursor in cursors:
            cursor.close()


def fetch(sql: str, params: Sequence[Any]) -> tuple[Any, ...] | None:
    with statement_cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


_inserts: dict[tuple[type[Model], str, bool], tuple[str, list[Field[Any, Any]], bool]] = {}


def _insert_statement(obj: Model, ignore_conflicts: bool) -> tuple[str, list[Any], bool]:
    """The INSERT of ``obj`` (built once per model and vendor), its values, and whether it
    returns the new primary key."""
    model = type(obj)
    key = (model, connection.vendor, ignore_conflicts)
    prepared = _inserts.get(key)
    if prepared is None:
        meta = model._meta
        # The primary key is the database's unless it is a field of its own (a one-to-one).
        auto = meta.auto_field
        fields = [f for f in meta.concrete_fields if f is not auto]
        returning = auto is not None and bool(connection.features.can_return_columns_from_insert)
        from django.db.models.constants import OnConflict

        conflict = OnConflict.IGNORE if ignore_conflicts else None
        head = connection.ops.insert_statement(on_conflict=conflict)
        sql = (
            f"{head} {_qn(meta.db_table)} ({', '.join(_qn(f.column) for f in fields)}) "
            f"VALUES ({', '.join(['%s'] * len(fields))})"
        )
        suffix = connection.ops.on_conflict_suffix_sql(fields, conflict, None, None)
        if suffix:
            sql += " " + suffix
        if returning and auto is not None:
            sql += f" RETURNING {_qn(auto.column)}"
        prepared = _inserts[key] = (sql, fields, returning)
    sql, fields, returning = prepared
    db = connections[DEFAULT_DB_ALIAS]  # not the proxy, for each field (see statement_cursor)
    params = [f.get_db_prep_save(f.pre_save(obj, True), db) for f in fields]
    return sql, params, returning


def _inserted(obj: M, cursor: Any, returning: bool) -> M:
    if returning:
        row = cursor.fetchone()
        obj.pk = row[0] if row else None
    elif type(obj)._meta.auto_field is not None:
        obj.pk = cursor.lastrowid if cursor.rowcount else None
    obj._state.adding = False
    obj._state.db = connection.alias
    return obj


def insert(obj: M, *, ignore_conflicts: bool = False, later: bool = False) -> M:
    """INSERT ``obj`` as ``obj.save()`` would (a new row, its primary key set on it); with
    ``ignore_conflicts`` as ``bulk_create(ignore_conflicts=True)`` (a row a unique constraint
    refuses is dropped: a database-made primary key is then None).

    ``later``: inside a transaction on PostgreSQL, the row is sent with the transaction's next
    statement or its COMMIT (``core.postgresql``: one round trip fewer), and its primary key is
    not known (None). For a row nobody reads back in the transaction but through the database;
    an error storing it is raised by that statement or by the commit. Elsewhere, at once."""
    sql, params, returning = _insert_statement(obj, ignore_conflicts)
    if later:
        db = connections[DEFAULT_DB_ALIAS]
        write_later = getattr(db, "write_later", None)
        if write_later is not None and write_later(sql, params):
            obj._state.adding = False
            obj._state.db = db.alias
            return obj
    with statement_cursor() as cursor:
        cursor.execute(sql, params)
        return _inserted(obj, cursor, returning)


def insert_committed(obj: M, *, meanwhile: Callable[[], T]) -> tuple[M, T]:
    """INSERT ``obj`` in a transaction of its own, committed, and return it with what
    ``meanwhile()`` returned.

    ``meanwhile`` is work that needs no database and must not raise. On PostgreSQL, outside
    any transaction, it runs while the server writes the row and flushes the commit to disk:
    BEGIN, the INSERT and COMMIT go in one pipeline (psycopg's pipeline mode), and their
    results are read after ``meanwhile`` returns. Elsewhere (SQLite, or inside a caller's
    transaction, as in tests) it runs after the commit. Either way nothing returns before
    the row is committed; an error storing it is raised (the row is then not stored).
    """
    if (
        connection.vendor != "postgresql"
        or connection.in_atomic_block
        or not connection.get_autocommit()
        or not pipeline_supported()
    ):
        with transaction.atomic():
            insert(obj)
        return obj, meanwhile()
    sql, params, returning = _insert_statement(obj, False)
    connection.ensure_connection()
    pg = connection.connection
    begin, row, commit = connection.cursor(), statement_cursor(), connection.cursor()
    try:
        with connection.wrap_database_errors:
            try:
                with pg.pipeline():
                    begin.execute("BEGIN")
                    row.execute(sql, params)
                    # The server commits at this COMMIT's execution (a transaction control
                    # statement is finished at once, not at the pipeline's sync).
                    commit.execute("COMMIT")
                    result = meanwhile()
            except BaseException:
                # A failed statement aborts the pipeline: the COMMIT was skipped, and the
                # transaction BEGIN opened is left failed.
                if pg.info.transaction_status != _IDLE:
                    pg.rollback()
                raise
            _inserted(obj, row, returning)
    finally:
        for cursor in (begin, row, commit):
            cursor.close()
    return obj, result


_IDLE = 0  # psycopg.pq.TransactionStatus.IDLE, without importing psycopg on SQLite


def pipeline_supported() -> bool:
    """Whether psycopg's pipeline mode is available (libpq 14 or later); asked of PostgreSQL's
    backend, so that SQLite never imports psycopg."""
    from sellerdesk.core.postgresql.base import PIPELINE_SUPPORTED

    return PIPELINE_SUPPORTED


_updates: dict[tuple[type[Model], str, tuple[str, ...]], tuple[str, list[Field[Any, Any]]]] = {}


def _update_statement(obj: Model, fields: Sequence[str]) -> tuple[str, list[Any]]:
    """The UPDATE of ``obj``'s ``fields`` (built once per model, vendor and fields) and its
    values."""
    model = type(obj)
    key = (model, connection.vendor, tuple(fields))
    prepared = _updates.get(key)
    if prepared is None:
        meta = model._meta
        columns: list[Field[Any, Any]] = []
        for name in fields:
            field = meta.get_field(name)
            assert isinstance(field, Field)
            columns.append(field)
        assert meta.pk is not None
        assignments = ", ".join(f"{_qn(f.column)} = %s" for f in columns)
        sql = (
            f"UPDATE {_qn(meta.db_table)} SET {assignments} "  # noqa: S608 - names from the model
            f"WHERE {_qn(meta.pk.column)} = %s"
        )
        prepared = _updates[key] = (sql, columns)
    sql, targets = prepared
    db = connections[DEFAULT_DB_ALIAS]  # not the proxy, for each field (see statement_cursor)
    params = [f.get_db_prep_save(f.pre_save(obj, False), db) for f in targets]
    params.append(obj.pk)
    return sql, params


def update(obj: Model, fields: Sequence[str]) -> int:
    """``obj.save(update_fields=fields)``; returns the number of rows changed (0: there is
    no such row, and nothing is inserted)."""
    sql, params = _update_statement(obj, fields)
    with statement_cursor() as cursor:
        cursor.execute(sql, params)
        return int(cursor.rowcount)


def insert_and_update(obj: M, other: Model, fields: Sequence[str]) -> M:
    """``insert(obj)`` and ``update(other, fields)``, in one statement on PostgreSQL (the
    UPDATE in a data-modifying ``WITH``: one round trip, one statement to run instead of
    two), else one after the other. For a row written with the row it belongs to (a message
    and its conversation's counters), whose UPDATE changes one row that exists (it is not
    counted)."""
    if connection.vendor != "postgresql":
        insert(obj)
        update(other, fields)
        return obj
    update_sql, update_params = _update_statement(other, fields)
    insert_sql, insert_params, returning = _insert_statement(obj, False)
    with statement_cursor() as cursor:
        # The same text for the same model, vendor and fields: prepared once per connection.
        cursor.execute(f"WITH u AS ({update_sql}) {insert_sql}", update_params + insert_params)
        return _inserted(obj, cursor, returning)
