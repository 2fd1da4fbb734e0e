"""Search under a large database: server time of searches of several kinds, PostgreSQL and SQLite.

``python bench/search.py`` (``make bench-search``) fills the PostgreSQL database
``sd_bench_search`` with at least ``--messages`` messages (default 5,000,000: the benchmark
file of 1,000,000 conversations, ~4.8M messages, then copies of its first lines under new ids
until the count is reached), once: it is reused while it holds that many. The import runs
without the search indexes, which are built afterwards (as migration 0011 does on an existing
database). Then it times searches of each kind — a common word, a rare one, one found nowhere,
Chinese of two characters (no trigram: the LIKE fallback) and of four, Korean, Ukrainian,
Turkish, a phrase, searches combined with the inbox's and the API's filters, and searches by a
merchant (API key and portal) — in this process through Django's full request handling
(middleware, session or key, queries, rendering), and prints p50 / p95 / max per kind. The
target (issue 6): p95 ≤ 100 ms over 5M messages on PostgreSQL.

``--sqlite N`` also runs the same searches on SQLite with the first N conversations of the file
(default 100,000; 0 to skip). Results go to ``bench/results-search.json``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

from generate import ensure  # noqa: E402
from harness import pg_admin_url, sellerdesk_command  # noqa: E402

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/sd_bench_search"
FILE_SIZE = 1_000_000
TARGET_MS = 100.0


def _say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


def _count(url: str, table: str) -> int:
    import psycopg

    with psycopg.connect(url) as conn:
        row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
    return int(row[0]) if row else 0


def _search_indexes(url: str, *, drop: bool) -> None:
    """Drop or (re)build the search indexes, as migration 0011 makes them."""
    import importlib

    import psycopg

    schema = importlib.import_module("sellerdesk.conversations.migrations.0011_search")
    with psycopg.connect(url, autocommit=True) as conn:
        if drop:
            for name in schema.POSTGRESQL_NAMES:
                conn.execute(f"DROP INDEX IF EXISTS {name}")
            return
        conn.execute("SET maintenance_work_mem = '512MB'")
        for statement in schema.POSTGRESQL:
            started = time.perf_counter()
            conn.execute(statement)
            _say(f"  {statement[:70]}… {time.perf_counter() - started:.0f} s")
        conn.execute("VACUUM (ANALYZE) conversations_message")
        conn.execute("VACUUM (ANALYZE) conversations_conversation")


def _top_up(env: dict[str, str], path: Path, lines: int) -> None:
    """Import the file's first ``lines`` lines again under new conversation ids (``x-…``)."""
    proc = subprocess.Popen(
        [*sellerdesk_command(), "import", "--no-progress", "-"],
        env=env,
        stdin=subprocess.PIPE,
    )
    assert proc.stdin is not None
    with path.open("rb") as source:
        for line in itertools.islice(source, lines):
            # The conversation's id is the line's first field.
            proc.stdin.write(line.replace(b'{"id": "c-', b'{"id": "x-', 1))
    proc.stdin.close()
    if proc.wait() != 0:
        raise SystemExit("the top-up import failed")


def prepare_postgresql(url: str, messages: int) -> int:
    """Create and fill the database unless it already holds ``messages`` messages."""
    import psycopg

    admin, name = pg_admin_url(url)
    env = {**os.environ, "DATABASE_URL": url, "DEBUG": "0"}
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
    held = 0
    if exists:
        try:
            held = _count(url, "conversations_message")
        except psycopg.Error:
            held = 0
    if held < messages:
        path = ensure(FILE_SIZE)
        conversations = _count(url, "conversations_conversation") if held else 0
        if conversations < FILE_SIZE:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                conn.execute(f'CREATE DATABASE "{name}"')
            subprocess.run([*sellerdesk_command(), "migrate", "-v0"], env=env, check=True)
            _search_indexes(url, drop=True)
            _say(f"importing {path.name} into {name}")
            started = time.perf_counter()
            subprocess.run(
                [*sellerdesk_command(), "import", "--no-progress", str(path)], env=env, check=True
            )
            _say(f"imported in {time.perf_counter() - started:.0f} s")
        else:
            _search_indexes(url, drop=True)
        held = _count(url, "conversations_message")
        if held < messages:
            per = held / max(1, _count(url, "conversations_conversation"))
            lines = int((messages - held) / per * 1.02) + 1
            _say(f"{held:,} messages: importing {lines:,} more conversations")
            _top_up(env, path, lines)
        _say("building the search indexes")
    # The indexes first (with more memory than a migration gets), then the migrations, which
    # find them there.
    _search_indexes(url, drop=False)
    subprocess.run([*sellerdesk_command(), "migrate", "-v0"], env=env, check=True)
    return _count(url, "conversations_message")


