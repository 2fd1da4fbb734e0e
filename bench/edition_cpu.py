"""An edition's figures against the report engine alone, by CPU time as well as wall time.

``python bench/edition_cpu.py --database-url postgres://.../sd_bench_help --rounds 5``
alternates, round after round (after a warm-up round), ``compute_report`` (the engine),
``compute_figures`` (an edition's figures: the engine's statements grouped by month as well)
(``--designs``). For
each run: the wall time, the client's CPU time (every thread of this process) and the CPU
time of the PostgreSQL backends and parallel workers serving the database (``pgcpu``), with
the load average. ``--statements`` also times each statement (wall, on every connection the
run opens); ``--explain FILE`` writes ``EXPLAIN (ANALYZE, BUFFERS)`` of each statement of one
edition run. Both engines: without ``--database-url`` on PostgreSQL, the SQLite database the
environment names (client CPU only, which includes SQLite's own work).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

PERIOD = ("2021-11-01", "2022-11-01")
AS_OF = "2022-11-02T00:00:00+00:00"


def _timeline(name: str, timer: Any, started: float) -> None:
    """Each statement's start and end (from the run's start) and its connection's thread."""
    from time_report import _label

    print(f"  {name}:")
    for index, (sql, _, seconds, end, thread) in enumerate(timer.spans):
        if seconds >= 0.01:
            print(
                f"    {thread:<24} {end - seconds - started:6.3f} .. {end - started:6.3f}"
                f"  {_label(sql, index)}"
            )


class _SpanTimer:
    """As time_report's timer, with when each statement ended and on which thread."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any, float]] = []
        self.spans: list[tuple[str, Any, float, float, str]] = []

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        import threading

        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            end = time.perf_counter()
            self.calls.append((sql, params, end - started))
            self.spans.append((sql, params, end - started, end, threading.current_thread().name))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--designs", default="engine,edition")
    parser.add_argument("--statements", action="store_true")
    parser.add_argument("--explain")
    parser.add_argument("--timeline", action="store_true", help="print when each statement ran")
    parser.add_argument("--output")
    args = parser.parse_args(argv)
    if args.database_url:
        os.environ["DATABASE_URL"] = args.database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sellerdesk.settings")
    os.environ["DEBUG"] = "0"
    import django

    django.setup()
    from django.db import connection
    from django.db.backends.signals import connection_created
    from time_report import _by_label, _explain, _StatementTimer

    from sellerdesk.reports.config import build_params
    from sellerdesk.reports.editions import compute_figures, parse_config_text
    from sellerdesk.reports.engine import compute_report

    config, _ = parse_config_text((BENCH / "report.toml").read_text())
    params = build_params(config, PERIOD[0], PERIOD[1], AS_OF)
    designs: dict[str, Any] = {
        "engine": lambda: compute_report(params),
        "edition": lambda: compute_figures(params),
    }
    chosen = {name: designs[name] for name in args.designs.split(",")}

    server: Any = None
    if connection.vendor == "postgresql":
        from pgcpu import ServerCpu

        server = ServerCpu(os.environ["DATABASE_URL"])

    current: list[Any] = []

    def time_new_connections(sender: Any, connection: Any, **kwargs: Any) -> None:
        if current:
            connection.execute_wrappers.append(current[0])

    connection_created.connect(time_new_connections)
    results: dict[str, dict[str, list[float]]] = {
        name: {"wall": [], "client_cpu": [], "server_cpu": []} for name in chosen
    }
    statements: dict[str, dict[str, list[float]]] = {name: {} for name in chosen}
    loads = [os.getloadavg()]
    for round_no in range(args.rounds + 1):
        for name, fn in chosen.items():
            timer = _SpanTimer()
            current[:] = [timer] if args.statements or args.timeline else []
            cpu = time.process_time()
            started = time.perf_counter()
            if server is not None:
                with server, connection.execute_wrapper(timer):
                    fn()
            else:
                with connection.execute_wrapper(timer):
                    fn()
            wall = time.perf_counter() - started
            client = time.process_time() - cpu - (server.own_seconds if server else 0.0)
            current.clear()
            if round_no == 0:
                continue  # the warm-up round
            if args.timeline:
                _timeline(name, timer, started)
            results[name]["wall"].append(wall)
            results[name]["client_cpu"].append(client)
            results[name]["server_cpu"].append(server.seconds if server else 0.0)
            if args.statements:
                for (label, n), (_, seconds) in _by_label(timer.calls).items():
                    statements[name].setdefault(f"{label} #{n}", []).append(seconds)
        loads.append(os.getloadavg())
    connection_created.disconnect(time_new_connections)

    summary: dict[str, Any] = {"vendor": connection.vendor, "loadavg": loads, "designs": {}}
    base = results.get("engine")
    for name, values in results.items():
        row = {key: statistics.median(v) for key, v in values.items()}
        row["cpu"] = row["client_cpu"] + row["server_cpu"]
        if base:
            # Ratios per round (the engine and the design met the same load), then the median.
            for key in ("wall", "client_cpu", "server_cpu"):
                pairs = zip(values[key], base[key], strict=True)
                ratios = [a / b for a, b in pairs if b]
                row[f"{key}_x_engine"] = statistics.median(ratios) if ratios else None
            totals = [
                (a + b) / (c + d)
                for a, b, c, d in zip(
                    values["client_cpu"], values["server_cpu"],
                    base["client_cpu"], base["server_cpu"], strict=True,
                )
                if c + d
            ]  # fmt: skip
            row["cpu_x_engine"] = statistics.median(totals) if totals else None
        row["runs"] = values
        if args.statements:
            row["statements_median_s"] = {
                k: statistics.median(v) for k, v in statements[name].items()
            }
        summary["designs"][name] = row
        print(
            f"{name:>9}: wall {row['wall']:.3f} s  client CPU {row['client_cpu']:.3f} s  "
            f"server CPU {row['server_cpu']:.3f} s"
            + (
                f"  | x engine: wall {row['wall_x_engine']:.2f}  CPU {row['cpu_x_engine']:.2f}"
                f" (server {row['server_cpu_x_engine'] or 0:.2f})"
                if base and name != "engine"
                else ""
            )
        )
        if args.statements:
            for key, seconds in row["statements_median_s"].items():
                print(f"           {key:<28} {seconds:.3f} s")
    print("load average:", " / ".join(f"{a:.1f}" for a, _, _ in loads))
    if args.explain:
        timer = _StatementTimer()
        current[:] = [timer]
        connection_created.connect(time_new_connections)
        with connection.execute_wrapper(timer):
            compute_figures(params)
        connection_created.disconnect(time_new_connections)
        _explain(connection, timer.calls, Path(args.explain))
    if args.output:
        Path(args.output).write_text(json.dumps(summary, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
