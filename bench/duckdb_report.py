"""The same report computed by DuckDB from the same stored facts: the ceiling, and a cross-check.

The facts sellerdesk's report reads (the conversation row's stored facts, conversation_tag,
conversation_tag_pair, resolution_stretch, tag) are copied out of the benchmark's PostgreSQL or
SQLite database into an in-memory DuckDB (through a temporary CSV; not timed). Then the report
of docs/report.md is computed in DuckDB SQL, ``--repeat`` times, and its figures are printed in
the report's JSON shape so ``bench/run.py`` can compare them with sellerdesk's, figure by figure.

The SQL is written from report.md, not copied from sellerdesk's engine, so that the two agree
only when both follow the spec. Only the report configuration is parsed by sellerdesk's own
parser (the segments' countries, normalized topic tag names, the period).

Run by ``bench/run.py`` in a subprocess; prints one JSON object on standard output.
"""

from __future__ import annotations

import argparse
import csv
import json
import sqlite3
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from sellerdesk.reports.config import ReportParams, build_params, load_config

BENCH = Path(__file__).resolve().parent
KINDS = ("question", "request", "proposal", "complaint")
OUTCOMES = ("upheld", "partially_upheld", "rejected", "withdrawn", "no_action")

# Django's default table names for the models the report reads.
FACTS: dict[str, tuple[str, str, str]] = {
    # name in DuckDB: (table, columns to copy, DuckDB column types)
    "conv": (
        "conversations_conversation",
        "id, country, kind, outcome, initiated_by, spam, created_at, first_response_at, "
        "first_response_seconds, status_changed_at, resolution_seconds",
        "id BIGINT, country VARCHAR, kind VARCHAR, outcome VARCHAR, initiated_by VARCHAR, "
        "spam INTEGER, created_at TIMESTAMP, first_response_at TIMESTAMP, "
        "first_response_seconds DOUBLE, status_changed_at TIMESTAMP, resolution_seconds DOUBLE",
    ),
    "stretch": (
        "conversations_resolutionstretch",
        "conversation_id, started_at, ended_at, started_seconds",
        "conversation_id BIGINT, started_at TIMESTAMP, ended_at TIMESTAMP, started_seconds DOUBLE",
    ),
    "ct": (
        "conversations_conversationtag",
        "conversation_id, tag_id",
        "conversation_id BIGINT, tag_id BIGINT",
    ),
    "pair": (
        "conversations_conversationtagpair",
        "conversation_id, tag_a_id, tag_b_id",
        "conversation_id BIGINT, tag_a_id BIGINT, tag_b_id BIGINT",
    ),
    "tag": ("conversations_tag", "id, name", "id BIGINT, name VARCHAR"),
}
_TIMESTAMP_COLUMNS = {
    "created_at",
    "first_response_at",
    "status_changed_at",
    "started_at",
    "ended_at",
}


# --- loading (not timed) ----------------------------------------------------------------------


def _postgres_select(columns: str) -> str:
    """UTC wall time for timestamps (DuckDB's TIMESTAMP) and 0/1 for booleans."""
    out = []
    for column in (c.strip() for c in columns.split(",")):
        if column in _TIMESTAMP_COLUMNS:
            out.append(f"{column} AT TIME ZONE 'UTC'")
        elif column == "spam":
            out.append("spam::int")
        else:
            out.append(column)
    return ", ".join(out)


def _export_postgres(url: str, directory: Path) -> None:
    import psycopg

    with psycopg.connect(url) as conn, conn.cursor() as cursor:
        for name, (table, columns, _) in FACTS.items():
            sql = f"COPY (SELECT {_postgres_select(columns)} FROM {table}) TO STDOUT (FORMAT csv)"
            with (directory / f"{name}.csv").open("wb") as out, cursor.copy(sql) as copy:
                for data in copy:
                    out.write(data)


def _export_sqlite(path: str, directory: Path) -> None:
    """Django stores SQLite datetimes as UTC text ('2022-03-01 09:00:00[.ffffff]')."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        for name, (table, columns, _) in FACTS.items():
            with (directory / f"{name}.csv").open("w", newline="", encoding="utf-8") as out:
                csv.writer(out).writerows(conn.execute(f"SELECT {columns} FROM {table}"))
    finally:
        conn.close()


def load(
    *, database_url: str | None = None, sqlite_path: str | None = None
) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB holding the report's facts, copied from PostgreSQL or SQLite."""
    con = duckdb.connect()
    with tempfile.TemporaryDirectory(prefix="sd-bench-duck-") as tmp:
        directory = Path(tmp)
        if database_url:
            _export_postgres(database_url, directory)
        elif sqlite_path:
            _export_sqlite(sqlite_path, directory)
        else:
            raise ValueError("give a PostgreSQL URL or a SQLite path")
        for name, (_, _, types) in FACTS.items():
            column_types = {
                part.strip().split(" ")[0]: part.strip().split(" ")[1] for part in types.split(",")
            }
            con.execute(
                f"CREATE TABLE {name} AS SELECT * FROM read_csv(?, header = false, columns = ?, "
                "nullstr = '', quote = '\"')",
                [str(directory / f"{name}.csv"), column_types],
            )
    return con


