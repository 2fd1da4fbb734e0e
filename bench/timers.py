"""The worker's timer sweep over a large database: finding what is due, and acting on it.

``python bench/timers.py`` (``make bench-timers``) uses the PostgreSQL database that
``bench/desk.py`` fills (1M conversations, ``sd_bench_desk``): it gives every conversation that
is not closed a 7-day-rule deadline and reminder in the future, and ``--due`` (10,000) of them
ones already past, then times:

- *find*: the sweep's look-up of what is due (the two indexed range scans), over them all;
- *act*: the sweep itself — reminders into the outbox and deadline actions (close with a note)
  for every due conversation, each in its own transaction.

Targets (issue 5): find ≤ 1 s; 10,000 due actions ≤ 30 s. Results go to
``bench/results-timers.json``. The database is changed (conversations get closed): run
``bench/desk.py`` again before timing the desk on it (it re-imports when counts differ; here
they do not, so the desk's numbers then include these closed conversations).
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

from desk import DEFAULT_URL, prepare_database  # noqa: E402

FIND_TARGET_S = 1.0
ACT_TARGET_S = 30.0


def _say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


def arm_timers(due: int) -> dict[str, int]:
    """Every conversation not closed gets a future deadline; ``due`` pending ones a past one.
    (Bench set-up with bulk UPDATEs, not domain flow.)"""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE conversations_conversation SET "
            "merchant_due_at = now() + interval '3 days' + (id %% 1000) * interval '1 minute', "
            "merchant_remind_at = now() + interval '1 day' + (id %% 1000) * interval '1 minute' "
            "WHERE status <> 'closed'",
            [],
        )
        armed = cursor.rowcount
        cursor.execute(
            "UPDATE conversations_conversation SET status = 'pending', "
            "merchant_due_at = now() - interval '1 hour', merchant_remind_at = NULL "
            "WHERE id IN (SELECT id FROM conversations_conversation "
            "  WHERE status IN ('open', 'pending') ORDER BY id LIMIT %s)",
            [due],
        )
        past = cursor.rowcount
        cursor.execute("ANALYZE conversations_conversation")
        # The sweep reads the due conversations' status logs and message numbers: without
        # statistics (autovacuum lags behind a bulk import) PostgreSQL scans them whole.
        for table in ("conversations_statuschange", "conversations_message"):
            cursor.execute(
                "SELECT 1 FROM pg_stat_user_tables WHERE relname = %s "
                "AND last_analyze IS NULL AND last_autoanalyze IS NULL",
                [table],
            )
            if cursor.fetchone():
                cursor.execute(f"ANALYZE {table}")
    return {"armed": armed, "due": past}


def run(args: argparse.Namespace) -> dict[str, Any]:
    os.environ["DATABASE_URL"] = args.database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sellerdesk.settings")
    os.environ["DEBUG"] = "0"
    import django

    django.setup()
    from django.utils import timezone

    from sellerdesk.conversations.models import Conversation
    from sellerdesk.sla import timers

    counts = arm_timers(args.due)
    _say(f"armed {counts['armed']:,} timers, {counts['due']:,} of them due")
    finds = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        now = timezone.now()
        reminders = list(
            Conversation.objects.filter(merchant_remind_at__lte=now)
            .order_by("merchant_remind_at")
            .values_list("pk", flat=True)[: args.due * 2]
        )
        deadlines = list(
            Conversation.objects.filter(merchant_due_at__lte=now)
            .order_by("merchant_due_at")
            .values_list("pk", flat=True)[: args.due * 2]
        )
        finds.append(time.perf_counter() - started)
    _say(f"find: {statistics.median(finds) * 1000:.0f} ms for {len(deadlines):,} due")
    profiler = None
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    started = time.perf_counter()
    sweep = timers.sweep(limit=args.due * 2)
    act = time.perf_counter() - started
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(args.profile)
    _say(f"act: {act:.1f} s ({sweep.closed:,} closed, {sweep.reminded:,} reminded)")
    return {
        "armed": counts["armed"],
        "due": len(deadlines) + len(reminders),
        "find_s": statistics.median(finds),
        "act_s": act,
        "closed": sweep.closed,
        "reminded": sweep.reminded,
        "actions_per_s": (sweep.closed + sweep.reminded) / act if act else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--due", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--output", type=Path, default=BENCH / "results-timers.json")
    parser.add_argument(
        "--profile", metavar="PATH", help="write cProfile statistics of the sweep to PATH"
    )
    args = parser.parse_args(argv)
    prepare_database(args.database_url, args.size)
    outcome = run(args)
    met = outcome["find_s"] <= FIND_TARGET_S and outcome["act_s"] <= ACT_TARGET_S
    print()
    print(f"{'what':<34} {'measured':>12} {'target':>10}")
    print(f"{'find what is due (median)':<34} {outcome['find_s'] * 1000:>10.0f}ms {'≤ 1 s':>10}")
    print(
        f"{'act on ' + format(outcome['closed'] + outcome['reminded'], ',') + ' due':<34} "
        f"{outcome['act_s']:>11.1f}s {'≤ 30 s':>10}"
    )
    document = {
        "what": "7-day-rule timer sweep, PostgreSQL",
        "conversations": args.size,
        "targets": {"find_s": FIND_TARGET_S, "act_s": ACT_TARGET_S},
        "met": met,
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "cpu_count": os.cpu_count(),
        **outcome,
    }
    args.output.write_text(json.dumps(document, indent=2) + "\n")
    print(f"\nwritten to {args.output}")
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
