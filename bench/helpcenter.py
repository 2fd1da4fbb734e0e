"""The help center's targets (issue 7): a published edition's public page, and computing a
new edition, over 1M conversations in PostgreSQL.

``python bench/helpcenter.py`` (``make bench-help``) imports the benchmark file of ``--size``
conversations (default 1,000,000) into ``sd_bench_help`` (once: it is reused while it holds
that many), then, with bench/report.toml over 2021-11-01 to 2022-11-01 as of 2022-11-02:

- the report engine alone: ``compute_report`` in-process (median of ``--repeat`` after a
  warm-up), and ``sellerdesk report`` as a command (wall time, start-up included);
- a new edition: the figures an edition stores (``compute_figures``: the engine over the
  period, then over each of its 12 months for the charts), and ``edition_create`` whole;
- the published edition's public page: ``--requests`` GETs through Django's full request
  handling (middleware, session, template, SVG charts), p50 / p95 / max server time.

Targets: the public page p95 ≤ 50 ms; a new edition "as fast as the report engine". Prints a
table; results go to ``bench/results-help.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

from desk import prepare_database  # noqa: E402
from harness import sellerdesk_command  # noqa: E402

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/sd_bench_help"
PERIOD = ("2021-11-01", "2022-11-01")
AS_OF = "2022-11-02T00:00:00+00:00"
PAGE_TARGET_MS = 50.0


def _say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


def _median_of(fn: Any, repeat: int) -> tuple[float, list[float]]:
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), times


def run(args: argparse.Namespace) -> dict[str, Any]:
    os.environ["DATABASE_URL"] = args.database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sellerdesk.settings")
    os.environ["DEBUG"] = "0"
    os.environ["ALLOWED_HOSTS"] = "testserver,127.0.0.1,localhost"
    import django

    django.setup()
    from django.test import Client
    from django.urls import reverse

    from sellerdesk.accounts.models import User
    from sellerdesk.accounts.services import user_create
    from sellerdesk.reports import services
    from sellerdesk.reports.config import build_params
    from sellerdesk.reports.editions import compute_figures, parse_config_text
    from sellerdesk.reports.engine import compute_report
    from sellerdesk.reports.models import Edition

    config_text = (BENCH / "report.toml").read_text()
    config, _ = parse_config_text(config_text)
    params = build_params(config, PERIOD[0], PERIOD[1], AS_OF)
    lead = User.objects.filter(email="bench-lead@desk.test").first() or user_create(
        email="bench-lead@desk.test", password=None, role="lead"
    )

    _say("report engine (compute_report)")
    engine_s, engine_times = _median_of(lambda: compute_report(params), args.repeat)
    _say("sellerdesk report (a command, start-up included)")
    env = {**os.environ, "DATABASE_URL": args.database_url}
    argv = [*sellerdesk_command(), "report", "--from", PERIOD[0], "--to", PERIOD[1]]
    argv += ["--as-of", AS_OF, "--config", str(BENCH / "report.toml"), "--output", os.devnull]
    started = time.perf_counter()
    subprocess.run(argv, env=env, check=True)
    command_s = time.perf_counter() - started

    _say("an edition's figures (compute_figures: the period + 12 months)")
    figures_s, figures_times = _median_of(lambda: compute_figures(params), args.repeat)

    _say("edition_create + edition_publish")
    Edition.objects.filter(series__startswith="bench-").delete()
    started = time.perf_counter()
    edition = services.edition_create(
        actor=lead, series="bench-1", title="Complaint-handling system data (bench)",
        start=PERIOD[0], end=PERIOD[1], as_of=AS_OF, config_text=config_text,
    )  # fmt: skip
    create_s = time.perf_counter() - started
    started = time.perf_counter()
    services.edition_publish(actor=lead, edition=edition)
    publish_s = time.perf_counter() - started

    _say(f"the public page, {args.requests} requests")
    client = Client()
    url = reverse("help:report", kwargs={"series": "bench-1"})
    page_ms = []
    for _ in range(args.requests + 5):
        started = time.perf_counter()
        response = client.get(url)
        page_ms.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"GET {url} answered {response.status_code}")
    page_ms = sorted(page_ms[5:])  # the first few warm the template cache
    p95 = page_ms[max(0, int(len(page_ms) * 0.95) - 1)]
    conversations = edition.figures["segments"][-1]["conversations"] if edition.figures else 0
    return {
        "population_in_period": conversations,
        "engine_s": engine_s,
        "engine_times_s": engine_times,
        "report_command_s": command_s,
        "edition_figures_s": figures_s,
        "edition_figures_times_s": figures_times,
        "edition_figures_x_engine": figures_s / engine_s if engine_s else None,
        "edition_create_s": create_s,
        "edition_publish_s": publish_s,
        "page_ms": {
            "p50": statistics.median(page_ms),
            "p95": p95,
            "max": page_ms[-1],
            "requests": len(page_ms),
            "bytes": len(response.content),
        },
        "targets": {"page_p95_ms": PAGE_TARGET_MS, "page_met": p95 <= PAGE_TARGET_MS},
    }


def table(result: dict[str, Any], size: int) -> str:
    page = result["page_ms"]
    rows = [
        ("report engine, compute_report (median)", f"{result['engine_s']:.2f} s", "reference"),
        ("sellerdesk report (command, wall)", f"{result['report_command_s']:.2f} s", ""),
        (
            "edition figures: period + 12 months (median)",
            f"{result['edition_figures_s']:.2f} s",
            f"{result['edition_figures_x_engine']:.2f} x engine",
        ),
        ("edition_create (figures + write)", f"{result['edition_create_s']:.2f} s", ""),
        ("edition_publish (figures again + freeze)", f"{result['edition_publish_s']:.2f} s", ""),
        (
            "public page p50 / p95 / max",
            f"{page['p50']:.1f} / {page['p95']:.1f} / {page['max']:.1f} ms",
            f"target p95 <= {PAGE_TARGET_MS:.0f} ms: {'met' if result['targets']['page_met'] else 'NOT met'}",
        ),
    ]
    width = max(len(r[0]) for r in rows)
    lines = [f"help center, {size:,} conversations, PostgreSQL", ""]
    lines += [f"{name:<{width}}  {value:>22}  {note}" for name, value, note in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--output", default=str(BENCH / "results-help.json"))
    args = parser.parse_args(argv)
    if not args.database_url.rsplit("/", 1)[-1].startswith("sd_bench"):
        raise SystemExit("--database-url must name an sd_bench* database (it is dropped)")
    started_at = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
    prepare_database(args.database_url, args.size)
    load = os.getloadavg()
    result = run(args)
    print(table(result, args.size))
    document = {
        "schema": "sellerdesk.bench-help/v1",
        "started_at": started_at,
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()),
        "machine": {
            "cpu_count": os.cpu_count(),
            "python": platform.python_version(),
            "loadavg_at_start": list(load),
            "note": "a shared machine (other engineers' tests and benchmarks ran beside it)",
        },
        "settings": {
            "size": args.size,
            "period": list(PERIOD),
            "as_of": AS_OF,
            "config": "bench/report.toml",
            "repeat": args.repeat,
            "requests": args.requests,
        },
        **result,
    }
    Path(args.output).write_text(json.dumps(document, indent=1) + "\n")
    print(f"\nwritten to {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
