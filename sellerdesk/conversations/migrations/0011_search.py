"""Full-text search over conversation subjects and message bodies (``conversations.search``).

PostgreSQL: GIN indexes on ``to_tsvector('simple', ...)`` (words in any script, no stemming)
and pg_trgm GIN indexes (substrings: Chinese and Japanese, which have no spaces between
words). Both are expression indexes, so every writer — the services, the importer's COPY —
keeps them current with nothing to sync. Building them is the backfill.

SQLite: FTS5 tables with the trigram tokenizer over the same columns (external content: they
store only the index), kept current by triggers; ``rebuild`` is the backfill. A table rebuild
on SQLite (AddField, AlterField) drops the triggers with the old table: a later migration that
rebuilds ``conversations_message`` or ``conversations_conversation`` must end with
``RunPython(ensure_search_schema)`` from this module (``tests/test_search_schema_exists.py``
fails otherwise), which re-creates what is missing and re-indexes.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations

POSTGRESQL = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX IF NOT EXISTS conv_message_fts_idx ON conversations_message "
    "USING gin (to_tsvector('simple'::regconfig, body))",
    "CREATE INDEX IF NOT EXISTS conv_message_trgm_idx ON conversations_message "
    "USING gin (body gin_trgm_ops)",
    "CREATE INDEX IF NOT EXISTS conv_subject_fts_idx ON conversations_conversation "
    "USING gin (to_tsvector('simple'::regconfig, subject))",
    "CREATE INDEX IF NOT EXISTS conv_subject_trgm_idx ON conversations_conversation "
    "USING gin (subject gin_trgm_ops)",
]
POSTGRESQL_NAMES = [
    "conv_message_fts_idx",
    "conv_message_trgm_idx",
    "conv_subject_fts_idx",
    "conv_subject_trgm_idx",
]

#: (FTS table, content table, column) for SQLite.
SQLITE_TABLES = [
    ("conversations_message_fts", "conversations_message", "body"),
    ("conversations_subject_fts", "conversations_conversation", "subject"),
]


def _sqlite_triggers(fts: str, table: str, column: str) -> dict[str, str]:
    delete = f"INSERT INTO {fts}({fts}, rowid, {column}) VALUES ('delete', old.id, old.{column});"  # noqa: S608
    insert = f"INSERT INTO {fts}(rowid, {column}) VALUES (new.id, new.{column});"  # noqa: S608
    return {
        f"{fts}_ai": f"CREATE TRIGGER IF NOT EXISTS {fts}_ai AFTER INSERT ON {table} "
        f"BEGIN {insert} END",
        f"{fts}_ad": f"CREATE TRIGGER IF NOT EXISTS {fts}_ad AFTER DELETE ON {table} "
        f"BEGIN {delete} END",
        f"{fts}_au": f"CREATE TRIGGER IF NOT EXISTS {fts}_au AFTER UPDATE OF {column} "
        f"ON {table} BEGIN {delete} {insert} END",
    }


SQLITE_TRIGGER_NAMES = [
    name for fts, table, column in SQLITE_TABLES for name in _sqlite_triggers(fts, table, column)
]
SQLITE_TABLE_NAMES = [fts for fts, _, _ in SQLITE_TABLES]


def sqlite_trigger_statements() -> list[str]:
    """The statements that create the FTS triggers, each doing nothing when it is there."""
    return [
        statement
        for fts, table, column in SQLITE_TABLES
        for statement in _sqlite_triggers(fts, table, column).values()
    ]


def sqlite_rebuild_statements() -> list[str]:
    """Re-index every FTS table from its content table (what a missing trigger let through)."""
    return [f"INSERT INTO {fts}({fts}) VALUES ('rebuild')" for fts in SQLITE_TABLE_NAMES]  # noqa: S608


def ensure_search_schema(apps: Any, schema_editor: Any) -> None:
    """Create the search indexes (PostgreSQL) or FTS tables and triggers (SQLite) that are
    missing, and index the rows a missing piece let through. Does nothing where all is there."""
    connection = schema_editor.connection
    if connection.vendor == "postgresql":
        for statement in POSTGRESQL:
            schema_editor.execute(statement)
        return
    if connection.vendor != "sqlite":
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'trigger')")
        present = {row[0] for row in cursor.fetchall()}
    for fts, table, column in SQLITE_TABLES:
        triggers = _sqlite_triggers(fts, table, column)
        complete = fts in present and all(name in present for name in triggers)
        schema_editor.execute(
            f"CREATE VIRTUAL TABLE IF NOT EXISTS {fts} USING fts5({column}, "
            f"content='{table}', content_rowid='id', tokenize='trigram')"
        )
        for statement in triggers.values():
            schema_editor.execute(statement)
        if not complete:
            # Rows written while a trigger was missing (or before the table existed).
            schema_editor.execute(f"INSERT INTO {fts}({fts}) VALUES ('rebuild')")  # noqa: S608


def drop(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        for name in POSTGRESQL_NAMES:
            schema_editor.execute(f"DROP INDEX IF EXISTS {name}")
        return
    for name in SQLITE_TRIGGER_NAMES:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {name}")
    for name in SQLITE_TABLE_NAMES:
        schema_editor.execute(f"DROP TABLE IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("conversations", "0010_report_indexes_again")]

    operations = [migrations.RunPython(ensure_search_schema, drop)]