def prepare_sqlite(conversations: int) -> tuple[Path, int]:
    """A SQLite database of the file's first ``conversations`` conversations (reused)."""
    import sqlite3

    folder = BENCH / "data" / f"sqlite-search-{conversations}"
    db = folder / "sellerdesk.sqlite3"
    env = {**os.environ, "SELLERDESK_VAR_DIR": str(folder), "DEBUG": "0"}
    env.pop("DATABASE_URL", None)
    if db.exists():
        with sqlite3.connect(db) as conn:
            held = conn.execute("SELECT count(*) FROM conversations_conversation").fetchone()[0]
        if held == conversations:
            subprocess.run([*sellerdesk_command(), "migrate", "-v0"], env=env, check=True)
            with sqlite3.connect(db) as conn:
                count = conn.execute("SELECT count(*) FROM conversations_message").fetchone()[0]
            return folder, count
    folder.mkdir(parents=True, exist_ok=True)
    db.unlink(missing_ok=True)
    subprocess.run([*sellerdesk_command(), "migrate", "-v0"], env=env, check=True)
    path = ensure(FILE_SIZE)
    _say(f"importing the first {conversations:,} conversations into SQLite")
    proc = subprocess.Popen(
        [*sellerdesk_command(), "import", "--no-progress", "-"], env=env, stdin=subprocess.PIPE
    )
    assert proc.stdin is not None
    with path.open("rb") as source:
        for line in itertools.islice(source, conversations):
            proc.stdin.write(line)
    proc.stdin.close()
    if proc.wait() != 0:
        raise SystemExit("the SQLite import failed")
    with sqlite3.connect(db) as conn:
        conn.execute("ANALYZE")
        count = conn.execute("SELECT count(*) FROM conversations_message").fetchone()[0]
    return folder, count


#: (kind, where, parameters). where: "api" (a key of no merchant), "api-merchant" (the busiest
#: merchant's key), "inbox" (an agent), "portal" (the busiest merchant's user).
SEARCHES: list[tuple[str, str, dict[str, str]]] = [
    ("common word", "api", {"q": "order"}),
    ("rare word", "api", {"q": "79778"}),
    ("found nowhere", "api", {"q": "zanzibar"}),
    ("CJK, 2 characters", "api", {"q": "审核"}),
    ("CJK, 4 characters", "api", {"q": "买家地址"}),
    ("Korean", "api", {"q": "심사가"}),
    ("Cyrillic", "api", {"q": "повернення"}),
    ("Turkish", "api", {"q": "reddedildi"}),
    ("phrase", "api", {"q": '"tracking number for parcel"'}),
    ("two words + kind", "api", {"q": "payout friday", "kind": "complaint"}),
    ("inbox: open queue + word", "inbox", {"queue": "open", "q": "refund"}),
    ("inbox: open + CN + CJK", "inbox", {"queue": "open", "segment": "CN", "q": "订单"}),
    ("inbox: solved, newest + word", "inbox", {"queue": "solved", "sort": "newest", "q": "payout"}),
    ("merchant key: common word", "api-merchant", {"q": "order"}),
    ("merchant key: found nowhere", "api-merchant", {"q": "zanzibar"}),
    ("portal: word", "portal", {"q": "product"}),
]


def _setup_callers() -> dict[str, Any]:
    from django.db.models import Count
    from django.test import Client

    from sellerdesk.accounts.models import Merchant, User
    from sellerdesk.accounts.services import user_create
    from sellerdesk.api.services import apikey_create

    busiest = (
        Merchant.objects.annotate(n=Count("conversations")).order_by("-n").first()
        if Merchant.objects.count() < 200_000
        else None
    )
    if busiest is None:  # counting every merchant's conversations costs; any big one will do
        from sellerdesk.conversations.models import Conversation

        mid = (
            Conversation.objects.values("merchant_id")
            .annotate(n=Count("id"))
            .order_by("-n")
            .values_list("merchant_id", flat=True)
            .first()
        )
        busiest = Merchant.objects.get(pk=mid)
    agent = User.objects.filter(email="bench-search-agent@desk.test").first() or user_create(
        email="bench-search-agent@desk.test", password=None, role="agent"
    )
    email = f"bench-search-{busiest.pk}@merchant.test"
    merchant_user = User.objects.filter(email=email).first() or user_create(
        email=email, password=None, role="merchant", merchant=busiest
    )
    inbox, portal = Client(), Client()
    inbox.force_login(agent)
    portal.force_login(merchant_user)
    key = apikey_create(name="bench search", scope="read")[1]
    merchant_key = apikey_create(name="bench search merchant", scope="read", merchant=busiest)[1]
    return {
        "api": (Client(headers={"Authorization": f"Bearer {key}"}), "/api/v1/search"),
        "api-merchant": (
            Client(headers={"Authorization": f"Bearer {merchant_key}"}),
            "/api/v1/search",
        ),
        "inbox": (inbox, "/desk/"),
        "portal": (portal, "/merchant/"),
        "merchant": busiest.external_id,
    }


