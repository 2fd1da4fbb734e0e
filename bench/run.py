"""``make bench``: import rate and report time on SQLite and PostgreSQL, beside DuckDB.

For each size (100k and 1M conversations by default) the generated interchange file
(``bench/generate.py``, cached in ``bench/data/``) is imported into a fresh database of each
engine by ``sellerdesk migrate`` and ``sellerdesk import FILE --no-progress`` run as child
processes: wall time gives conversations/s, the child's rusage (``os.wait4``, read by a small
middle process so that run.py's own size does not count) its peak RSS.
Then the report of ``bench/report.toml`` is timed in-process (``bench/time_report.py``, one
subprocess per engine). DuckDB computes the same report from the same facts copied out of the
PostgreSQL database (SQLite when PostgreSQL is not run): its time is the ceiling, and its
figures must equal sellerdesk's (counts exactly, seconds within 1 s).

A table goes to the terminal and everything to ``bench/results.json``. This is not a test:
nothing here fails on a slow run, it only says which targets were met.

    .venv/bin/python bench/run.py --sizes 10000 --engines sqlite,postgresql,duckdb --repeat 3

Databases used: PostgreSQL ``sd_bench`` (dropped and re-created), SQLite files under
``bench/data/``. Both are left in place afterwards for inspection.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sqlite3
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import generate
from harness import (
    DATA,
    REPO,
    analyze,
    base_env,
    check,
    db_stats,
    fresh_postgres,
    fresh_sqlite,
    git_state,
    json_child,
    pg_admin_url,
    proc_field,
    run_child,
    sellerdesk_command,
)

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results.json"
PG_URL = "postgres://postgres@127.0.0.1:5432/sd_bench"
ENGINES = ("sqlite", "postgresql", "duckdb")
#: The period the generator fills 63% of; as_of the day after it ends (a dashboard the morning
#: after), so late status changes are left out and the stretch look-up is exercised.
PERIOD = generate.PERIOD
AS_OF = "2022-11-02T00:00:00Z"

# Targets from the issue (the 1M figures; shown for every size).
IMPORT_RATE_TARGET = 5_000  # conversations/s, PostgreSQL and SQLite
RSS_TARGET_MB = 500
PG_REPORT_VS_DUCKDB = 3.0
SQLITE_REPORT_S = 5.0  # "a few seconds"


@dataclass
class Row:
    size: int
    engine: str
    file: str = ""
    migrate_s: float | None = None
    import_s: float | None = None
    import_rate: float | None = None  # conversations/s
    messages: int | None = None
    peak_rss_mb: float | None = None
    db_bytes: int | None = None
    analyze_s: float | None = None  # planner statistics after the import (not in the rate)
    load_s: float | None = None  # DuckDB: copying the facts in (not timed)
    report_warmup_s: float | None = None
    report_times_s: list[float] = field(default_factory=list)
    report_median_s: float | None = None
    ratio_to_duckdb: float | None = None
    statements: list[dict[str, Any]] = field(default_factory=list)
    crosscheck: str = "not run"
    crosscheck_problems: list[str] = field(default_factory=list)
    targets: dict[str, bool | None] = field(default_factory=dict)
    started_at: str = ""
    finished_at: str = ""
    loadavg_before: tuple[float, float, float] | None = None
    #: The code measured (it may change between rows while others work on it).
    git: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    report: dict[str, Any] | None = field(default=None, repr=False)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# --- one engine -------------------------------------------------------------------------------


def bench_database(row: Row, path: Path, args: argparse.Namespace) -> dict[str, str]:
    """Import into a fresh database and time the report, filling ``row`` as it goes (a failure
    keeps what was measured before it); returns the database's environment."""
    engine, size = row.engine, row.size
    logs = DATA / "logs" / f"{engine}-{size}"
    if engine == "postgresql":
        env = fresh_postgres(args.pg_url, debug=args.django_debug)
    else:
        env = fresh_sqlite(size, debug=args.django_debug)

    child = run_child(
        [*sellerdesk_command(), "migrate", "--no-input", "-v", "0"], env, logs / "migrate"
    )
    check(child, "sellerdesk migrate")
    row.migrate_s = child.seconds

    _say(f"  {engine}: importing {size:,} conversations ...")
    argv = [*sellerdesk_command(), "import", str(path), "--no-progress"]
    if args.profile:
        prof = DATA / "profiles" / f"import-{engine}-{size}.prof"
        prof.parent.mkdir(parents=True, exist_ok=True)
        argv = [sys.executable, "-m", "cProfile", "-o", str(prof), "-m", "sellerdesk", *argv[-3:]]
    child = run_child(argv, env, logs / "import")
    check(child, "sellerdesk import")
    row.import_s = child.seconds
    row.peak_rss_mb = child.peak_rss_mb
    conversations, row.messages, row.db_bytes = db_stats(engine, env)
    if conversations != size:
        raise RuntimeError(f"{engine}: {conversations} conversations stored, {size} in the file")
    row.import_rate = size / child.seconds
    _say(f"  {engine}: {row.import_rate:,.0f} conversations/s, peak RSS {row.peak_rss_mb:,.0f} MB")

    row.analyze_s = analyze(engine, env)
    _say(f"  {engine}: timing the report ({args.repeat} runs after a warm-up) ...")
    argv = [
        sys.executable,
        str(BENCH / "time_report.py"),
        *_period_args(args),
        "--repeat",
        str(args.repeat),
    ]
    if args.profile:
        argv += ["--profile", str(DATA / "profiles" / f"report-{engine}-{size}.prof"),
                 "--explain", str(DATA / "profiles" / f"report-{engine}-{size}.plan.txt")]  # fmt: skip
    result = json_child(argv, env, logs / "report", "bench/time_report.py")
    row.report_warmup_s = result["warmup_s"]
    row.report_times_s = result["times_s"]
    row.report_median_s = result["median_s"]
    row.statements = [
        {"label": s["label"], "median_s": s["median_s"]} for s in result["statements"]
    ]
    row.report = result["report"]
    _say(f"  {engine}: report {row.report_median_s:.3f} s (median)")
    row.finished_at = _now()
    return env


