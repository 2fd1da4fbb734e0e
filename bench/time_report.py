"""Time sellerdesk's report engine in-process, over the database the environment points at.

Run by ``bench/run.py`` in a subprocess per engine, so that ``DATABASE_URL`` (PostgreSQL) or
``SELLERDESK_VAR_DIR`` (SQLite) select the database exactly as they do for ``sellerdesk``.
One untimed warm-up, then ``--repeat`` timed calls of ``compute_report(build_params(...))``.
Each SQL statement is timed too (a Django execute wrapper), so the output says where the time
goes. Prints one JSON object on standard output::

    {"vendor": "postgresql", "warmup_s": 5.1, "times_s": [4.6, 4.7, 4.6], "median_s": 4.6,
     "statements": [{"label": "tag pairs", "median_s": 1.2, "sql": "WITH ..."}, ...],
     "report": {...the report's JSON form...}}

``--profile FILE`` also writes a cProfile of one more call; ``--explain FILE`` writes the plan
of every statement (``EXPLAIN (ANALYZE, BUFFERS)`` on PostgreSQL, ``EXPLAIN QUERY PLAN`` on
SQLite), both untimed.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent


def _label(sql: str, index: int) -> str:
    """A short name for a report statement, from the tables it reads (the engine may change)."""
    text = " ".join(sql.split()).lower()
    if text.startswith("set "):
        return "settings"
    if "tagpair" in text:
        return "tag pairs"
    if "ts(topic" in text or ("topic" in text and "conversationtag" in text):
        return "topics"
    if (
        "percentile" in text
        or "row_number() over (partition by seg, metric" in text
        or ("width_bucket(u.x" in text)
    ):
        return "figures + medians" if "sum(case" in text else "medians"
    if "conversationtag" in text:
        return "tags"
    if text.startswith("select name, id from"):
        return "tag ids"
    if "sum(case" in text or "count(" in text:
        return "figures"
    return f"statement {index + 1}"


class _StatementTimer:
    """A Django execute wrapper recording each statement's SQL, parameters and duration."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any, float]] = []

    def __call__(
        self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any
    ) -> Any:
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.calls.append((sql, params, time.perf_counter() - started))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default=str(BENCH / "report.toml"))
    parser.add_argument("--from", dest="start", required=True)
    parser.add_argument("--to", dest="end", required=True)
    parser.add_argument("--as-of", dest="as_of", required=True)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--profile", help="write a cProfile of one more run here")
    parser.add_argument("--explain", help="write the plan of every statement here")
    args = parser.parse_args(argv)

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sellerdesk.settings")
    import django

    django.setup()
    from django.db import connection

    from sellerdesk.reports.config import build_params, load_config
    from sellerdesk.reports.engine import compute_report
    from sellerdesk.reports.render import render

    params = build_params(load_config(args.config), args.start, args.end, args.as_of)

    started = time.perf_counter()
    report = compute_report(params)
    warmup = time.perf_counter() - started

    # The engine runs some statements on connections of its own, in threads: each connection
    # made during a timed run gets the run's timer too.
    from django.db.backends.signals import connection_created

    current: list[_StatementTimer] = []

    def time_new_connections(sender: Any, connection: Any, **kwargs: Any) -> None:
        if current:
            connection.execute_wrappers.append(current[0])

    connection_created.connect(time_new_connections)
    times: list[float] = []
    per_statement: list[list[tuple[str, Any, float]]] = []
    for _ in range(args.repeat):
        timer = _StatementTimer()
        current[:] = [timer]
        with connection.execute_wrapper(timer):
            started = time.perf_counter()
            report = compute_report(params)
            times.append(time.perf_counter() - started)
        current.clear()
        per_statement.append(timer.calls)
    connection_created.disconnect(time_new_connections)

    # Statements on several connections finish in any order: matched across runs by label
    # (the n-th statement of a label), each with its own duration.
    statements = []
    runs = [_by_label(calls) for calls in per_statement]
    if runs and all(run.keys() == runs[0].keys() for run in runs):
        for key, (sql, _) in runs[0].items():
            durations = [run[key][1] for run in runs]
            statements.append({
                "label": key[0], "median_s": statistics.median(durations), "sql": sql,
            })  # fmt: skip

    if args.profile:
        profiler = cProfile.Profile()
        profiler.runcall(compute_report, params)
        profiler.dump_stats(args.profile)
    if args.explain and per_statement:
        _explain(connection, per_statement[0], Path(args.explain))

    print(json.dumps({
        "vendor": connection.vendor,
        "warmup_s": warmup,
        "times_s": times,
        "median_s": statistics.median(times) if times else warmup,
        "statements": statements,
        "report": json.loads(render(report, "json")),
    }))  # fmt: skip


def _by_label(calls: list[tuple[str, Any, float]]) -> dict[tuple[str, int], tuple[str, float]]:
    """{(label, n): (sql, seconds)} for the n-th statement of each label, in the order run."""
    found: dict[tuple[str, int], tuple[str, float]] = {}
    seen: dict[str, int] = {}
    for index, (sql, _, seconds) in enumerate(calls):
        label = _label(sql, index)
        if label.startswith("statement "):
            label = "other"
        seen[label] = seen.get(label, 0) + 1
        found[(label, seen[label])] = (sql, seconds)
    return found


def _explain(connection: Any, calls: list[tuple[str, Any, float]], path: Path) -> None:
    """The plan of every query the report ran, with its settings (``SET LOCAL ...``) applied in
    the same transaction; a plan that cannot be had is noted, never fatal."""
    from django.db import transaction

    prefix = (
        "EXPLAIN (ANALYZE, BUFFERS, SETTINGS)"
        if connection.vendor == "postgresql"
        else "EXPLAIN QUERY PLAN"
    )
    with (
        path.open("w", encoding="utf-8") as out,
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        for index, (sql, params, seconds) in enumerate(calls):
            head = sql.lstrip()[:10].lower()
            if head.startswith("set ") and not sql.lstrip().lower().startswith("set transaction"):
                cursor.execute(sql, params)
                continue
            if not head.startswith(("select", "with")):
                continue
            shown = repr(params)
            shown = shown if len(shown) <= 300 else shown[:300] + " ..."
            out.write(
                f"-- {_label(sql, index)}: {seconds:.3f} s when timed\n{sql}\n-- params: {shown}\n"
            )
            try:
                with transaction.atomic():
                    cursor.execute(f"{prefix} {sql}", params)
                    rows = cursor.fetchall()
            except Exception as exc:
                out.write(f"  (no plan: {exc})\n\n")
                continue
            for row in rows:
                out.write("  " + " | ".join(str(v) for v in row) + "\n")
            out.write("\n")


if __name__ == "__main__":
    main()
