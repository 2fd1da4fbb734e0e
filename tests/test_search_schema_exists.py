"""After every migration the search's raw-SQL pieces are there: PostgreSQL's GIN indexes,
SQLite's FTS5 tables and the triggers that keep them current (a table rebuild on SQLite drops
triggers Django does not know of; see migration 0011_search)."""

from __future__ import annotations

import importlib
from types import SimpleNamespace

import pytest
from django.db import connection

from sellerdesk.conversations import search
from sellerdesk.conversations.models import Conversation
from sellerdesk.conversations.services import conversation_open

pytestmark = pytest.mark.django_db

SCHEMA = importlib.import_module("sellerdesk.conversations.migrations.0011_search")


def _present() -> set[str]:
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'trigger')")
        else:
            cursor.execute("SELECT indexname FROM pg_indexes")
        return {row[0] for row in cursor.fetchall()}


def test_the_search_indexes_exist_after_migrating():
    if connection.vendor == "sqlite":
        expected = set(SCHEMA.SQLITE_TABLE_NAMES) | set(SCHEMA.SQLITE_TRIGGER_NAMES)
    else:
        expected = set(SCHEMA.POSTGRESQL_NAMES)
    assert expected <= _present()


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's triggers only")
def test_lost_triggers_are_put_back_and_the_missed_rows_indexed(acme):
    with connection.cursor() as cursor:
        for name in SCHEMA.SQLITE_TRIGGER_NAMES:
            cursor.execute(f"DROP TRIGGER {name}")
    missed = conversation_open(
        merchant=acme, channel="web", subject="Written unseen", body="while unindexed"
    )
    # The migration's function with the two things it uses of a schema editor (SQLite's own
    # refuses to open inside the test's transaction).
    with connection.cursor() as cursor:
        editor = SimpleNamespace(connection=connection, execute=cursor.execute)
        SCHEMA.ensure_search_schema(None, editor)
    assert set(SCHEMA.SQLITE_TRIGGER_NAMES) <= _present()
    query = search.parse_query("unindexed")
    assert query is not None
    rows = search.matching(
        Conversation.objects.all(), query, public_only=True, chosen=search.Plan()
    )
    assert list(rows.values_list("pk", flat=True)) == [missed.pk]
