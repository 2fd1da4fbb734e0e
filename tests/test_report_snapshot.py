"""The report reads one snapshot however it runs: on PostgreSQL outside a transaction the
medians run on a second connection that imports the first one's snapshot; inside a caller's
transaction everything runs on one connection. Both give the same figures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection, transaction

from sellerdesk.reports.config import build_params, load_config
from sellerdesk.reports.engine import _sqlite_may_share, compute_report
from tests.conftest import FIXTURES, REPO
from tests.test_sample_report import assert_report_matches


@pytest.mark.django_db(transaction=True)
def test_the_report_is_the_same_on_a_shared_snapshot_and_inside_a_transaction():
    call_command(
        "import", str(FIXTURES / "sample-conversations.jsonl"), "--no-progress", stdout=StringIO()
    )
    params = build_params(
        load_config(FIXTURES / "report.toml"), "2021-11-01", "2022-11-01", "2026-01-01T00:00:00Z"
    )
    assert not connection.in_atomic_block
    outside = compute_report(params).as_dict()
    assert not connection.in_atomic_block  # the report's own read transaction is closed
    with transaction.atomic():
        inside = compute_report(params).as_dict()
    assert outside == inside
    assert outside["segments"][3]["first_response_seconds"]["median"] is not None


def test_on_a_sqlite_file_the_report_reads_one_snapshot_on_several_connections(tmp_path):
    """The embedded default: a SQLite file, where the report's statements run side by side on
    connections that opened their read transactions while the write lock was held. The
    sample gives the expected report that way too (run as the command, as people run it)."""
    env = {**os.environ, "DATABASE_URL": "", "SELLERDESK_VAR_DIR": str(tmp_path / "var")}
    command = [sys.executable, "-m", "sellerdesk"]

    def run(*args: str) -> None:
        subprocess.run([*command, *args], env=env, check=True, cwd=REPO, capture_output=True)

    run("migrate", "-v", "0")
    run("import", str(FIXTURES / "sample-conversations.jsonl"), "--no-progress")
    output = tmp_path / "report.json"
    run(
        "report", "--from", "2021-11-01", "--to", "2022-11-01",
        "--as-of", "2026-01-01T00:00:00+00:00", "--config", str(FIXTURES / "report.toml"),
        "--output", str(output),
    )  # fmt: skip
    expected = json.loads((FIXTURES / "sample-report.json").read_text())
    assert_report_matches(json.loads(output.read_text()), expected)


@pytest.mark.parametrize(
    ("name", "shared"),
    [("/var/sellerdesk.sqlite3", True), (":memory:", False), ("file:x?mode=memory", False)],
)
def test_only_a_sqlite_file_outside_a_transaction_is_read_on_several_connections(name, shared):
    class Connection:
        vendor = "sqlite"
        in_atomic_block = False
        settings_dict = {"NAME": name}

        class connection:  # the DB-API connection Django keeps as .connection
            in_transaction = False

        def ensure_connection(self) -> None:
            pass

    assert _sqlite_may_share(Connection()) is shared
    busy = Connection()
    busy.in_atomic_block = True
    assert _sqlite_may_share(busy) is False