def bench_duckdb(size: int, source: Row, env: dict[str, str], args: argparse.Namespace) -> Row:
    """DuckDB's time for the same report over the facts copied from ``source``'s database."""
    row = Row(
        size=size,
        engine="duckdb",
        file=source.file,
        started_at=_now(),
        loadavg_before=os.getloadavg(),
        git=git_state(),
    )
    argv = [
        sys.executable,
        str(BENCH / "duckdb_report.py"),
        *_period_args(args),
        "--repeat",
        str(args.repeat),
    ]
    if source.engine == "postgresql":
        argv += ["--database-url", env["DATABASE_URL"]]
    else:
        argv += ["--sqlite", str(Path(env["SELLERDESK_VAR_DIR"]) / "sellerdesk.sqlite3")]
    _say(f"  duckdb: copying the facts from {source.engine} and timing the report ...")
    result = json_child(
        argv, base_env(), DATA / "logs" / f"duckdb-{size}" / "report", "bench/duckdb_report.py"
    )
    row.load_s = result["load_s"]
    row.report_warmup_s = result["warmup_s"]
    row.report_times_s = result["times_s"]
    row.report_median_s = result["median_s"]
    row.ratio_to_duckdb = 1.0
    row.report = {
        "segments": result["segments"],
        "source": source.engine,
        "threads": result["threads"],
    }
    row.crosscheck = f"reference (facts from {source.engine})"
    row.finished_at = _now()
    _say(f"  duckdb: report {row.report_median_s:.3f} s (median; {result['threads']} threads)")
    return row


def _period_args(args: argparse.Namespace) -> list[str]:
    return [
        "--config",
        str(args.config),
        "--from",
        PERIOD[0],
        "--to",
        PERIOD[1],
        "--as-of",
        args.as_of,
    ]


def _data_file(size: int, args: argparse.Namespace) -> Path:
    """The cached interchange file, generated in a child process so run.py stays small."""
    path = generate.data_path(size, args.seed, gz=args.gzip)
    if not path.exists():
        argv = [sys.executable, str(BENCH / "generate.py"), str(size), "--seed", str(args.seed)]
        subprocess.run([*argv, *(["--gzip"] if args.gzip else [])], check=True, stdout=sys.stderr)
    return path


# --- judging ----------------------------------------------------------------------------------


def crosscheck(rows: list[Row], duck: Row) -> None:
    import duckdb_report

    assert duck.report is not None
    for row in rows:
        if row.report is None:
            continue
        problems = duckdb_report.compare(duck.report["segments"], row.report["segments"])
        row.crosscheck_problems = problems
        row.crosscheck = (
            "agrees with duckdb" if not problems else f"MISMATCH ({len(problems)} figures)"
        )
        if problems:
            _say(
                f"\n!!! {row.engine} {row.size:,}: the report DISAGREES with DuckDB's on {len(problems)} figures:"
            )
            for problem in problems[:25]:
                _say(f"!!!   {problem}")
            _say("")


