"""A file import into empty PostgreSQL tables builds its indexes and adds its foreign keys once at
the end (``first_load``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.db import connection

from sellerdesk.conversations import first_load, import_files
from sellerdesk.conversations.import_files import conversations_import_file
from tests.builders import conversation, line, message, search_hits

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="PostgreSQL's deferred indexes"
)

DEFERRED = {
    "conv_message_fts_idx", "conv_message_trgm_idx", "conv_subject_fts_idx",
    "conv_subject_trgm_idx", "conv_report_idx", "conv_tag_report_idx",
    "conv_tag_pair_report_idx", "conv_created_idx", "conv_tag_time_idx",
}  # fmt: skip


def _indexes() -> dict[str, str]:
    """Every index and foreign key of the schema, by name, with its definition."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() "
            "UNION ALL SELECT conname, conrelid::regclass::text || ' ' || "
            "pg_get_constraintdef(oid) FROM pg_constraint WHERE contype = 'f'"
        )
        return dict(cursor.fetchall())


def _foreign_keys(table: str) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conname FROM pg_constraint WHERE contype = 'f' AND conrelid = %s::regclass",
            [table],
        )
        return {name for (name,) in cursor.fetchall()}


def _file(tmp_path: Path, *ids: str) -> str:
    path = tmp_path / "input.jsonl"
    path.write_text(
        "".join(
            line(conversation(i, subject=f"subject of {i}", tags=["payment_delay", "refund"],
                              messages=[message(f"{i}-m", body=f"the parcel {i} never came 包裹没到")]))
            + "\n"
            for i in ids
        )
    )  # fmt: skip
    return str(path)


def _during_the_load(monkeypatch: Any, action: Any) -> None:
    """Run ``action`` once the import has made ready, as its rows are about to go in."""
    load = import_files._import_file

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        action()
        return load(*args, **kwargs)

    monkeypatch.setattr(import_files, "_import_file", wrapped)


@pytest.fixture
def during_load(monkeypatch) -> list[set[str]]:
    """The names of the indexes in place while each import's rows go in."""
    seen: list[set[str]] = []
    _during_the_load(monkeypatch, lambda: seen.append(set(_indexes())))
    return seen


@pytest.mark.django_db
def test_a_first_load_builds_its_indexes_at_the_end_exactly_as_migrated(tmp_path, during_load):
    migrated = _indexes()
    assert set(migrated) >= DEFERRED
    result = conversations_import_file(_file(tmp_path, "c-1", "c-2"), workers=1)
    assert result.imported == 2
    assert not DEFERRED & during_load[0]  # left out while the rows went in
    checked = _foreign_keys("conversations_message") | _foreign_keys("conversations_statuschange")
    assert len(checked) == 3  # the message's conversation and author, the change's conversation
    assert len(checked - during_load[0]) == 2  # the checks of the ids the import fills
    assert _indexes() == migrated
    assert search_hits("parcel") == ["c-1", "c-2"]
    assert search_hits("包裹没") == ["c-1", "c-2"]  # the trigram index's kind of search


@pytest.mark.django_db
def test_an_import_into_tables_that_are_not_empty_keeps_every_index(tmp_path, during_load):
    migrated = _indexes()
    conversations_import_file(_file(tmp_path, "c-1"), workers=1)
    conversations_import_file(_file(tmp_path, "c-2", "c-3"), workers=1)
    assert set(migrated) == during_load[1]
    assert _indexes() == migrated


@pytest.mark.django_db
def test_indexes_a_killed_first_load_left_out_are_put_back_by_the_next_import(
    tmp_path, during_load
):
    migrated = _indexes()
    conversations_import_file(_file(tmp_path, "c-1"), workers=1)
    (message_key,) = _foreign_keys("conversations_message") - {
        name for name in migrated if "author_user_id" in name
    }
    with connection.cursor() as cursor:  # as a load killed mid-way leaves them
        cursor.execute("DROP INDEX conv_message_trgm_idx")
        cursor.execute("DROP INDEX conv_created_idx")
        cursor.execute(f"ALTER TABLE conversations_message DROP CONSTRAINT {message_key}")
    conversations_import_file(_file(tmp_path, "c-2"), workers=1)
    assert set(migrated) == during_load[1]  # put back before the rows went in
    assert _indexes() == migrated


@pytest.mark.django_db(transaction=True)
def test_the_indexes_are_built_on_connections_of_their_own_after_every_worker(tmp_path):
    migrated = _indexes()
    ids = [f"c-{n}" for n in range(40)]
    result = conversations_import_file(_file(tmp_path, *ids), workers=2)
    assert result.imported == 40
    assert _indexes() == migrated
    assert len(search_hits("parcel")) == 40


def _other_connection() -> psycopg.Connection[Any]:
    settings = connection.settings_dict
    return psycopg.connect(
        host=settings["HOST"] or "127.0.0.1", port=settings["PORT"] or 5432,
        user=settings["USER"], password=settings["PASSWORD"] or None, dbname=settings["NAME"],
    )  # fmt: skip


@pytest.mark.django_db(transaction=True)
def test_a_first_load_that_cannot_have_the_lock_soon_imports_with_its_indexes(
    tmp_path, during_load, monkeypatch
):
    migrated = _indexes()
    monkeypatch.setattr(first_load, "LOCK_WAIT", "200ms")
    with _other_connection() as reader:  # a long read of the tables, its transaction open
        reader.execute("SELECT COUNT(*) FROM conversations_message").fetchone()
        result = conversations_import_file(_file(tmp_path, "c-1"), workers=1)
    assert result.imported == 1
    assert set(migrated) == during_load[0]
    assert _indexes() == migrated


@pytest.mark.django_db
def test_a_first_load_whose_indexes_and_keys_another_import_put_back_meanwhile_ends_well(
    tmp_path, monkeypatch
):
    migrated = _indexes()

    def a_concurrent_import() -> None:
        # Another importer found the tables not empty and put everything missing back.
        with connection.cursor() as cursor:
            for sql in first_load._foreign_keys_as_migrated().values():
                cursor.execute(sql)
            cursor.execute(
                "CREATE INDEX conv_message_trgm_idx ON conversations_message "
                "USING gin (body gin_trgm_ops)"
            )

    _during_the_load(monkeypatch, a_concurrent_import)
    result = conversations_import_file(_file(tmp_path, "c-1"), workers=1)
    assert result.imported == 1
    assert _indexes() == migrated
