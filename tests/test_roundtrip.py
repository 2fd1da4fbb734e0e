"""interchange.md: export then import into an empty database gives back the same conversations
and the same report, to the second."""

from __future__ import annotations

import gzip
import json
import threading
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection, connections

from sellerdesk.accounts.models import Merchant
from sellerdesk.conversations.exporter import export_lines
from sellerdesk.conversations.models import Conversation, Tag
from sellerdesk.reports.config import build_params, load_config
from sellerdesk.reports.engine import compute_report
from tests.builders import LATER, conversation, message, status, ts, write_jsonl
from tests.conftest import FIXTURES
from tests.test_sample_report import assert_report_matches

# `flush` empties real tables: on PostgreSQL it cannot run inside a test's transaction.
pytestmark = pytest.mark.django_db(transaction=True)

SAMPLE = FIXTURES / "sample-conversations.jsonl"


def edge_cases() -> list[dict]:
    """What the sample may not hold: fractions of seconds, ties, notes, outreach, spam..."""
    moved = conversation("x-moved", merchant_id="m-move", country="DE", created_at=ts(days=9))
    moved["merchant"].update(name="Mover GmbH", status="potential", language="de-DE")
    return [
        conversation(
            "x-fractions",
            created_at="2022-03-01T12:00:00.123456+03:00",
            kind="complaint",
            tags=["Émoji  Tag", "<script>", "order_cancel"],
            messages=[
                message("1", author="merchant", created_at="2022-03-01T09:00:00.123456Z"),
                message("2", author="system", created_at="2022-03-01T09:00:01Z"),
                message("3", public=False, created_at="2022-03-01T09:00:02.5Z", body="not\npublic"),
                message("4", created_at="2022-03-01T10:21:00.75Z", body='订单 "quoted" \\ done'),
            ],
            status_changes=[
                status("solved", ts(600), by="agent-7"),
                status("open", ts(600)),
                status("solved", ts(900.5)),
                status("closed", ts(1000)),
            ],
        ),
        conversation(
            "x-outreach", initiated_by="support", messages=[message("1", created_at=ts())]
        ),
        conversation("x-spam", spam=True, tags=["spam"]),
        conversation("x-outcome-on-question", outcome="withdrawn", subject=""),
        # characters other line splitters treat as line ends must stay inside their line
        conversation("x-separators", subject="a\u2028b\u2029c\u0085d\x1ce\rf\x0bg\x0ch\ti"),
        conversation("x-early", merchant_id="m-move", country="TR"),
        moved,
    ]


def full_report() -> dict:
    config = load_config(FIXTURES / "report.toml")
    params = build_params(config, "2021-11-01", "2022-11-01", "2026-01-01T00:00:00+00:00")
    return compute_report(params).as_dict()


def import_file(path: Path) -> None:
    call_command("import", str(path), "--no-progress", stdout=StringIO(), stderr=StringIO())


def export_file(path: Path) -> None:
    out = StringIO()
    call_command("export", str(path), "--no-progress", stdout=out)
    assert f"to {path}" in out.getvalue()


def empty_the_database() -> None:
    call_command("flush", "--no-input", verbosity=0)
    assert not Conversation.objects.exists()
    assert not Merchant.objects.exists()
    assert not Tag.objects.exists()


@pytest.mark.parametrize("name", ["export.jsonl", "export.jsonl.gz"])
def test_export_then_import_into_an_empty_database_gives_the_same_report(tmp_path, name):
    import_file(SAMPLE)
    import_file(write_jsonl(tmp_path / "edge.jsonl", edge_cases()))
    before = full_report()
    merchants = sorted(
        Merchant.objects.values_list("external_id", "name", "country", "status", "language")
    )
    exported = tmp_path / name
    export_file(exported)

    empty_the_database()
    import_file(exported)

    assert full_report() == before  # exactly, not merely to the second
    assert Conversation.objects.count() == 3007
    assert sorted(
        Merchant.objects.values_list("external_id", "name", "country", "status", "language")
    ) == (merchants)


def test_the_sample_still_gives_its_expected_report_after_a_round_trip(tmp_path):
    import_file(SAMPLE)
    exported = tmp_path / "export.jsonl"
    export_file(exported)
    empty_the_database()
    import_file(exported)
    expected = json.loads((FIXTURES / "sample-report.json").read_text())
    assert_report_matches(full_report(), expected)