def measure(requests: int) -> list[dict[str, Any]]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from sellerdesk.api.services import apikey_revoke

    callers = _setup_callers()
    results = []
    for kind, where, params in SEARCHES:
        client, path = callers[where]
        client.get(path, params)  # warm caches and the connection
        times, queries, hits = [], 0, 0
        for _ in range(requests):
            with CaptureQueriesContext(connection) as captured:
                started = time.perf_counter()
                response = client.get(path, params)
                times.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                raise SystemExit(f"{kind}: GET {path} {params} answered {response.status_code}")
            queries = max(queries, len(captured))
        if where.startswith("api"):
            hits = len(json.loads(response.content)["items"])
        else:  # each row or result carries its snippet
            hits = response.content.decode().count('class="snippet"')
        times.sort()
        results.append(
            {
                "kind": kind,
                "where": where,
                "params": params,
                "requests": len(times),
                "hits_on_page": hits,
                "p50_ms": statistics.median(times),
                "p95_ms": times[max(0, int(len(times) * 0.95) - 1)],
                "max_ms": times[-1],
                "queries": queries,
            }
        )
        _say(f"{kind}: p95 {results[-1]['p95_ms']:.1f} ms ({hits} on the page)")
    # The keys made for this run are revoked, so runs do not pile up live keys.
    from sellerdesk.api.models import ApiKey

    for key in ApiKey.objects.filter(name__startswith="bench search", revoked_at__isnull=True):
        apikey_revoke(prefix=key.prefix)
    return results


def _child(engine: str, requests: int, out: Path) -> None:
    """Run the searches in this process against the database the environment names."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sellerdesk.settings")
    os.environ["DEBUG"] = "0"
    os.environ["ALLOWED_HOSTS"] = "testserver,127.0.0.1,localhost"
    import django

    django.setup()
    out.write_text(json.dumps({"engine": engine, "searches": measure(requests)}))


def table(engine: str, rows: list[dict[str, Any]]) -> str:
    head = (
        f"{engine + ': search':<34} {'n':>4} {'hits':>5} {'p50 ms':>8} {'p95 ms':>8} "
        f"{'max ms':>8} {'queries':>8}  target"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        verdict = "met" if r["p95_ms"] <= TARGET_MS else "MISSED"
        lines.append(
            f"{r['kind']:<34} {r['requests']:>4} {r['hits_on_page']:>5} {r['p50_ms']:>8.1f} "
            f"{r['p95_ms']:>8.1f} {r['max_ms']:>8.1f} {r['queries']:>8}  {verdict}"
        )
    return "\n".join(lines)


def _run_engine(engine: str, env: dict[str, str], requests: int) -> list[dict[str, Any]]:
    out = BENCH / "data" / f"search-{engine}.json"
    subprocess.run(
        [
            sys.executable,
            __file__,
            "--child",
            engine,
            "--requests",
            str(requests),
            "--out",
            str(out),
        ],
        env=env,
        check=True,
    )
    return list(json.loads(out.read_text())["searches"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=5_000_000)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--requests", type=int, default=40, help="timed requests per kind")
    parser.add_argument("--sqlite", type=int, default=100_000, help="conversations; 0: skip")
    parser.add_argument("--output", type=Path, default=BENCH / "results-search.json")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args.child, args.requests, args.out)
        return 0
    document: dict[str, Any] = {
        "what": "searches, server time in-process (Django test client), per kind",
        "target_p95_ms": TARGET_MS,
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "cpu_count": os.cpu_count(),
        "load_average": os.getloadavg(),
        "engines": {},
    }
    messages = prepare_postgresql(args.database_url, args.messages)
    env = {**os.environ, "DATABASE_URL": args.database_url}
    rows = _run_engine("postgresql", env, args.requests)
    document["engines"]["postgresql"] = {"messages": messages, "searches": rows}
    print()
    print(table(f"PostgreSQL, {messages / 1e6:.1f}M messages", rows))
    if args.sqlite:
        folder, count = prepare_sqlite(args.sqlite)
        env = {**os.environ, "SELLERDESK_VAR_DIR": str(folder)}
        env.pop("DATABASE_URL", None)
        rows = _run_engine("sqlite", env, args.requests)
        document["engines"]["sqlite"] = {"messages": count, "searches": rows}
        print()
        print(table(f"SQLite, {count / 1e6:.2f}M messages", rows))
    worst = max(r["p95_ms"] for r in document["engines"]["postgresql"]["searches"])
    document["postgresql_worst_p95_ms"] = worst
    document["met"] = worst <= TARGET_MS
    args.output.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    print(f"\nwritten to {args.output}")
    return 0 if document["met"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
