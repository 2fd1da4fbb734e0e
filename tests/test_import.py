"""The `import` command (interchange.md, "File"): rejections, .gz, replacement, idempotence,
the latest line winning, merchants as of filing, whole conversations or nothing."""

from __future__ import annotations

import gzip
import importlib
import json
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from sellerdesk.accounts.models import Merchant
from sellerdesk.conversations.models import (
    Conversation,
    ConversationTag,
    ConversationTagPair,
    Message,
    ResolutionStretch,
    StatusChange,
    Tag,
)
from sellerdesk.reports.config import build_params, load_config
from sellerdesk.reports.engine import compute_report
from tests.builders import (
    at,
    conversation,
    import_ok,
    message,
    report,
    search_hits,
    segment,
    status,
    ts,
    write_jsonl,
)
from tests.conftest import FIXTURES, REPO

SAMPLE = FIXTURES / "sample-conversations.jsonl"
STORED_MODELS = (
    Merchant,
    Conversation,
    Message,
    StatusChange,
    ResolutionStretch,
    Tag,
    ConversationTag,
    ConversationTagPair,
)


def run_import(path: Path | str, *extra: str) -> tuple[str, str, int]:
    out, err = StringIO(), StringIO()
    try:
        call_command("import", str(path), "--no-progress", *extra, stdout=out, stderr=err)
    except CommandError as exc:
        err.write(f"CommandError: {exc}\n")
        return out.getvalue(), err.getvalue(), exc.returncode
    return out.getvalue(), err.getvalue(), 0


def snapshot() -> dict[str, list[tuple]]:
    """Every stored row, without surrogate keys that a replacement may renumber."""
    return {
        "merchants": sorted(
            Merchant.objects.values_list(
                "external_id", "name", "country", "status", "language", "profile_at"
            )
        ),
        "conversations": sorted(
            Conversation.objects.values_list(
                "external_id",
                "merchant__external_id",
                "country",
                "channel",
                "kind",
                "initiated_by",
                "subject",
                "status",
                "spam",
                "outcome",
                "created_at",
                "first_response_at",
                "first_response_seconds",
                "resolved_at",
                "resolution_seconds",
                "status_changed_at",
                "status_seq",
                "message_seq",
            )
        ),
        "messages": sorted(
            Message.objects.values_list(
                "conversation__external_id",
                "external_id",
                "author_type",
                "author_id",
                "author_name",
                "public",
                "body",
                "created_at",
            )
        ),
        "status_changes": sorted(
            StatusChange.objects.values_list(
                "conversation__external_id", "status", "at", "seq", "by"
            )
        ),
        "stretches": sorted(
            ResolutionStretch.objects.values_list(
                "conversation__external_id", "started_at", "ended_at", "started_seconds"
            ),
            key=repr,
        ),
        "tags": sorted(Tag.objects.values_list("name", "display_name")),
        "conversation_tags": sorted(
            ConversationTag.objects.values_list(
                "conversation__external_id", "tag__name", "created_at", "country", "counted"
            )
        ),
        "pairs": sorted(
            ConversationTagPair.objects.values_list(
                "conversation__external_id",
                "tag_a__name",
                "tag_b__name",
                "created_at",
                "country",
                "counted",
            )
        ),
    }


def row_counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in STORED_MODELS}


def sample_report() -> dict:
    config = load_config(FIXTURES / "report.toml")
    return compute_report(
        build_params(config, "2021-11-01", "2022-11-01", "2026-01-01T00:00:00+00:00")
    ).as_dict()


# --- rejections -------------------------------------------------------------------------------


def test_rejected_lines_are_reported_with_number_and_reason_and_the_rest_imported(db, tmp_path):
    path = write_jsonl(
        tmp_path / "in.jsonl",
        [
            conversation("c-1"),
            "{not json",
            conversation("c-2", channel="pigeon"),
            conversation("c-3"),
        ],
    )
    out, err, code = run_import(path)
    assert code == 1
    lines = [row for row in err.splitlines() if ": rejected: " in row]
    assert lines[0].startswith(f"{path}:2: rejected: not valid JSON")
    assert lines[1].startswith(f"{path}:3: rejected: channel: 'pigeon' is not one of")
    assert len(lines) == 2
    assert "2 lines were rejected" in err
    assert "imported 2 conversations (2 new, 0 replaced); rejected 2 lines" in out
    assert sorted(Conversation.objects.values_list("external_id", flat=True)) == ["c-1", "c-3"]


