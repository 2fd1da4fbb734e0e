"""The search index of a first load built beside it (SQLite): copied in only when it is
exactly what FTS5's ``rebuild`` makes, else left for the caller to rebuild."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from sellerdesk.conversations import search_backfill
from tests.builders import conversation, message, write_jsonl
from tests.conftest import FIXTURES, REPO

TABLES = [("notes_fts", "notes", "body")]
TRIGGERS = [
    "CREATE TRIGGER notes_fts_ai AFTER INSERT ON notes BEGIN "
    "INSERT INTO notes_fts(rowid, body) VALUES (new.id, new.body); END"
]


def _database(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY AUTOINCREMENT, body TEXT)")
    db.execute(
        "CREATE VIRTUAL TABLE notes_fts USING fts5(body, content='notes', content_rowid='id', "
        "tokenize='trigram')"
    )
    return db


def _commit_notes(db: sqlite3.Connection, bodies: list[str]) -> None:
    db.execute("BEGIN")
    db.executemany("INSERT INTO notes (body) VALUES (?)", [(b,) for b in bodies])
    db.execute("COMMIT")


def _found(db: sqlite3.Connection, term: str) -> list[str]:
    rows = db.execute(
        "SELECT body FROM notes WHERE id IN (SELECT rowid FROM notes_fts WHERE notes_fts MATCH ?)"
        " ORDER BY id",
        [f'"{term}"'],
    )
    return [body for (body,) in rows]


def _index_is_exact(db: sqlite3.Connection) -> None:
    """FTS5's own check that the index holds exactly what its content table holds."""
    db.execute("INSERT INTO notes_fts(notes_fts, rank) VALUES ('integrity-check', 1)")


def _bodies(start: int, count: int) -> list[str]:
    return [f"note {n} about parcel{n % 7} and 退款{n % 3}" for n in range(start, start + count)]


def test_the_index_built_beside_a_load_is_copied_in_with_its_triggers(tmp_path, monkeypatch):
    monkeypatch.setattr(search_backfill, "_CHUNK", 100)  # several chunks, and a last part
    db = _database(tmp_path / "db.sqlite3")
    side = search_backfill.SideIndex(str(tmp_path / "db.sqlite3"), TABLES, timeout=5)
    for start in range(0, 1000, 150):  # batches committed as the load goes
        _commit_notes(db, _bodies(start, 150))
    side.finish()
    _commit_notes(db, ["written after the builder's last look: quokka"])

    assert side.install(TRIGGERS, replaced=False)

    _index_is_exact(db)
    assert _found(db, "quokka") == ["written after the builder's last look: quokka"]
    assert len(_found(db, "parcel3")) == len([b for b in _bodies(0, 1050) if "parcel3" in b])
    assert len(_found(db, "退款2")) == 350
    _commit_notes(db, ["after the load: zanzibar"])  # the trigger indexes it
    assert _found(db, "zanzibar") == ["after the load: zanzibar"]
    assert not list(tmp_path.glob("db.sqlite3.search-*"))  # the scratch file is gone


def test_a_row_deleted_after_the_builder_read_it_leaves_the_index_to_a_rebuild(tmp_path):
    db = _database(tmp_path / "db.sqlite3")
    side = search_backfill.SideIndex(str(tmp_path / "db.sqlite3"), TABLES, timeout=5)
    _commit_notes(db, _bodies(0, 50))
    side.finish()
    side._read = lambda read=side._read: (read(), db.execute("DELETE FROM notes WHERE id = 3"))[0]

    assert not side.install(TRIGGERS, replaced=False)

    assert db.execute("SELECT COUNT(*) FROM notes_fts_docsize").fetchone() == (0,)  # untouched
    assert db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall() == []
    assert not list(tmp_path.glob("db.sqlite3.search-*"))


