"""`sellerdesk import --workers N`: several processes, the same result as one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.db import connection

from sellerdesk.conversations.import_files import _owner, default_workers
from tests.builders import at, conversation, line, message, status
from tests.conftest import REPO

SELLERDESK = Path(sys.executable).parent / "sellerdesk"


def _lines() -> list[str]:
    """A file with repeated ids (the later line wins), shared merchants filed out of order,
    shared tags, and bad lines among the good ones."""
    rows: list[str] = []
    for number in range(300):
        created = at(hours=number)
        obj = conversation(
            f"c-{number % 240}",  # ids 0..59 come twice: the second line must win
            merchant_id=f"m-{number % 17}",
            country=["TR", "CN", "DE"][number % 3],
            created_at=created.isoformat(),
            tags=[f"tag-{number % 5}", f"tag-{number % 7}"],
            subject=f"version {number}",
            messages=[message("1", author="merchant", created_at=created.isoformat())],
            status_changes=[status("solved", at(hours=number, minutes=30).isoformat())],
        )
        rows.append(line(obj))
        if number % 50 == 7:
            rows.append('{"id": "broken", ')
    return rows


def _env(tmp_path: Path, database_url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "SELLERDESK_ENV"}}
    env["SELLERDESK_VAR_DIR"] = str(tmp_path)
    env.pop("DATABASE_URL", None)
    if database_url:
        env["DATABASE_URL"] = database_url
    return env


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SELLERDESK), *args], env=env, cwd=REPO, capture_output=True, text=True,
        timeout=300, check=False,
    )  # fmt: skip


def _import_and_export(tmp_path: Path, source: Path, workers: int, database_url: str | None):
    env = _env(tmp_path, database_url)
    assert _run(["migrate", "-v", "0"], env).returncode == 0
    result = _run(["import", str(source), "--no-progress", "--workers", str(workers)], env)
    exported = tmp_path / "export.jsonl"
    assert _run(["export", str(exported), "--no-progress"], env).returncode == 0
    report = _run(
        ["report", "--from", "2000-01-01", "--to", "2100-01-01", "--as-of", "2100-01-01"], env
    )
    assert report.returncode == 0, report.stderr
    return result, sorted(exported.read_text().splitlines()), json.loads(report.stdout)


def _scratch_postgres():
    """A throw-away database beside the test database, or None on SQLite."""
    if connection.vendor != "postgresql":
        return None
    import psycopg

    settings = connection.settings_dict
    name = f"sd_workers_{uuid.uuid4().hex[:8]}"
    conninfo = {
        "host": settings["HOST"] or "127.0.0.1", "port": settings["PORT"] or 5432,
        "user": settings["USER"], "password": settings["PASSWORD"] or None, "dbname": "postgres",
    }  # fmt: skip
    return name, conninfo, psycopg


@pytest.mark.django_db
def test_several_workers_store_what_one_worker_stores(tmp_path):
    source = tmp_path / "input.jsonl"
    source.write_text("\n".join(_lines()) + "\n")
    scratch = _scratch_postgres()
    urls: list[str | None] = [None, None]
    if scratch:
        name, conninfo, psycopg = scratch
        with psycopg.connect(**conninfo, autocommit=True) as admin:
            admin.execute(f"CREATE DATABASE {name}_1")
            admin.execute(f"CREATE DATABASE {name}_2")
        base = f"postgres://{conninfo['user']}@{conninfo['host']}:{conninfo['port']}/{name}"
        urls = [f"{base}_1", f"{base}_2"]
    try:
        (tmp_path / "one").mkdir()
        (tmp_path / "two").mkdir()
        one, one_lines, one_report = _import_and_export(tmp_path / "one", source, 1, urls[0])
        two, two_lines, two_report = _import_and_export(tmp_path / "two", source, 2, urls[1])
    finally:
        if scratch:
            with psycopg.connect(**conninfo, autocommit=True) as admin:
                admin.execute(f"DROP DATABASE IF EXISTS {name}_1")
                admin.execute(f"DROP DATABASE IF EXISTS {name}_2")
    # The same rejections, in line order, and the same exit status.
    assert one.returncode == two.returncode == 1
    assert one.stderr.splitlines() == two.stderr.splitlines()
    assert "input.jsonl:9: rejected: not valid JSON" in two.stderr
    # The same conversations (the later line of each repeated id), merchants and report.
    assert two_lines == one_lines
    assert len(two_lines) == 240
    versions = {json.loads(row)["id"]: json.loads(row)["subject"] for row in two_lines}
    assert versions["c-0"] == "version 240"
    assert versions["c-59"] == "version 299"
    assert two_report == one_report


def test_every_line_of_one_conversation_goes_to_the_same_worker():
    first = line(conversation("c-7", subject="one")).encode()
    second = line(conversation("c-7", subject="two", tags=["x"])).encode()
    assert _owner(first, 3) == _owner(second, 3)
    assert _owner(b'{"id": ', 3) == 0  # unreadable lines go to the first worker
    assert _owner(b"[1, 2]", 3) == 0
    # Read off the line's start or parsed out of it, the same id routes the same way.
    reordered = json.dumps({"merchant": {"id": "m-1"}, "id": "c-7"}).encode()
    assert _owner(reordered, 3) == _owner(first, 3)
    assert _owner(b'{"id": "c-7", "id": "c-7"}', 7) == _owner(first, 7)


@pytest.mark.django_db
def test_one_worker_for_standard_input_and_inside_a_transaction():
    assert default_workers("-") == 1
    # The test runs inside a transaction no other process can see.
    assert default_workers("some.jsonl") == 1


def test_a_failing_worker_fails_the_import_with_its_reason(tmp_path, monkeypatch):
    from sellerdesk.conversations import import_files

    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    source = tmp_path / "input.jsonl"
    source.write_text(line(conversation("c-1")) + "\n")
    monkeypatch.setattr(import_files, "_import_share", broken)  # inherited by the forked workers
    with pytest.raises(import_files.ImportWorkerError, match="disk on fire"):
        # The workers' part of a file import: no database is reached before they fail.
        import_files._import_file(str(source), 2, None, False, None)