def judge(row: Row, duck: Row | None) -> None:
    if duck is not None and row.report_median_s is not None and duck.report_median_s:
        row.ratio_to_duckdb = row.report_median_s / duck.report_median_s
    if row.engine == "duckdb":
        return
    targets: dict[str, bool | None] = {
        "import_rate": row.import_rate is not None and row.import_rate >= IMPORT_RATE_TARGET,
        "import_rss": row.peak_rss_mb is not None and row.peak_rss_mb < RSS_TARGET_MB,
    }
    if row.engine == "postgresql":
        targets["report"] = (
            None if row.ratio_to_duckdb is None else row.ratio_to_duckdb <= PG_REPORT_VS_DUCKDB
        )
    else:
        targets["report"] = (
            row.report_median_s is not None and row.report_median_s <= SQLITE_REPORT_S
        )
    if row.crosscheck_problems:
        targets["same_figures_as_duckdb"] = False
    row.targets = targets


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def table(rows: list[Row]) -> str:
    head = (
        "size",
        "engine",
        "import conv/s",
        "peak RSS MB",
        "report s (median)",
        "x DuckDB",
        "targets met",
    )
    lines = [head]
    for row in rows:
        if row.engine == "duckdb":
            met = "(ceiling)"
        elif row.error:
            met = "ERROR"
        else:
            failed = [k for k, v in row.targets.items() if v is False]
            unknown = [k for k, v in row.targets.items() if v is None]
            met = (
                "yes"
                if not failed and not unknown
                else ("no: " + ", ".join(failed) if failed else "?")
            )
            if unknown and failed:
                met += " (? " + ", ".join(unknown) + ")"
        lines.append((
            f"{row.size:,}", row.engine, _fmt(row.import_rate, ",.0f"), _fmt(row.peak_rss_mb, ",.0f"),
            _fmt(row.report_median_s, ".3f"), _fmt(row.ratio_to_duckdb, ".1f"), met,
        ))  # fmt: skip
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    out = []
    for n, line in enumerate(lines):
        cells = [
            c.ljust(w) if i in (1, 6) else c.rjust(w)
            for i, (c, w) in enumerate(zip(line, widths, strict=True))
        ]
        out.append("  ".join(cells).rstrip())
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


# --- machine ----------------------------------------------------------------------------------


def machine(args: argparse.Namespace, engines: list[str]) -> dict[str, Any]:
    import django
    import duckdb

    info: dict[str, Any] = {
        "cpu_count": os.cpu_count(),
        "cpu_model": proc_field("/proc/cpuinfo", "model name"),
        "memory": proc_field("/proc/meminfo", "MemTotal"),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "django": django.get_version(),
        "sqlite": sqlite3.sqlite_version,
        "duckdb": duckdb.__version__,
        "git": git_state(),
    }
    if "postgresql" in engines:
        import psycopg

        admin, _ = pg_admin_url(args.pg_url)
        with psycopg.connect(admin) as conn:
            settings = {}
            for name in (
                "server_version",
                "shared_buffers",
                "work_mem",
                "max_parallel_workers_per_gather",
                "jit",
            ):
                value = conn.execute(f"SHOW {name}").fetchone()
                settings[name] = value[0] if value else None
            info["postgresql"] = settings
    return info