def test_a_clean_import_exits_zero_and_says_what_it_did(db, tmp_path):
    path = write_jsonl(tmp_path / "in.jsonl", [conversation("c-1"), conversation("c-2")])
    out, err, code = run_import(path)
    assert (code, err) == (0, "")
    assert "imported 2 conversations (2 new, 0 replaced); rejected 0 lines" in out


def test_rejected_option_writes_each_rejected_line_with_number_reason_and_text(db, tmp_path):
    broken_utf8 = json.dumps(conversation("c-9", subject="xx")).encode().replace(b"xx", b"\xff")
    path = write_jsonl(
        tmp_path / "in.jsonl",
        [conversation("c-1"), '{"id": 1}', broken_utf8, conversation("c-2", country="XX")],
    )
    rejected_path = tmp_path / "rejected.jsonl"
    _, _, code = run_import(path, "--rejected", str(rejected_path))
    assert code == 1
    rows = [json.loads(row) for row in rejected_path.read_text(encoding="utf-8").splitlines()]
    assert [row["line"] for row in rows] == [2, 3, 4]
    assert rows[0]["reason"] == "id: expected a string, got a number"
    assert rows[0]["text"] == '{"id": 1}'
    assert rows[1]["reason"].startswith("not valid UTF-8")
    assert "\ufffd" in rows[1]["text"]
    assert rows[2]["reason"].startswith("merchant.country:")
    assert json.loads(rows[2]["text"])["id"] == "c-2"
    assert list(Conversation.objects.values_list("external_id", flat=True)) == ["c-1"]


def test_rejected_option_writes_an_empty_file_when_nothing_is_rejected(db, tmp_path):
    path = write_jsonl(tmp_path / "in.jsonl", [conversation("c-1")])
    rejected_path = tmp_path / "rejected.jsonl"
    _, _, code = run_import(path, "--rejected", str(rejected_path))
    assert code == 0
    assert rejected_path.read_text() == ""


def test_a_missing_file_is_a_command_error(db, tmp_path):
    _, err, code = run_import(tmp_path / "nope.jsonl")
    assert code == 1
    assert "cannot open" in err