def test_export_import_export_gives_the_same_file(tmp_path):
    import_file(SAMPLE)
    import_file(write_jsonl(tmp_path / "edge.jsonl", edge_cases()))
    first = tmp_path / "first.jsonl.gz"
    export_file(first)
    empty_the_database()
    import_file(first)
    second = tmp_path / "second.jsonl.gz"
    export_file(second)
    assert gzip.decompress(first.read_bytes()) == gzip.decompress(second.read_bytes())


@pytest.mark.django_db
def test_an_exported_line_holds_the_conversation_as_filed(tmp_path):
    import_file(write_jsonl(tmp_path / "edge.jsonl", edge_cases()))
    exported = tmp_path / "export.jsonl"
    export_file(exported)
    rows = exported.read_bytes().split(b"\n")  # JSON Lines end at \n only
    assert rows.pop() == b""
    lines = {json.loads(row)["id"]: json.loads(row) for row in rows}
    assert len(lines) == 7
    assert lines["x-separators"]["subject"] == "a\u2028b\u2029c\u0085d\x1ce\rf\x0bg\x0ch\ti"
    early, moved = lines["x-early"], lines["x-moved"]
    assert (early["merchant"]["country"], moved["merchant"]["country"]) == ("TR", "DE")
    edge = lines["x-fractions"]
    assert edge["created_at"] == "2022-03-01T09:00:00.123456Z"
    assert edge["kind"] == "complaint"
    assert sorted(edge["tags"]) == ["<script>", "order_cancel", "Émoji Tag"]
    assert [m["id"] for m in edge["messages"]] == ["1", "2", "3", "4"]
    assert edge["messages"][2]["public"] is False
    assert edge["messages"][3]["body"] == '订单 "quoted" \\ done'
    assert [(c["status"], c["at"]) for c in edge["status_changes"]] == [
        ("solved", "2022-03-01T09:10:00Z"),
        ("open", "2022-03-01T09:10:00Z"),
        ("solved", "2022-03-01T09:15:00.500000Z"),
        ("closed", "2022-03-01T09:16:40Z"),
    ]
    assert edge["status_changes"][0]["by"] == "agent-7"
    assert lines["x-outcome-on-question"]["outcome"] == "withdrawn"
    assert lines["x-spam"]["spam"] is True
    assert lines["x-outreach"]["initiated_by"] == "support"


@pytest.mark.django_db
def test_exporting_an_empty_database_writes_an_empty_file(tmp_path):
    exported = tmp_path / "empty.jsonl"
    export_file(exported)
    assert exported.read_text() == ""


@pytest.mark.skipif(
    connection.vendor == "sqlite",
    reason="the SQLite test database lives in memory with a shared cache, where a reader's "
    "open transaction locks writers out instead of giving them a snapshot; the WAL file "
    "database sellerdesk runs on gives the deferred read transaction its snapshot",
)
def test_a_backup_of_a_live_desk_holds_one_moment_and_restores_to_the_same_report(tmp_path):
    import_file(SAMPLE)
    before = full_report()
    sample_ids = [json.loads(line)["id"] for line in SAMPLE.read_text().splitlines()[:50]]
    # While the export runs: new conversations filed, and existing ones replaced whole.
    changes = [conversation(f"x-live-{n}", kind="complaint") for n in range(20)]
    changes += [conversation(sample_id, tags=["changed_meanwhile"]) for sample_id in sample_ids]
    during = write_jsonl(tmp_path / "during.jsonl", changes)

    seen_meanwhile: list[int] = []

    def write_meanwhile() -> None:
        try:
            import_file(during)
            live = Conversation.objects.filter(external_id__startswith="x-live-")
            seen_meanwhile.append(live.count())
        finally:
            connections.close_all()

    lines = export_lines(chunk_size=100)
    exported = [next(lines)]  # the export's snapshot is taken
    writer = threading.Thread(target=write_meanwhile)
    writer.start()
    writer.join(timeout=60)
    assert not writer.is_alive()
    assert seen_meanwhile == [20]  # written and committed while the export was reading
    exported.extend(lines)
    backup = tmp_path / "backup.jsonl"
    backup.write_text("".join(f"{line}\n" for line in exported), encoding="utf-8")

    empty_the_database()
    import_file(backup)

    assert Conversation.objects.count() == 3000
    assert not Tag.objects.filter(name="changed_meanwhile").exists()
    assert full_report() == before


# --- The report of a backup: `sellerdesk export --report` --------------------------------------

REPORT_PERIOD = [
    "--from",
    "2021-11-01",
    "--to",
    "2030-01-01",
    "--config",
    str(FIXTURES / "report.toml"),
]