# --- the report (timed) -----------------------------------------------------------------------


def _naive_utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)


def compute(con: duckdb.DuckDBPyConnection, params: ReportParams) -> list[dict[str, Any]]:
    """The report's segments, in report.md's JSON shape, computed by DuckDB."""
    config = params.config
    start, end, as_of = (_naive_utc(t) for t in (params.start, params.end, params.as_of))

    seg_rows = [(i, c) for i, s in enumerate(config.segments) for c in sorted(s.countries)]
    con.execute("CREATE OR REPLACE TEMP TABLE seg (seg INTEGER, country VARCHAR)")
    con.executemany("INSERT INTO seg VALUES (?, ?)", seg_rows)

    # Population (report.md): merchant-initiated, not spam, filed in [start, end) and by as_of;
    # the first response counts when made by as_of; the resolution moment is the one of the
    # stretch in solved/closed that covers as_of (the stored one when nothing changed since).
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE pop AS
        SELECT c.id, c.country, c.kind, c.outcome,
          CASE WHEN c.first_response_at <= $as_of THEN c.first_response_seconds END AS fr,
          CASE WHEN c.status_changed_at IS NULL OR c.status_changed_at <= $as_of
               THEN c.resolution_seconds ELSE rs.started_seconds END AS res
        FROM conv c
        LEFT JOIN stretch rs ON rs.conversation_id = c.id AND c.status_changed_at > $as_of
          AND rs.started_at <= $as_of AND (rs.ended_at IS NULL OR rs.ended_at > $as_of)
        WHERE c.initiated_by = 'merchant' AND c.spam = 0
          AND c.created_at >= $start AND c.created_at < $end AND c.created_at <= $as_of
        """,
        {"as_of": as_of, "start": start, "end": end},
    )
    kinds = ", ".join(f"count(*) FILTER (WHERE kind = '{k}')" for k in KINDS)
    outcomes = ", ".join(
        f"count(*) FILTER (WHERE kind = 'complaint' AND outcome = '{o}')" for o in OUTCOMES
    )
    main = con.execute(
        f"""
        SELECT s.seg, count(*), {kinds},
          count(fr), avg(fr), median(fr), count(res), avg(res), median(res),
          {outcomes}, count(*) FILTER (WHERE kind = 'complaint' AND outcome IS NULL),
          avg(res) FILTER (WHERE kind = 'complaint'), median(res) FILTER (WHERE kind = 'complaint')
        FROM pop p JOIN seg s ON s.country = p.country
        GROUP BY s.seg
        """
    ).fetchall()
    # Ordered by count, then normalized name by code point (DuckDB compares UTF-8 bytes: the same).
    tags = con.execute(
        """
        SELECT seg, name, n FROM (
          SELECT s.seg, t.name, count(*) AS n,
            row_number() OVER (PARTITION BY s.seg ORDER BY count(*) DESC, t.name) AS rn
          FROM pop p JOIN seg s ON s.country = p.country
          JOIN ct ON ct.conversation_id = p.id JOIN tag t ON t.id = ct.tag_id
          GROUP BY s.seg, t.name)
        WHERE rn <= $top ORDER BY seg, rn
        """,
        {"top": config.top},
    ).fetchall()
    pairs = con.execute(
        """
        SELECT seg, a, b, n FROM (
          SELECT s.seg, ta.name AS a, tb.name AS b, count(*) AS n,
            row_number() OVER (PARTITION BY s.seg ORDER BY count(*) DESC, ta.name, tb.name) AS rn
          FROM pop p JOIN seg s ON s.country = p.country
          JOIN pair ON pair.conversation_id = p.id
          JOIN tag ta ON ta.id = pair.tag_a_id JOIN tag tb ON tb.id = pair.tag_b_id
          GROUP BY s.seg, ta.name, tb.name)
        WHERE rn <= $top ORDER BY seg, rn
        """,
        {"top": config.top},
    ).fetchall()

    # Topics: a conversation matches when it carries every tag of at least one set.
    set_rows = [
        (t, n, name, len(tag_set))
        for t, topic in enumerate(config.topics)
        for n, tag_set in enumerate(topic.any)
        for name in tag_set
    ]
    topic_counts: dict[tuple[int, int], int] = {}
    if set_rows:
        con.execute(
            "CREATE OR REPLACE TEMP TABLE ts (topic INTEGER, setno INTEGER, name VARCHAR, size INTEGER)"
        )
        con.executemany("INSERT INTO ts VALUES (?, ?, ?, ?)", set_rows)
        rows = con.execute(
            """
            WITH hits AS (
              SELECT DISTINCT p.id, p.country, ts.topic
              FROM pop p JOIN ct ON ct.conversation_id = p.id
              JOIN tag t ON t.id = ct.tag_id JOIN ts ON ts.name = t.name
              GROUP BY p.id, p.country, ts.topic, ts.setno, ts.size
              HAVING count(*) = ts.size)
            SELECT s.seg, h.topic, count(*) FROM hits h JOIN seg s ON s.country = h.country
            GROUP BY s.seg, h.topic
            """
        ).fetchall()
        topic_counts = {(seg, topic): n for seg, topic, n in rows}

    return _shape(params, main, tags, pairs, topic_counts)


def _num(value: Any) -> float | None:
    return None if value is None else float(value)


def _shape(
    params: ReportParams,
    main: list[tuple[Any, ...]],
    tags: list[tuple[Any, ...]],
    pairs: list[tuple[Any, ...]],
    topic_counts: dict[tuple[int, int], int],
) -> list[dict[str, Any]]:
    by_seg = {row[0]: row for row in main}
    segments = []
    for index, segment in enumerate(params.config.segments):
        row = by_seg.get(index)
        if row is None:  # an empty segment: zeros and nulls
            row = (index, 0, 0, 0, 0, 0, 0, None, None, 0, None, None, 0, 0, 0, 0, 0, 0, None, None)
        (_, count, q, r, p, c, responded, fr_mean, fr_median, resolved, res_mean, res_median,
         *rest) = row  # fmt: skip
        outcome_counts = rest[: len(OUTCOMES) + 1]
        complaint_mean, complaint_median = rest[len(OUTCOMES) + 1 :]
        segments.append({
            "name": segment.name,
            "conversations": count,
            "by_kind": dict(zip(KINDS, (q, r, p, c), strict=True)),
            "responded": responded,
            "first_response_seconds": {"mean": _num(fr_mean), "median": _num(fr_median)},
            "resolved": resolved,
            "resolution_seconds": {"mean": _num(res_mean), "median": _num(res_median)},
            "tags": [{"tag": name, "conversations": n} for seg, name, n in tags if seg == index],
            "tag_pairs": [
                {"tags": [a, b], "conversations": n} for seg, a, b, n in pairs if seg == index
            ],
            "topics": [
                {"name": topic.name, "conversations": topic_counts.get((index, t), 0)}
                for t, topic in enumerate(params.config.topics)
            ],
            "complaints": {
                "count": c,
                "outcomes": dict(zip([*OUTCOMES, "undecided"], outcome_counts, strict=True)),
                "resolution_seconds": {"mean": _num(complaint_mean), "median": _num(complaint_median)},
            },
        })  # fmt: skip
    return segments


# --- comparing --------------------------------------------------------------------------------


def compare(
    expected: list[dict[str, Any]], actual: list[dict[str, Any]], tolerance: float = 1.0
) -> list[str]:
    """Differences between two reports' segments: counts and lists exactly, seconds within
    ``tolerance``. An empty list means they agree."""
    problems: list[str] = []

    def walk(path: str, a: Any, b: Any) -> None:
        if isinstance(a, dict) and isinstance(b, dict):
            for key in sorted(set(a) | set(b)):
                if key not in a or key not in b:
                    problems.append(
                        f"{path}.{key}: only in {'sellerdesk' if key in b else 'duckdb'}"
                    )
                else:
                    walk(f"{path}.{key}", a[key], b[key])
        elif isinstance(a, list) and isinstance(b, list):
            if len(a) != len(b):
                problems.append(f"{path}: {len(a)} items in duckdb, {len(b)} in sellerdesk")
            for i, (x, y) in enumerate(zip(a, b, strict=False)):
                walk(f"{path}[{i}]", x, y)
        elif isinstance(a, float) or isinstance(b, float):
            if a is None or b is None or abs(float(a) - float(b)) > tolerance:
                problems.append(f"{path}: duckdb {a!r}, sellerdesk {b!r}")
        elif a != b:
            problems.append(f"{path}: duckdb {a!r}, sellerdesk {b!r}")

    if len(expected) != len(actual):
        problems.append(f"{len(expected)} segments in duckdb, {len(actual)} in sellerdesk")
    for e, a in zip(expected, actual, strict=False):
        walk(f"[{e.get('name')}]", e, a)
    return problems


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--database-url", help="copy the facts from this PostgreSQL database")
    source.add_argument("--sqlite", help="copy the facts from this SQLite file")
    parser.add_argument("--config", default=str(BENCH / "report.toml"))
    parser.add_argument("--from", dest="start", required=True)
    parser.add_argument("--to", dest="end", required=True)
    parser.add_argument("--as-of", dest="as_of", required=True)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)

    params = build_params(load_config(args.config), args.start, args.end, args.as_of)
    started = time.perf_counter()
    con = load(database_url=args.database_url, sqlite_path=args.sqlite)
    load_s = time.perf_counter() - started

    started = time.perf_counter()
    segments = compute(con, params)
    warmup = time.perf_counter() - started
    times = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        segments = compute(con, params)
        times.append(time.perf_counter() - started)
    threads = con.execute("SELECT current_setting('threads')").fetchone()
    print(json.dumps({
        "duckdb": duckdb.__version__,
        "threads": threads[0] if threads else None,
        "load_s": load_s,
        "warmup_s": warmup,
        "times_s": times,
        "median_s": statistics.median(times) if times else warmup,
        "segments": segments,
    }))  # fmt: skip


if __name__ == "__main__":
    main()