def test_the_console_command_exits_non_zero_when_a_line_is_rejected(tmp_path):
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "SELLERDESK_VAR_DIR": str(tmp_path / "var"),
    }
    command = [sys.executable, "-m", "sellerdesk"]
    subprocess.run([*command, "migrate", "-v", "0"], env=env, check=True, cwd=REPO)
    path = write_jsonl(tmp_path / "in.jsonl", [conversation("c-1"), "[]"])
    done = subprocess.run(
        [*command, "import", str(path), "--no-progress"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert f"{path}:2: rejected: expected a JSON object, got an array" in done.stderr
    assert "imported 1 conversations" in done.stdout


def test_the_console_command_imports_standard_input(tmp_path):
    """``sellerdesk import -`` on SQLite, where a forked process parses: it reads the input
    through a handle of its own (multiprocessing closes a child's ``sys.stdin``)."""
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "SELLERDESK_VAR_DIR": str(tmp_path / "var"),
    }
    command = [sys.executable, "-m", "sellerdesk"]
    subprocess.run([*command, "migrate", "-v", "0"], env=env, check=True, cwd=REPO)
    items = [conversation(f"c-{n}") for n in range(30)] + ["{bad"]
    data = write_jsonl(tmp_path / "in.jsonl", items).read_bytes()
    done = subprocess.run(
        [*command, "import", "-", "--no-progress"],
        env=env,
        cwd=REPO,
        input=data,
        capture_output=True,
        check=False,
    )
    assert done.returncode == 1, done.stderr.decode()
    assert b"-:31: rejected: not valid JSON" in done.stderr
    assert b"imported 30 conversations (30 new, 0 replaced)" in done.stdout


# --- .gz --------------------------------------------------------------------------------------


def test_a_gz_file_is_read_as_gzip_compressed_json_lines(db, tmp_path):
    items = [conversation("c-1"), "", "{bad", conversation("c-2", tags=["Çiçek"])]
    path = write_jsonl(tmp_path / "in.jsonl.gz", items)
    assert path.read_bytes()[:2] == b"\x1f\x8b"
    _, err, code = run_import(path)
    assert code == 1
    assert f"{path}:3: rejected: not valid JSON" in err
    assert sorted(Conversation.objects.values_list("external_id", flat=True)) == ["c-1", "c-2"]
    assert Tag.objects.get().display_name == "Çiçek"


def test_a_corrupt_gz_file_is_a_command_error(db, tmp_path):
    path = tmp_path / "in.jsonl.gz"
    data = gzip.compress(b"\n".join(json.dumps(conversation(f"c-{n}")).encode() for n in range(50)))
    path.write_bytes(data[: len(data) // 2])
    _, err, code = run_import(path)
    assert code == 1
    assert "cannot read past line" in err


# --- idempotence and replacement --------------------------------------------------------------


def test_importing_the_same_file_twice_changes_nothing(db):
    _, _, code = run_import(SAMPLE)
    assert code == 0
    counts, rows, figures = row_counts(), snapshot(), sample_report()
    assert counts["Conversation"] == 3000
    out, _, code = run_import(SAMPLE, "--batch-size", "700")
    assert code == 0
    assert "imported 3000 conversations (0 new, 3000 replaced)" in out
    assert row_counts() == counts
    assert snapshot() == rows
    assert sample_report() == figures


def test_a_reimported_id_replaces_its_conversation_whole(db, tmp_path):
    first = conversation(
        "c-1",
        kind="complaint",
        outcome="upheld",
        subject="Old subject",
        tags=["order_cancel", "refund", "late"],
        messages=[
            message("1", author="merchant"),
            message("2", created_at=ts(minutes=5)),
            message("3", author="system", created_at=ts(minutes=1)),
        ],
        status_changes=[status("open", ts(minutes=5)), status("solved", ts(hours=1))],
    )
    write_jsonl(tmp_path / "v1.jsonl", [first])
    run_import(tmp_path / "v1.jsonl")
    pk = Conversation.objects.get().pk
    assert Conversation.objects.get().resolved_at == at(hours=1)
    assert ConversationTagPair.objects.count() == 3

    second = conversation(
        "c-1",
        subject="New subject",
        tags=["Shipping"],
        messages=[message("9", author="merchant", body="Yeni")],
    )
    write_jsonl(tmp_path / "v2.jsonl", [second])
    out, _, code = run_import(tmp_path / "v2.jsonl")
    assert code == 0
    assert "(0 new, 1 replaced)" in out
    row = Conversation.objects.get()
    assert row.pk == pk
    assert (row.kind, row.outcome, row.subject, row.status) == (
        "question",
        None,
        "New subject",
        "new",
    )
    assert (row.first_response_at, row.first_response_seconds) == (None, None)
    assert (row.resolved_at, row.resolution_seconds, row.status_changed_at) == (None, None, None)
    assert list(row.messages.values_list("external_id", "body")) == [("9", "Yeni")]
    assert not row.status_changes.exists()
    assert not row.resolution_stretches.exists()
    assert list(row.tags.values_list("name", flat=True)) == ["shipping"]
    assert not ConversationTagPair.objects.exists()
    figures = segment(report())
    assert (figures["conversations"], figures["responded"], figures["resolved"]) == (1, 0, 0)
    assert figures["by_kind"]["complaint"] == 0
    assert [t["tag"] for t in figures["tags"]] == ["shipping"]


def test_a_replacement_can_move_a_conversation_to_another_merchant(db, tmp_path):
    write_jsonl(tmp_path / "a.jsonl", [conversation("c-1", merchant_id="m-1", country="TR")])
    run_import(tmp_path / "a.jsonl")
    write_jsonl(tmp_path / "b.jsonl", [conversation("c-1", merchant_id="m-2", country="CN")])
    run_import(tmp_path / "b.jsonl")
    row = Conversation.objects.get()
    assert (row.merchant.external_id, row.country) == ("m-2", "CN")


# --- the later line wins ------------------------------------------------------------------------


def versions_of_c1() -> list[dict]:
    return [
        conversation("c-1", subject="first", tags=["alpha", "beta"]),
        conversation("c-2"),
        conversation("c-3"),
        conversation(
            "c-1",
            subject="second",
            tags=["gamma"],
            status_changes=[status("solved", ts(minutes=30))],
        ),
        conversation("c-4"),
        conversation("c-1", subject="third", tags=["delta", "epsilon"]),
        conversation("c-5"),
    ]


@pytest.mark.parametrize("batch_size", ["1", "2", "3", "500"])
def test_within_one_file_the_later_line_wins_across_batches(db, tmp_path, batch_size):
    path = write_jsonl(tmp_path / "in.jsonl", versions_of_c1())
    _, _, code = run_import(path, "--batch-size", batch_size)
    assert code == 0
    assert Conversation.objects.count() == 5
    row = Conversation.objects.get(external_id="c-1")
    assert row.subject == "third"
    assert row.status == "new"
    assert sorted(row.tags.values_list("name", flat=True)) == ["delta", "epsilon"]
    assert list(
        ConversationTagPair.objects.filter(conversation=row).values_list(
            "tag_a__name", "tag_b__name"
        )
    ) == [("delta", "epsilon")]
    assert not row.status_changes.exists()


def test_a_rejected_later_line_leaves_the_earlier_version(db, tmp_path):
    path = write_jsonl(
        tmp_path / "in.jsonl",
        [conversation("c-1", subject="good"), conversation("c-1", subject="bad", kind="rant")],
    )
    _, err, code = run_import(path)
    assert code == 1
    assert f"{path}:2: rejected: kind:" in err
    assert Conversation.objects.get().subject == "good"


# --- merchants as of filing -------------------------------------------------------------------


def moving_merchant() -> list[dict]:
    """Acme files in TR, moves to DE, files again; lines arrive newest first."""
    later = conversation("c-late", merchant_id="m-acme", country="DE", created_at=ts(days=30))
    later["merchant"].update(name="Acme GmbH", status="suspended", language="de")
    earlier = conversation("c-early", merchant_id="m-acme", country="tr", created_at=ts())
    earlier["merchant"].update(name="Acme Tekstil", status="potential", language="tr")
    middle = conversation("c-mid", merchant_id="m-acme", country="TR", created_at=ts(days=10))
    middle["merchant"].update(name="Acme Tekstil A.Ş.", status="active", language="tr-TR")
    return [later, earlier, middle]


def assert_acme_holds_its_latest_filing() -> None:
    acme = Merchant.objects.get(external_id="m-acme")
    assert (acme.name, acme.country, acme.status, acme.language) == (
        "Acme GmbH",
        "DE",
        "suspended",
        "de",
    )
    assert acme.profile_at == at(days=30)
    assert dict(Conversation.objects.values_list("external_id", "country")) == {
        "c-early": "TR",
        "c-mid": "TR",
        "c-late": "DE",
    }


@pytest.mark.parametrize("batch_size", ["1", "2", "500"])
def test_the_merchant_holds_its_latest_filing_whatever_the_line_order(db, tmp_path, batch_size):
    path = write_jsonl(tmp_path / "in.jsonl", moving_merchant())
    run_import(path, "--batch-size", batch_size)
    assert_acme_holds_its_latest_filing()


def test_an_older_filing_imported_later_does_not_roll_the_merchant_back(db, tmp_path):
    later, earlier, middle = moving_merchant()
    run_import(write_jsonl(tmp_path / "a.jsonl", [later]))
    run_import(write_jsonl(tmp_path / "b.jsonl", [earlier, middle]))
    assert_acme_holds_its_latest_filing()
    # and re-importing the whole history changes nothing
    run_import(write_jsonl(tmp_path / "c.jsonl", moving_merchant()))
    assert_acme_holds_its_latest_filing()


def test_a_merchant_who_moved_counts_under_the_country_of_each_filing(db, tmp_path):
    run_import(write_jsonl(tmp_path / "in.jsonl", moving_merchant()))
    data = report(
        segment=[
            {"name": "TR", "countries": ["TR"]},
            {"name": "DE", "countries": ["DE"]},
            {"name": "EU", "countries": ["EU"]},
        ]
    )
    assert segment(data, "TR")["conversations"] == 2
    assert segment(data, "DE")["conversations"] == 1
    assert segment(data, "EU")["conversations"] == 1


# --- whole or nothing -------------------------------------------------------------------------


def test_a_line_broken_deep_inside_stores_nothing_of_its_conversation(db, tmp_path):
    obj = conversation(
        "c-1",
        merchant_id="m-new",
        tags=["brand-new-tag"],
        messages=[message("1", author="merchant"), message("2", created_at=ts(minutes=1))],
        status_changes=[status("open", ts(minutes=1)), status("solved", "2022-03-01T10:00:00")],
    )
    _, _, code = run_import(write_jsonl(tmp_path / "in.jsonl", [obj]))
    assert code == 1
    assert all(count == 0 for count in row_counts().values()), row_counts()


@pytest.fixture
def refuse_poison(db):
    """A database that refuses to store a message whose body is POISON (a trigger, so it holds
    however the importer writes its rows)."""
    table = Message._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "CREATE FUNCTION sd_test_refuse_poison() RETURNS trigger AS $$ BEGIN "
                "IF NEW.body = 'POISON' THEN RAISE EXCEPTION 'poisoned message'; END IF; "
                "RETURN NEW; END $$ LANGUAGE plpgsql"
            )
            cursor.execute(
                f"CREATE TRIGGER sd_test_refuse_poison BEFORE INSERT ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION sd_test_refuse_poison()"
            )
        else:
            cursor.execute(
                f"CREATE TRIGGER sd_test_refuse_poison BEFORE INSERT ON {table} "
                "WHEN NEW.body = 'POISON' BEGIN SELECT RAISE(ABORT, 'poisoned message'); END"
            )
    # The test's transaction is rolled back afterwards, and the trigger with it.


def test_a_conversation_the_database_refuses_is_stored_not_at_all_and_its_batch_survives(
    refuse_poison, tmp_path
):
    items = [
        conversation("c-1", tags=["a", "b"]),
        conversation(
            "c-2",
            merchant_id="m-2",
            tags=["doomed"],
            messages=[message("1", author="merchant", body="POISON")],
            status_changes=[status("solved", ts(hours=1))],
        ),
        conversation("c-3", tags=["a"]),
    ]
    path = write_jsonl(tmp_path / "in.jsonl", items)
    out, err, code = run_import(path, "--batch-size", "10")
    assert code == 1
    assert f"{path}:2: rejected: refused by the database:" in err
    assert "poisoned message" in err
    assert "imported 2 conversations" in out
    assert sorted(Conversation.objects.values_list("external_id", flat=True)) == ["c-1", "c-3"]
    assert not Message.objects.filter(body="POISON").exists()
    assert not StatusChange.objects.exists()
    assert not ResolutionStretch.objects.exists()
    assert Message.objects.count() == 2
    assert ConversationTagPair.objects.count() == 1


def test_a_refused_replacement_leaves_the_stored_version_whole(refuse_poison, tmp_path):
    stored = conversation(
        "c-1",
        tags=["x", "y"],
        messages=[message("1", author="merchant"), message("2", created_at=ts(minutes=7))],
        status_changes=[status("solved", ts(hours=2))],
    )
    run_import(write_jsonl(tmp_path / "v1.jsonl", [stored]))
    before = snapshot()
    replacement = conversation("c-1", messages=[message("1", author="merchant", body="POISON")])
    _, err, code = run_import(write_jsonl(tmp_path / "v2.jsonl", [replacement]))
    assert code == 1
    assert "refused by the database" in err
    assert snapshot() == before


@pytest.mark.django_db
def test_a_byte_order_mark_before_the_first_line_is_ignored(tmp_path):
    from tests.builders import conversation, line

    path = tmp_path / "with-bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + line(conversation("c-bom")).encode() + b"\n")
    call_command("import", str(path), "--no-progress", stdout=StringIO())
    assert Conversation.objects.filter(external_id="c-bom").exists()


@pytest.mark.django_db
def test_statistics_are_refreshed_for_the_report_after_a_bulk_import():
    from sellerdesk.conversations.import_files import refresh_statistics
    from tests.builders import conversation, line

    lines = [(n + 1, line(conversation(f"c-{n}", tags=["a", "b"])).encode()) for n in range(50)]
    from sellerdesk.conversations.importer import conversations_import

    assert conversations_import(lines).imported == 50
    refresh_statistics()
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("SELECT COUNT(*) FROM sqlite_stat1 WHERE idx = 'conv_tag_report_idx'")
        else:
            cursor.execute(
                "SELECT COUNT(*) FROM pg_stats WHERE tablename = 'conversations_conversationtag'"
            )
        assert cursor.fetchone()[0] > 0


# --- how the work is spread --------------------------------------------------------------------


def _import_sample_lines(*, parse_in_process: bool, batch_size: int) -> None:
    from sellerdesk.conversations.importer import conversations_import

    lines = enumerate(SAMPLE.read_bytes().splitlines(keepends=True), start=1)
    result = conversations_import(lines, batch_size=batch_size, parse_in_process=parse_in_process)
    assert result.imported == 3000
    assert not result.rejected


def test_parsing_in_a_process_of_its_own_stores_what_parsing_in_a_thread_stores(db):
    _import_sample_lines(parse_in_process=False, batch_size=700)
    _import_sample_lines(parse_in_process=False, batch_size=1100)  # every id replaced
    in_thread = snapshot()
    for model in reversed(STORED_MODELS):
        model.objects.all().delete()
    _import_sample_lines(parse_in_process=True, batch_size=700)
    _import_sample_lines(parse_in_process=True, batch_size=1100)
    assert snapshot() == in_thread


def test_a_read_error_in_the_parsing_process_names_the_line_it_stopped_at(db, tmp_path):
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(gzip.compress(SAMPLE.read_bytes())[:-5000])
    _, err, code = run_import(path)
    assert code != 0
    assert f"{path}: cannot read past line" in err


def _report_indexes() -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND name LIKE '%report_idx'"
        )
        return dict(cursor.fetchall())


def _migrated_report_indexes() -> dict[str, str]:
    import importlib

    migration = importlib.import_module("sellerdesk.conversations.migrations.0002_report_indexes")
    return dict(zip(migration.NAMES, migration.SQLITE, strict=True))


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's report indexes")
def test_a_first_load_leaves_the_report_indexes_exactly_as_migrated(db):
    _import_sample_lines(parse_in_process=True, batch_size=700)
    assert _report_indexes() == _migrated_report_indexes()
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA integrity_check")
        assert cursor.fetchall() == [("ok",)]


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's report indexes")
def test_a_report_index_a_killed_first_load_left_out_is_put_back_by_the_next_import(db):
    import_ok(conversation("c-1"))
    with connection.cursor() as cursor:
        cursor.execute("DROP INDEX conv_report_idx")  # as a load killed mid-way leaves it
    import_ok(conversation("c-2"))
    assert _report_indexes() == _migrated_report_indexes()


def _all_indexes() -> dict[str, str | None]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index'")
        return dict(cursor.fetchall())


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's deferred indexes")
def test_a_first_load_leaves_every_index_as_migrated(db):
    migrated = _all_indexes()
    assert "conv_created_idx" in migrated
    assert "conv_tag_time_idx" in migrated
    _import_sample_lines(parse_in_process=True, batch_size=700)
    assert _all_indexes() == migrated


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's deferred indexes")
def test_model_indexes_a_killed_first_load_left_out_are_put_back_by_the_next_import(db):
    migrated = _all_indexes()
    import_ok(conversation("c-1"))
    with connection.cursor() as cursor:  # as a load killed mid-way leaves them
        cursor.execute("DROP INDEX conv_created_idx")
        cursor.execute("DROP INDEX conv_tag_time_idx")
    import_ok(conversation("c-2", tags=["order_cancel"]))
    assert _all_indexes() == migrated


_SEARCH = importlib.import_module("sellerdesk.conversations.migrations.0011_search")


def _search_triggers() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        return {name for (name,) in cursor.fetchall()} & set(_SEARCH.SQLITE_TRIGGER_NAMES)


def _fts_integrity_ok() -> None:
    """FTS5's own check that each index holds exactly what its content table holds."""
    with connection.cursor() as cursor:
        for fts in _SEARCH.SQLITE_TABLE_NAMES:
            cursor.execute(f"INSERT INTO {fts}({fts}, rank) VALUES ('integrity-check', 1)")


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's FTS5 triggers")
def test_a_first_load_indexes_every_message_for_search_and_puts_the_triggers_back(db):
    import_ok(
        conversation(
            "c-1",
            subject="Payout held",
            messages=[message("c-1-m1", author="merchant", body="zanzibar lorries")],
        ),
        conversation("c-2", messages=[message("c-2-m1", author="merchant", body="other words")]),
    )
    assert _search_triggers() == set(_SEARCH.SQLITE_TRIGGER_NAMES)
    _fts_integrity_ok()
    assert search_hits("zanzibar") == ["c-1"]
    assert search_hits("payout held") == ["c-1"]


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's FTS5 triggers")
def test_search_triggers_a_killed_first_load_left_out_are_put_back_by_the_next_import(db):
    import_ok(
        conversation("c-1", messages=[message("c-1-m1", author="merchant", body="first words")])
    )
    with connection.cursor() as cursor:  # as a load killed mid-way leaves them
        for name in _SEARCH.SQLITE_TRIGGER_NAMES:
            cursor.execute(f"DROP TRIGGER {name}")
    Conversation.objects.filter(external_id="c-1").update(subject="written unindexed")
    import_ok(
        conversation("c-2", messages=[message("c-2-m1", author="merchant", body="quokka sighting")])
    )
    assert _search_triggers() == set(_SEARCH.SQLITE_TRIGGER_NAMES)
    _fts_integrity_ok()
    assert search_hits("quokka") == ["c-2"]
    assert search_hits("unindexed") == ["c-1"]
