"""Rows sent with the COMMIT (``core.rows.insert(later=True)``, ``core/postgresql``): on
PostgreSQL they wait for the transaction's next statement or its COMMIT and go with it in one
pipeline; every read, savepoint, rollback and refusal behaves as if they had been sent at once.
Elsewhere, and outside a transaction, they are sent at once."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import IntegrityError, connection, transaction

from sellerdesk.core import rows
from sellerdesk.outbox.models import OutboxItem, OutboxKind

on_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="rows wait for the COMMIT on PostgreSQL only"
)


def _item(key: str) -> OutboxItem:
    return OutboxItem(kind=OutboxKind.WEBHOOK, key=key, payload={"n": key})


def _stored() -> list[str]:
    return sorted(OutboxItem.objects.values_list("key", flat=True))


def _failing_change(key: str) -> None:
    with transaction.atomic():
        rows.insert(_item(key), later=True)
        raise RuntimeError("the change fails")


def _change_refused_at_commit() -> None:
    with transaction.atomic():
        rows.insert(_item("new"))  # sent at once
        rows.insert(_item("taken"), later=True)  # refused by the unique key, at the commit


def _change_refused_at_read() -> None:
    with transaction.atomic():
        rows.insert(_item("taken"), later=True)
        OutboxItem.objects.count()


def _waiting() -> int:
    return len(getattr(connection, "pending_writes", []))


@pytest.fixture
def pipelines(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """What each psycopg pipeline of the test carried: its statements' first words."""
    import psycopg

    seen: list[list[str]] = []
    pipeline, execute = psycopg.Connection.pipeline, psycopg.Cursor.execute
    commit = psycopg.Connection.commit
    current: list[list[str]] = []

    def counted_pipeline(self: Any) -> Any:
        inner = pipeline(self)

        class Counted:
            def __enter__(self_) -> Any:
                current.append([])
                return inner.__enter__()

            def __exit__(self_, *exc: Any) -> Any:
                try:
                    return inner.__exit__(*exc)
                finally:
                    seen.append(current.pop())

        return Counted()

    def counted_execute(self: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
        if current:
            current[-1].append(str(query).split()[0].upper())
        return execute(self, query, *args, **kwargs)

    def counted_commit(self: Any) -> Any:
        if current:
            current[-1].append("COMMIT")
        return commit(self)

    monkeypatch.setattr(psycopg.Connection, "pipeline", counted_pipeline)
    monkeypatch.setattr(psycopg.Cursor, "execute", counted_execute)
    monkeypatch.setattr(psycopg.Connection, "commit", counted_commit)
    return seen


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_rows_written_later_go_with_the_commit_in_one_pipeline(pipelines: list[list[str]]) -> None:
    with transaction.atomic():
        rows.insert(_item("a"), later=True)
        rows.insert(_item("b"), ignore_conflicts=True, later=True)
        assert _waiting() == 2
        assert pipelines == []  # nothing sent yet
    assert pipelines == [["INSERT", "INSERT", "COMMIT"]]
    assert _waiting() == 0
    assert _stored() == ["a", "b"]


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_a_statement_in_the_transaction_sees_the_rows_waiting(pipelines: list[list[str]]) -> None:
    with transaction.atomic():
        written = rows.insert(_item("a"), later=True)
        assert written.pk is None  # not known until it is sent
        assert OutboxItem.objects.filter(key="a").exists()
        assert _waiting() == 0
    assert pipelines == [["INSERT"]]  # then the COMMIT alone, as always
    assert _stored() == ["a"]


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_a_rollback_drops_the_rows_waiting() -> None:
    with pytest.raises(RuntimeError):
        _failing_change("a")
    assert _waiting() == 0
    assert _stored() == []
    # The next transaction does not carry them.
    with transaction.atomic():
        rows.insert(_item("b"), later=True)
    assert _stored() == ["b"]


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_a_savepoint_keeps_the_rows_written_before_it_and_drops_those_after() -> None:
    with transaction.atomic():
        rows.insert(_item("before"), later=True)
        with pytest.raises(RuntimeError):
            _failing_change("inside")
        with transaction.atomic():
            rows.insert(_item("kept"), later=True)
        rows.insert(_item("after"), later=True)
    assert _stored() == ["after", "before", "kept"]


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_a_row_refused_at_the_commit_fails_the_transaction_and_stores_nothing() -> None:
    rows.insert(_item("taken"))
    with pytest.raises(IntegrityError):
        _change_refused_at_commit()
    assert _stored() == ["taken"]
    assert _waiting() == 0
    assert connection.get_autocommit()
    # The connection serves on.
    with transaction.atomic():
        rows.insert(_item("next"), later=True)
    assert _stored() == ["next", "taken"]


@on_postgresql
@pytest.mark.django_db
def test_a_row_refused_before_a_statement_is_raised_by_that_statement() -> None:
    rows.insert(_item("taken"))
    with pytest.raises(IntegrityError):
        _change_refused_at_read()
    assert _stored() == ["taken"]


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_or_on_sqlite_a_row_is_sent_at_once() -> None:
    alone = rows.insert(_item("alone"), later=True)
    assert alone.pk is not None
    with transaction.atomic():
        inside = rows.insert(_item("inside"), later=True)
        if connection.vendor != "postgresql":
            assert inside.pk is not None
            assert _waiting() == 0
    assert _stored() == ["alone", "inside"]