def export_with_report(path: Path, report: Path) -> str:
    out = StringIO()
    call_command(
        "export", str(path), "--no-progress", "--report", str(report), *REPORT_PERIOD, stdout=out
    )
    return out.getvalue()


def report_as_of(as_of: str) -> dict:
    out = StringIO()
    call_command("report", *REPORT_PERIOD, "--as-of", as_of, stdout=out)
    return json.loads(out.getvalue())


def test_an_export_writes_the_report_of_what_it_holds_which_a_restore_gives_back(
    tmp_path, acme_conversation, agent
):
    from sellerdesk.conversations import workflow

    import_file(SAMPLE)
    workflow.reply_post(conversation=acme_conversation, author=agent, body="Looking into it")
    backup, report = tmp_path / "backup.jsonl.gz", tmp_path / "backup-report.json"
    said = export_with_report(backup, report)
    backed_up = json.loads(report.read_text())
    assert f"report as of {backed_up['as_of']} (the export's snapshot)" in said
    assert backed_up["as_of"].endswith("+00:00")  # the configuration's time zone
    assert backed_up == report_as_of(backed_up["as_of"])  # nothing written since

    empty_the_database()
    import_file(backup)

    assert report_as_of(backed_up["as_of"]) == backed_up


def test_export_report_needs_its_period(tmp_path):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="--from and --to"):
        call_command("export", str(tmp_path / "x.jsonl"), "--report", str(tmp_path / "r.json"))


@pytest.mark.skipif(
    connection.vendor == "sqlite",
    reason="a second connection's open write transaction beside a reader needs PostgreSQL "
    "here (the SQLite test database is in memory with a shared cache; see above)",
)
def test_a_reply_committed_after_the_backup_began_is_in_neither_the_backup_nor_its_report(
    tmp_path, acme_conversation, agent
):
    """The trap of comparing a live report "as of the backup's moment" with the restore: a
    reply stamped before that moment but committed after the snapshot counts in a report
    computed later, yet is not in the backup. The report written by the export is computed in
    the export's own snapshot, so it is the report of exactly the backed-up state."""
    from django.db import transaction

    from sellerdesk.conversations import workflow

    import_file(SAMPLE)
    written, backed_up_done = threading.Event(), threading.Event()

    def reply_committed_late() -> None:
        try:
            with transaction.atomic():
                workflow.reply_post(
                    conversation=acme_conversation, author=agent, body="stamped early"
                )
                written.set()
                assert backed_up_done.wait(60)
        finally:
            connections.close_all()

    writer = threading.Thread(target=reply_committed_late)
    writer.start()
    assert written.wait(60)  # stamped, not committed
    backup, report = tmp_path / "backup.jsonl", tmp_path / "backup-report.json"
    export_with_report(backup, report)
    backed_up_done.set()
    writer.join(60)
    assert not writer.is_alive()
    backed_up = json.loads(report.read_text())

    # Committed now, stamped before the backup's moment: a live report computed afterwards
    # as of that moment counts it ...
    assert report_as_of(backed_up["as_of"]) != backed_up
    assert "stamped early" not in backup.read_text()

    empty_the_database()
    import_file(backup)

    # ... while the backup, restored, gives back exactly the report written with it.
    assert report_as_of(backed_up["as_of"]) == backed_up


def test_the_report_is_the_same_whatever_order_the_rows_are_stored_in(tmp_path):
    """Found by ``make bench-load``: a backup restored with the same rows in another physical
    order gave a mean 2e-15 apart, the sum of doubles depending on their order."""
    from tests.builders import PERIOD

    durations = [0.3, 0.2, 0.1, 3e7 + 0.000001, 0.7, 1e-6]
    lines = [
        conversation(
            f"c-{n}",
            messages=[
                message("1", author="merchant", created_at=ts()),
                message("2", created_at=ts(seconds)),
            ],
            status_changes=[status("solved", ts(seconds))],
        )
        for n, seconds in enumerate(durations)
    ]

    def report_of(order: list[dict]) -> dict:
        empty_the_database()
        import_file(write_jsonl(tmp_path / "order.jsonl", order))
        params = build_params(load_config(FIXTURES / "report.toml"), *PERIOD, LATER)
        return compute_report(params).as_dict()

    first = report_of(lines)
    assert report_of(list(reversed(lines))) == first
    assert report_of(sorted(lines, key=lambda line: line["id"][::-1])) == first
    means = first["segments"][-1]
    # the mean of the durations in whole microseconds, summed exactly
    exact = sum(Decimal(str(seconds)) for seconds in durations)
    assert means["first_response_seconds"]["mean"] == float(exact) / len(durations)
