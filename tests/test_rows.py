"""core.rows: the statements built once give back what the ORM would, and on PostgreSQL
they are prepared once per connection, their values bound on the server."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from sellerdesk.core import rows
from sellerdesk.outbox.models import OutboxItem, OutboxKind

pytestmark = pytest.mark.django_db

_ITEM = rows.reader(OutboxItem)


def _select(alias: str = "o") -> str:
    table = connection.ops.quote_name(OutboxItem._meta.db_table)
    return (
        f"SELECT {_ITEM.columns(alias)} FROM {table} {alias} "
        f"WHERE {alias}.key = %s AND {alias}.attempts >= %s"
    )


def _prepared() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [row[0] for row in cursor.fetchall()]


def test_values_go_in_and_come_back_as_through_the_orm():
    moment = timezone.now() - timedelta(hours=3)
    payload = {"text": "Gövde 正文 '; DROP TABLE x; --", "n": [1, 2.5, None], "ok": True}
    item = rows.insert(
        OutboxItem(kind=OutboxKind.WEBHOOK, key="k-1", payload=payload, next_attempt_at=moment)
    )
    assert item.pk is not None
    stored = OutboxItem.objects.get(pk=item.pk)
    assert (stored.payload, stored.next_attempt_at, stored.claimed_until) == (payload, moment, None)

    item.attempts, item.last_error = 3, "100% down"
    assert rows.update(item, ["attempts", "last_error"]) == 1
    found = rows.fetch(_select(), ["k-1", 2])
    assert found is not None
    read = _ITEM.build(found)
    assert (read.pk, read.payload, read.attempts, read.last_error) == (
        item.pk,
        payload,
        3,
        "100% down",
    )
    assert read.next_attempt_at == moment
    assert read.claimed_until is None

    # A refused row is dropped; nothing is read for another key or a higher count.
    again = rows.insert(
        OutboxItem(kind=OutboxKind.WEBHOOK, key="k-1", payload={}), ignore_conflicts=True
    )
    assert again.pk is None
    assert OutboxItem.objects.count() == 1
    assert rows.fetch_together([(_select(), ["k-2", 0]), (_select(), ["k-1", 4])]) == [[], []]
    missing = OutboxItem(pk=item.pk + 1000, kind=OutboxKind.WEBHOOK, key="x", payload={})
    assert rows.update(missing, ["attempts"]) == 0


def test_a_row_and_another_rows_update_are_written_together(django_assert_num_queries):
    first = rows.insert(OutboxItem(kind=OutboxKind.WEBHOOK, key="k-1", payload={}))
    first.attempts, first.last_error = 2, "timed out"
    # One statement on PostgreSQL (the UPDATE in a WITH), two elsewhere.
    with django_assert_num_queries(1 if connection.vendor == "postgresql" else 2):
        second = rows.insert_and_update(
            OutboxItem(kind=OutboxKind.WEBHOOK, key="k-2", payload={"n": 2}),
            first,
            ["attempts", "last_error"],
        )
    assert second.pk is not None
    assert second.pk != first.pk
    stored = {item.key: item for item in OutboxItem.objects.all()}
    assert (stored["k-1"].attempts, stored["k-1"].last_error) == (2, "timed out")
    assert (stored["k-2"].pk, stored["k-2"].payload, stored["k-2"].attempts) == (
        second.pk,
        {"n": 2},
        0,
    )


@pytest.mark.skipif(connection.vendor != "postgresql", reason="prepared statements: PostgreSQL")
def test_statements_are_prepared_once_per_connection_on_postgresql():
    rows.insert(OutboxItem(kind=OutboxKind.WEBHOOK, key="k-1", payload={"a": 1}))
    for _ in range(3):
        assert rows.fetch(_select(), ["k-1", 0]) is not None
    server_text = _select().replace("%s", "$1", 1).replace("%s", "$2", 1)
    # Psycopg keys a prepared statement by its text and its values' types: one here.
    assert _prepared().count(server_text) == 1
    # Django's own statements stay formatted in Python, unprepared.
    assert not [text for text in _prepared() if "pg_prepared_statements" in text]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="prepared statements: PostgreSQL")
def test_a_connection_without_a_prepare_threshold_prepares_nothing():
    """DATABASE_PREPARE=0 (a pooler in transaction mode): Django's default, no threshold."""
    rows.insert(OutboxItem(kind=OutboxKind.WEBHOOK, key="k-off", payload={}))
    pg = connection.connection
    threshold, pg.prepare_threshold = pg.prepare_threshold, None
    try:
        sql = _select("unprepared")
        assert rows.fetch(sql, ["k-off", 0]) is not None
        assert rows.fetch(sql, ["k-off", 0]) is not None
    finally:
        pg.prepare_threshold = threshold
    assert not [text for text in _prepared() if "unprepared" in text]
