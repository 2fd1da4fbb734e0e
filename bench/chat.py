# ruff: noqa: RUF001 - the merchants' own letters and punctuation in the messages
"""Live chat: merchant→agent delivery latency and messages stored and delivered per second,
through `sellerdesk serve` and real websockets, against PostgreSQL (``sd_chat_bench``).
Targets: p99 ≤ 50 ms with 500 merchants connected; ≥ 1,000 messages/s.

    make bench-chat                                     # 500 merchants, 5 agents
    make bench-chat BENCH_ARGS="--merchants 100 --rate 50 --burst 5000"
    make bench-chat BENCH_ARGS="--workers 2 --redis redis://127.0.0.1:6379/5"

A fresh database gets the merchants (one user and one chat conversation each) and the agents,
with a signed-in session for each person, written as the sign-in page writes them. Then
`sellerdesk serve` starts on ``--port`` (one process with the in-memory channel layer, or
``--workers`` processes sharing Redis), and this process opens every merchant's socket and the
agents' sockets. Two phases:

- latency: merchants (at random) send ``--rate`` messages a second for ``--seconds``; each
  message's latency is from the merchant's send to its arrival on an agent's socket, where it
  arrives only after it is stored (the event is published on commit).
- throughput: every merchant sends ``--burst / merchants`` messages (10,000 in all by default)
  as fast as acknowledgements come back (each message waits for the previous one's ``ack``);
  messages/s is the count stored and delivered to every agent, over the time from the first
  send to the last delivery.

The stored count is read back from the database (each message once, by its client id).
Prints a table and writes ``bench/results-chat.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(BENCH))

import harness  # noqa: E402

RESULTS = BENCH / "results-chat.json"
DEFAULT_PG = "postgres://postgres@127.0.0.1:5432/sd_chat_bench"
TARGET_P99_MS = 50
TARGET_PER_SECOND = 1000


# --- the set-up child: people, conversations and sessions ---------------------------------------


def setup_child(args: argparse.Namespace) -> None:
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from sellerdesk.accounts.services import user_create
    from sellerdesk.conversations import workflow
    from sellerdesk.conversations.services import merchant_upsert

    def session_for(user: Any) -> str:
        store = SessionStore()
        store[SESSION_KEY] = str(user.pk)
        store[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
        store[HASH_SESSION_KEY] = user.get_session_auth_hash()
        store.create()
        assert store.session_key is not None
        return store.session_key

    countries = ["TR", "CN", "DE", "UA", "KR", "IN", "US"]
    merchants = []
    for m in range(args.merchants):
        merchant = merchant_upsert(
            external_id=f"chat-m{m}", country=countries[m % len(countries)], name=f"Satıcı {m}"
        )
        user = user_create(
            email=f"u{m}@chat-m{m}.test", password=None, role="merchant", merchant=merchant
        )
        conversation = workflow.merchant_conversation_open(
            user=user, kind="question", subject=f"Chat {m}", body="Merhaba", channel="chat"
        )
        merchants.append({"session": session_for(user), "conversation": conversation.pk})
    agents = [
        session_for(user_create(email=f"agent{a}@desk.test", password=None, role="agent"))
        for a in range(args.agents)
    ]
    print(json.dumps({"merchants": merchants, "agents": agents}))


def count_child(args: argparse.Namespace) -> None:
    import django

    django.setup()
    from sellerdesk.conversations.models import Message

    stored = Message.objects.filter(client_id__startswith="bench-")
    print(
        json.dumps(
            {
                "stored": stored.count(),
                "distinct_client_ids": stored.values("client_id").distinct().count(),
            }
        )
    )


# --- the load ------------------------------------------------------------------------------------


class Load:
    def __init__(self, url: str, origin: str) -> None:
        self.url = url
        self.origin = origin
        self.sent_at: dict[str, float] = {}
        self.acked: dict[str, asyncio.Future[None]] = {}
        #: client id → arrival times at the agents' sockets
        self.arrivals: dict[str, list[float]] = {}
        self.errors: list[str] = []

    async def connect(self, session: str) -> Any:
        import websockets

        ws = await websockets.connect(
            self.url,
            additional_headers={"Cookie": f"sessionid={session}", "Origin": self.origin},
            max_size=2**20,
            open_timeout=60,
        )
        hello = json.loads(await ws.recv())
        if hello.get("type") != "hello":
            raise RuntimeError(f"refused: {hello}")
        return ws

    async def read_agent(self, ws: Any) -> None:
        async for raw in ws:
            now = time.perf_counter()
            frame = json.loads(raw)
            if frame.get("type") == "message" and frame.get("client_id", "").startswith("bench-"):
                self.arrivals.setdefault(frame["client_id"], []).append(now)

    async def read_merchant(self, ws: Any) -> None:
        async for raw in ws:
            frame = json.loads(raw)
            kind = frame.get("type")
            if kind == "ack":
                future = self.acked.get(frame["client_id"])
                if future is not None and not future.done():
                    future.set_result(None)
            elif kind == "error":
                self.errors.append(frame.get("detail", "?"))
                future = self.acked.get(frame.get("client_id", ""))
                if future is not None and not future.done():
                    future.set_result(None)

    async def send(self, ws: Any, conversation: int, client_id: str) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.acked[client_id] = future
        self.sent_at[client_id] = time.perf_counter()
        body = f"Ödeme nerede? 货款呢？ {client_id}"
        await ws.send(
            json.dumps(
                {
                    "type": "send",
                    "conversation": conversation,
                    "body": body,
                    "client_id": client_id,
                },
                ensure_ascii=False,
            )
        )
        return future


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index]


def process_tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) of a process and its descendants (``--workers``), from
    /proc: what the server spent, whatever else the machine was doing."""
    ticks = os.sysconf("SC_CLK_TCK")
    children: dict[int, list[int]] = {}
    stats: dict[int, list[str]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        stats[int(entry.name)] = fields
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        fields = stats.get(current)
        if fields is not None:
            total += (int(fields[11]) + int(fields[12])) / ticks
        todo += children.get(current, [])
    return total


def database_cpu(name: str) -> dict[int, float]:
    """CPU seconds of each PostgreSQL backend serving database ``name`` (its process title
    names it), by process id."""
    ticks = os.sysconf("SC_CLK_TCK")
    found: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            title = (entry / "cmdline").read_bytes().decode(errors="replace")
            if not title.startswith("postgres:") or f" {name} " not in title:
                continue
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        found[int(entry.name)] = (int(fields[11]) + int(fields[12])) / ticks
    return found


async def drive(
    args: argparse.Namespace, people: dict[str, Any], base: str, server_pid: int = 0
) -> dict[str, Any]:
    load = Load(base.replace("http", "ws", 1) + "/ws/chat/", base)
    started = time.perf_counter()
    merchants = []
    # Connect in batches: the server checks each session in the database.
    for start in range(0, len(people["merchants"]), 50):
        batch = people["merchants"][start : start + 50]
        sockets = await asyncio.gather(*(load.connect(m["session"]) for m in batch))
        merchants += [(ws, m["conversation"]) for ws, m in zip(sockets, batch, strict=True)]
    agents = [await load.connect(session) for session in people["agents"]]
    connect_seconds = time.perf_counter() - started
    readers = [asyncio.create_task(load.read_agent(ws)) for ws in agents]
    readers += [asyncio.create_task(load.read_merchant(ws)) for ws, _ in merchants]
    rng = random.Random(args.seed)

    # Phase 1: latency at a steady rate.
    latency_ids: list[str] = []
    interval = 1 / args.rate
    phase_start = time.perf_counter()
    n = 0
    while time.perf_counter() - phase_start < args.seconds:
        ws, conversation = merchants[rng.randrange(len(merchants))]
        client_id = f"bench-l{n}"
        await load.send(ws, conversation, client_id)
        latency_ids.append(client_id)
        n += 1
        next_at = phase_start + n * interval
        await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
    await _settle(load, latency_ids, len(agents), timeout=30)
    latencies = [
        (arrival - load.sent_at[cid]) * 1000
        for cid in latency_ids
        for arrival in load.arrivals.get(cid, [])
    ]

    # Phase 2: throughput, every merchant sending as fast as its acknowledgements come.
    per_merchant = max(1, args.burst // len(merchants))
    burst_ids: list[str] = []

    async def merchant_loop(index: int, ws: Any, conversation: int) -> None:
        for k in range(per_merchant):
            client_id = f"bench-b{index}-{k}"
            burst_ids.append(client_id)
            future = await load.send(ws, conversation, client_id)
            await asyncio.wait_for(future, timeout=120)

    burst_start = time.perf_counter()
    cpu_before = process_tree_cpu(server_pid) if server_pid else 0.0
    database = args.database_url.rsplit("/", 1)[-1]
    db_before = database_cpu(database)
    await asyncio.gather(
        *(merchant_loop(i, ws, conversation) for i, (ws, conversation) in enumerate(merchants))
    )
    await _settle(load, burst_ids, len(agents), timeout=120)
    server_cpu = process_tree_cpu(server_pid) - cpu_before if server_pid else 0.0
    # Backends opened during the phase count whole; one closed during it is missed (the
    # server keeps its connections: DATABASE_POOL), so this is a lower bound.
    db_cpu = sum(
        seconds - db_before.get(pid, 0.0) for pid, seconds in database_cpu(database).items()
    )
    delivered_everywhere = [
        cid for cid in burst_ids if len(load.arrivals.get(cid, [])) >= len(agents)
    ]
    last = max((max(load.arrivals[cid]) for cid in delivered_everywhere), default=burst_start)
    burst_seconds = last - burst_start
    burst_latencies = [
        (arrival - load.sent_at[cid]) * 1000
        for cid in burst_ids
        for arrival in load.arrivals.get(cid, [])
    ]

    for ws in agents + [ws for ws, _ in merchants]:
        await ws.close()
    for reader in readers:
        reader.cancel()
    return {
        "merchants_connected": len(merchants),
        "agents_connected": len(agents),
        "connect_seconds": round(connect_seconds, 2),
        "latency_phase": {
            "rate_per_second": args.rate,
            "messages": len(latency_ids),
            "deliveries": len(latencies),
            "missing_deliveries": len(latency_ids) * len(agents) - len(latencies),
            "p50_ms": round(_percentile(latencies, 0.50), 1),
            "p99_ms": round(_percentile(latencies, 0.99), 1),
            "max_ms": round(max(latencies, default=float("nan")), 1),
            "mean_ms": round(statistics.fmean(latencies), 1) if latencies else None,
        },
        "throughput_phase": {
            "messages": len(burst_ids),
            "delivered_to_every_agent": len(delivered_everywhere),
            "seconds": round(burst_seconds, 3),
            "messages_per_second": round(len(delivered_everywhere) / burst_seconds, 1)
            if burst_seconds > 0
            else None,
            "p50_ms": round(_percentile(burst_latencies, 0.50), 1),
            "p99_ms": round(_percentile(burst_latencies, 0.99), 1),
            # Load-insensitive: the server's own CPU (every worker), not PostgreSQL's.
            "server_cpu_seconds": round(server_cpu, 3),
            "server_cpu_ms_per_message": round(1000 * server_cpu / len(burst_ids), 3)
            if burst_ids
            else None,
            # PostgreSQL's backends for the benchmark's database, same phase.
            "database_cpu_ms_per_message": round(1000 * db_cpu / len(burst_ids), 3)
            if burst_ids
            else None,
        },
        "errors": load.errors[:10],
        "error_count": len(load.errors),
    }


async def _settle(load: Load, ids: list[str], agents: int, *, timeout: float) -> None:
    """Wait until every message reached every agent (or the timeout)."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if all(len(load.arrivals.get(cid, [])) >= agents for cid in ids):
            return
        await asyncio.sleep(0.05)


# --- the parent -----------------------------------------------------------------------------------


def fresh_database(url: str) -> dict[str, str]:
    """Drop and create the benchmark's own database (``sd_chat*`` only: ``sd_chat_bench`` by default)."""
    import re
    from urllib.parse import urlsplit, urlunsplit

    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if not re.fullmatch(r"sd_chat\w*", name):
        raise SystemExit(f"refusing to drop database {name!r}: this benchmark uses sd_chat*")
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return {**harness.base_env(debug=False), "DATABASE_URL": url}


def wait_for_server(base: str, server: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"sellerdesk serve exited with {server.returncode}")
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("sellerdesk serve did not answer /healthz")


def _kill_tree(pid: int) -> None:
    """SIGKILL a process and its descendants (uvicorn's workers)."""
    import signal

    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    todo, found = [pid], []
    while todo:
        current = todo.pop()
        found.append(current)
        todo += children.get(current, [])
    for target in reversed(found):
        with contextlib.suppress(ProcessLookupError):
            os.kill(target, signal.SIGKILL)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--merchants", type=int, default=500)
    parser.add_argument("--agents", type=int, default=5)
    parser.add_argument("--rate", type=float, default=20, help="latency phase: messages/s")
    parser.add_argument("--seconds", type=float, default=20, help="latency phase: duration")
    # 10,000 (20 a merchant): the burst lasts ~10 s at the target rate, so its rate is not
    # that of the batches' ramp-up and the machine's momentary speed (2,000 lasted ~2.3 s and
    # varied by a fifth from run to run).
    parser.add_argument("--burst", type=int, default=10000, help="throughput phase: messages")
    parser.add_argument("--port", type=int, default=8101)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--redis", default="", help="REDIS_URL for the channel layer")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--database-url", default=os.environ.get("BENCH_CHAT_DATABASE_URL", DEFAULT_PG)
    )
    parser.add_argument("--child", choices=["setup", "count"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child == "setup":
        setup_child(args)
        return 0
    if args.child == "count":
        count_child(args)
        return 0
    if args.workers > 1 and not args.redis:
        raise SystemExit("--workers above 1 needs --redis (the processes share the channel layer)")

    env = fresh_database(args.database_url)
    env.update({"LOG_LEVEL": "ERROR", "DATABASE_POOL": "1", "REDIS_URL": args.redis})
    log = harness.DATA / "chat"
    setup_argv = [
        sys.executable, __file__, "--child", "setup",
        "--merchants", str(args.merchants), "--agents", str(args.agents),
    ]  # fmt: skip
    started = time.perf_counter()
    people = harness.json_child(setup_argv, env, log / "setup", "set-up")
    print(
        f"set up {args.merchants} merchants and {args.agents} agents "
        f"in {time.perf_counter() - started:.1f} s"
    )

    base = f"http://127.0.0.1:{args.port}"
    command = [
        *harness.sellerdesk_command(), "serve", "--host", "127.0.0.1",
        "--port", str(args.port), "--workers", str(args.workers),
    ]  # fmt: skip
    log.mkdir(parents=True, exist_ok=True)
    with (log / "serve.log").open("wb") as serve_log:
        server = subprocess.Popen(command, env=env, cwd=REPO, stdout=serve_log, stderr=serve_log)
        try:
            wait_for_server(base, server)
            result = asyncio.run(drive(args, people, base, server.pid))
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                # Still draining after 30 s (as with --workers on Redis before the layer's
                # connections kept their cancellations): the figures are taken, so stop it
                # rather than lose them.
                print("sellerdesk serve did not stop within 30 s: killed", file=sys.stderr)
                _kill_tree(server.pid)
                server.wait(timeout=30)
    count_argv = [sys.executable, __file__, "--child", "count"]
    stored = harness.json_child(count_argv, env, log / "count", "count")
    result.update(stored)
    result.update(
        {
            "database": "postgresql",
            "channel_layer": "redis" if args.redis else "in-memory",
            "server_workers": args.workers,
            "group_commit": os.environ.get("SELLERDESK_CHAT_GROUP_COMMIT", "1")
            not in ("0", "false"),
            "cpus": os.cpu_count(),
            "load_average_1m": round(os.getloadavg()[0], 2),
        }
    )

    lat, thr = result["latency_phase"], result["throughput_phase"]
    sent = lat["messages"] + thr["messages"]
    print(
        f"{'phase':<11} {'messages':>8} {'p50 ms':>8} {'p99 ms':>8} {'msg/s':>8}  "
        f"merchants={result['merchants_connected']} agents={result['agents_connected']} "
        f"layer={result['channel_layer']} workers={args.workers}"
    )
    print(
        f"{'latency':<11} {lat['messages']:>8} {lat['p50_ms']:>8} {lat['p99_ms']:>8} {args.rate:>8}"
    )
    print(
        f"{'throughput':<11} {thr['messages']:>8} {thr['p50_ms']:>8} {thr['p99_ms']:>8} "
        f"{thr['messages_per_second']!s:>8}  server CPU {thr['server_cpu_ms_per_message']} ms/msg, "
        f"PostgreSQL {thr['database_cpu_ms_per_message']} ms/msg"
    )
    print(
        f"stored {result['stored']} of {sent} sent ({result['distinct_client_ids']} distinct client "
        f"ids), {result['error_count']} errors, load average {result['load_average_1m']} "
        f"on {result['cpus']} CPUs"
    )
    latency_met = lat["p99_ms"] <= TARGET_P99_MS
    throughput_met = (thr["messages_per_second"] or 0) >= TARGET_PER_SECOND
    print(f"target p99 ≤ {TARGET_P99_MS} ms: {'met' if latency_met else 'NOT met'}")
    print(f"target ≥ {TARGET_PER_SECOND} messages/s: {'met' if throughput_met else 'NOT met'}")
    RESULTS.write_text(
        json.dumps(
            {
                "target_p99_ms": TARGET_P99_MS,
                "target_messages_per_second": TARGET_PER_SECOND,
                "seed": args.seed,
                "result": result,
            },
            indent=2,
            ensure_ascii=False,
        )
        + "\n"
    )
    print(f"wrote {RESULTS.relative_to(REPO)}")
    return 0 if latency_met and throughput_met else 1


if __name__ == "__main__":
    sys.exit(main())