def test_a_load_that_replaced_conversations_leaves_the_index_to_a_rebuild(tmp_path):
    db = _database(tmp_path / "db.sqlite3")
    side = search_backfill.SideIndex(str(tmp_path / "db.sqlite3"), TABLES, timeout=5)
    _commit_notes(db, _bodies(0, 50))

    assert not side.install(TRIGGERS, replaced=True)

    assert db.execute("SELECT COUNT(*) FROM notes_fts_docsize").fetchone() == (0,)
    assert not list(tmp_path.glob("db.sqlite3.search-*"))


def test_a_discarded_builder_stops_and_leaves_no_scratch_file(tmp_path):
    db = _database(tmp_path / "db.sqlite3")
    side = search_backfill.SideIndex(str(tmp_path / "db.sqlite3"), TABLES, timeout=5)
    _commit_notes(db, _bodies(0, 50))
    side.discard()
    assert not side._process.is_alive()
    assert not list(tmp_path.glob("db.sqlite3.search-*"))


def _console_import(tmp_path: Path, path: Path, batch: int) -> sqlite3.Connection:
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "SELLERDESK_VAR_DIR": str(tmp_path / "var"),
        "SELLERDESK_IMPORT_BATCH": str(batch),
    }
    command = [sys.executable, "-m", "sellerdesk"]
    subprocess.run([*command, "migrate", "-v", "0"], env=env, check=True, cwd=REPO)
    done = subprocess.run(
        [*command, "import", str(path), "--no-progress"],
        env=env, cwd=REPO, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return sqlite3.connect(tmp_path / "db.sqlite3")


def _search_is_exact_and_kept_current(db: sqlite3.Connection) -> None:
    for fts in ("conversations_message_fts", "conversations_subject_fts"):
        db.execute(f"INSERT INTO {fts}({fts}, rank) VALUES ('integrity-check', 1)")
    triggers = {
        name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
    }
    assert {f"conversations_message_fts_{k}" for k in ("ai", "ad", "au")} <= triggers
    assert {f"conversations_subject_fts_{k}" for k in ("ai", "ad", "au")} <= triggers


def test_a_first_load_from_a_file_leaves_search_exact(tmp_path):
    db = _console_import(tmp_path, FIXTURES / "sample-conversations.jsonl", batch=400)
    _search_is_exact_and_kept_current(db)
    (count,) = db.execute(
        "SELECT COUNT(*) FROM conversations_message_fts WHERE conversations_message_fts MATCH ?",
        ['"order"'],
    ).fetchone()
    (expected,) = db.execute(
        "SELECT COUNT(*) FROM conversations_message WHERE body LIKE '%order%'"
    ).fetchone()
    assert count == expected > 0
    assert not list(tmp_path.glob("db.sqlite3.search-*"))


@pytest.mark.parametrize("batch", [2, 50])
def test_a_first_load_that_replaces_its_own_conversations_leaves_search_exact(tmp_path, batch):
    first = conversation(
        "c-1", subject="zanzibar", messages=[message("c-1-m1", author="merchant", body="lorry")]
    )
    items = [first, *(conversation(f"c-{n}") for n in range(2, 6))]
    again = conversation(
        "c-1", subject="quokka", messages=[message("c-1-m2", author="merchant", body="ferry")]
    )
    db = _console_import(tmp_path, write_jsonl(tmp_path / "in.jsonl", [*items, again]), batch)
    _search_is_exact_and_kept_current(db)
    match = "SELECT COUNT(*) FROM {0} WHERE {0} MATCH ?"
    assert db.execute(match.format("conversations_subject_fts"), ['"zanzibar"']).fetchone() == (0,)
    assert db.execute(match.format("conversations_subject_fts"), ['"quokka"']).fetchone() == (1,)
    assert db.execute(match.format("conversations_message_fts"), ['"lorry"']).fetchone() == (0,)
    assert db.execute(match.format("conversations_message_fts"), ['"ferry"']).fetchone() == (1,)