# --- main -------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes", default="100000,1000000", help="comma-separated conversation counts"
    )
    parser.add_argument(
        "--engines", default=",".join(ENGINES), help="of sqlite, postgresql, duckdb"
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="timed report runs (the median counts)"
    )
    parser.add_argument("--seed", type=int, default=1, help="generator seed")
    parser.add_argument("--gzip", action="store_true", help="import .jsonl.gz files")
    parser.add_argument("--config", type=Path, default=BENCH / "report.toml")
    parser.add_argument("--as-of", default=AS_OF)
    parser.add_argument("--pg-url", default=os.environ.get("SELLERDESK_BENCH_PG_URL", PG_URL))
    parser.add_argument("--profile", action="store_true",
                        help="cProfile the import and the report, EXPLAIN the report's statements "
                             "(into bench/data/profiles/; import rates then include the profiler)")  # fmt: skip
    parser.add_argument(
        "--django-debug",
        action="store_true",
        help="run sellerdesk with DEBUG on (the development default) instead of off",
    )
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    args.size_list = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    args.engine_list = [e.strip() for e in args.engines.split(",") if e.strip()]
    unknown = sorted(set(args.engine_list) - set(ENGINES))
    if unknown:
        parser.error(f"unknown engine {unknown[0]!r} (choose from {', '.join(ENGINES)})")
    if args.engine_list == ["duckdb"]:
        parser.error("duckdb copies its facts from sqlite or postgresql: add one of them")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = _now()
    info = machine(args, args.engine_list)
    info["loadavg_at_start"] = os.getloadavg()
    rows: list[Row] = []
    for size in args.size_list:
        _say(f"== {size:,} conversations")
        path = _data_file(size, args)
        done: list[Row] = []
        envs: dict[str, dict[str, str]] = {}
        for engine in ("sqlite", "postgresql"):
            if engine not in args.engine_list:
                continue
            row = Row(size=size, engine=engine, file=str(path), started_at=_now(),
                      loadavg_before=os.getloadavg(), git=git_state())  # fmt: skip
            done.append(row)
            try:
                envs[engine] = bench_database(row, path, args)
            except Exception as exc:
                _say(f"  {engine}: FAILED: {exc}")
                row.error = str(exc)
                row.finished_at = _now()
        duck = None
        if "duckdb" in args.engine_list:
            sources = [r for r in done if r.error is None and r.engine in envs]
            source = next(
                (r for r in sources if r.engine == "postgresql"), sources[0] if sources else None
            )
            if source is not None:
                try:
                    duck = bench_duckdb(size, source, envs[source.engine], args)
                    crosscheck(done, duck)
                except Exception as exc:
                    _say(f"  duckdb: FAILED: {exc}")
                    duck = None
        for row in done:
            judge(row, duck)
        rows.extend(done)
        if duck is not None:
            rows.append(duck)

    print()
    print(table(rows))
    print()
    for row in rows:
        if row.statements:
            parts = ", ".join(
                f"{s['label']} {s['median_s']:.3f}"
                for s in row.statements
                if s["median_s"] >= 0.001
            )
            print(f"{row.size:>9,} {row.engine:<10} statements (s): {parts}")
    for row in rows:
        if row.engine != "duckdb":
            print(f"{row.size:>9,} {row.engine:<10} cross-check: {row.crosscheck}")
        if row.error:
            print(f"{row.size:>9,} {row.engine:<10} ERROR: {row.error.strip().splitlines()[-1]}")
    print(
        f"\ntargets: import >= {IMPORT_RATE_TARGET:,} conv/s and peak RSS < {RSS_TARGET_MB} MB; report <= "
        f"{PG_REPORT_VS_DUCKDB:g}x DuckDB on PostgreSQL, <= {SQLITE_REPORT_S:g} s on SQLite (stated for 1M)"
    )

    rows_out = []
    for row in rows:
        data = asdict(row)
        data.pop("report", None)
        if row.report is not None and row.engine != "duckdb":
            data["report_all_merchants"] = next(
                (s for s in row.report["segments"] if s["name"] == "All merchants"), None
            )
        rows_out.append(data)
    results = {
        "schema": "sellerdesk.bench/v1",
        "started_at": started,
        "finished_at": _now(),
        "machine": info,
        "settings": {
            "sizes": args.size_list, "engines": args.engine_list, "repeat": args.repeat,
            "seed": args.seed, "generator_version": generate.GENERATOR_VERSION,
            "period": list(PERIOD), "as_of": args.as_of, "config": str(args.config),
            "profile": args.profile, "django_debug": args.django_debug,
        },
        "targets": {
            "import_rate_conversations_per_s": IMPORT_RATE_TARGET, "import_peak_rss_mb": RSS_TARGET_MB,
            "postgresql_report_x_duckdb": PG_REPORT_VS_DUCKDB, "sqlite_report_s": SQLITE_REPORT_S,
        },
        "runner_peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rows": rows_out,
    }  # fmt: skip
    text = json.dumps(results, indent=1, ensure_ascii=False) + "\n"
    args.output.write_text(text, encoding="utf-8")
    # Runs overwrite results.json; a copy per run stays in bench/data/results/ for comparison.
    history = DATA / "results" / f"results-{started.replace(':', '')}.json"
    history.parent.mkdir(parents=True, exist_ok=True)
    history.write_text(text, encoding="utf-8")
    print(f"wrote {args.output} (and {history.relative_to(REPO)})")
    return 1 if any(r.error or r.crosscheck_problems for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
