"""Child processes and databases for the benchmark: fresh SQLite and PostgreSQL databases, and
commands run with their wall time and their own peak RSS. Used by ``bench/run.py``."""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
DATA = BENCH / "data"


# --- what was measured ---------------------------------------------------------------------


def proc_field(path: str, name: str) -> str | None:
    """The value of the first ``name: value`` line of a ``/proc`` file (``/proc/cpuinfo``)."""
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(name):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def git_state() -> dict[str, Any]:
    """The commit measured, and whether tracked files differed from it."""

    def git(*argv: str) -> str:
        done = subprocess.run(["git", *argv], cwd=REPO, capture_output=True, text=True, check=False)
        return done.stdout.strip()

    return {
        "commit": git("rev-parse", "HEAD"),
        "dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
    }


# --- child processes --------------------------------------------------------------------------


def sellerdesk_command() -> list[str]:
    script = Path(sys.executable).parent / "sellerdesk"
    return [str(script)] if script.exists() else [sys.executable, "-m", "sellerdesk"]


@dataclass
class Child:
    returncode: int
    seconds: float
    peak_rss_mb: float
    stdout: str
    stderr: str


#: Waits for the command and writes "exit-code seconds peak-RSS-KiB" to the file in argv[1].
#: Linux charges a child, at exec, with the peak RSS of the process it was forked from, so a
#: child of run.py would report at least run.py's own size; this small middle process keeps
#: that floor at its own ~10 MB. (``/usr/bin/time -f %M`` works the same way.)
_TRAMPOLINE = """
import os, subprocess, sys, time
started = time.perf_counter()
proc = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(proc.pid, 0)
seconds = time.perf_counter() - started
code = os.waitstatus_to_exitcode(status)
with open(sys.argv[1], "w") as out:
    out.write(f"{code} {seconds} {usage.ru_maxrss}")
sys.exit(0)
"""


def run_child(argv: list[str], env: dict[str, str], log: Path) -> Child:
    """Run a command; its wall time and its own peak RSS (``os.wait4``, Linux: KiB)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    out_path, err_path = log.with_suffix(".out"), log.with_suffix(".err")
    usage_path = log.with_suffix(".rusage")
    usage_path.unlink(missing_ok=True)
    with out_path.open("wb") as out, err_path.open("wb") as err:
        subprocess.run(
            [sys.executable, "-c", _TRAMPOLINE, str(usage_path), *argv],
            env=env, cwd=REPO, stdout=out, stderr=err, check=True,
        )  # fmt: skip
    code, seconds, max_rss_kib = usage_path.read_text().split()
    return Child(
        returncode=int(code),
        seconds=float(seconds),
        peak_rss_mb=int(max_rss_kib) / 1024,
        stdout=out_path.read_text(errors="replace"),
        stderr=err_path.read_text(errors="replace"),
    )


def check(child: Child, what: str) -> None:
    if child.returncode != 0:
        tail = "\n".join((child.stderr or child.stdout).strip().splitlines()[-15:])
        raise RuntimeError(f"{what} exited with {child.returncode}:\n{tail}")


def json_child(argv: list[str], env: dict[str, str], log: Path, what: str) -> dict[str, Any]:
    child = run_child(argv, env, log)
    check(child, what)
    return json.loads(child.stdout.strip().splitlines()[-1])


# --- databases --------------------------------------------------------------------------------


def base_env(*, debug: bool = False) -> dict[str, str]:
    """The children's environment. DEBUG is off as in production unless asked for: with it on,
    Django keeps the SQL text of the last 9,000 statements, which the import's RSS then carries."""
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "SELLERDESK_VAR_DIR"}}
    env.setdefault("SECRET_KEY", "bench-only-not-a-secret")
    env["DJANGO_SETTINGS_MODULE"] = "sellerdesk.settings"
    env["DEBUG"] = "1" if debug else "0"
    return env


def _sqlite_dir(size: int) -> Path:
    return DATA / f"sqlite-{size}"


def fresh_sqlite(size: int, *, debug: bool) -> dict[str, str]:
    directory = _sqlite_dir(size)
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    return {**base_env(debug=debug), "SELLERDESK_VAR_DIR": str(directory)}


def pg_admin_url(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if not re.fullmatch(r"sd_bench\w*", name):
        raise SystemExit(f"refusing to drop database {name!r}: the benchmark only uses sd_bench*")
    return urlunsplit(parts._replace(path="/postgres")), name


def fresh_postgres(url: str, *, debug: bool) -> dict[str, str]:
    import psycopg

    admin, name = pg_admin_url(url)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return {**base_env(debug=debug), "DATABASE_URL": url}


def analyze(engine: str, env: dict[str, str]) -> float:
    """Bring planner statistics up to date, as autovacuum (PostgreSQL) or a periodic
    ``PRAGMA optimize`` (SQLite) would; the importer does not do it itself."""
    started = time.perf_counter()
    if engine == "postgresql":
        import psycopg

        with psycopg.connect(env["DATABASE_URL"], autocommit=True) as conn:
            conn.execute("VACUUM (ANALYZE)")
    else:
        lite = sqlite3.connect(Path(env["SELLERDESK_VAR_DIR"]) / "sellerdesk.sqlite3")
        try:
            lite.execute("ANALYZE")
        finally:
            lite.close()
    return time.perf_counter() - started


def db_stats(engine: str, env: dict[str, str]) -> tuple[int, int, int]:
    """(conversations, messages, bytes on disk)."""
    if engine == "postgresql":
        import psycopg

        with psycopg.connect(env["DATABASE_URL"]) as conn:
            row = conn.execute(
                "SELECT (SELECT count(*) FROM conversations_conversation),"
                " (SELECT count(*) FROM conversations_message), pg_database_size(current_database())"
            ).fetchone()
            assert row is not None
            return int(row[0]), int(row[1]), int(row[2])
    directory = Path(env["SELLERDESK_VAR_DIR"])
    lite = sqlite3.connect(directory / "sellerdesk.sqlite3")
    try:
        ((conversations,),) = lite.execute("SELECT count(*) FROM conversations_conversation")
        ((messages,),) = lite.execute("SELECT count(*) FROM conversations_message")
    finally:
        lite.close()
    size = sum(p.stat().st_size for p in directory.glob("sellerdesk.sqlite3*"))
    return conversations, messages, size
