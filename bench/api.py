"""The REST API under load: posting messages through ``POST /api/v1/conversations/{id}/messages``
on PostgreSQL with 32 connections, beside a bare Django endpoint that inserts one row (the
ceiling) and django-helpdesk's ticket-creation API (the peer), in one run on the same machine.

    make bench-api
    make bench-api BENCH_ARGS="--duration 10 --rounds 1"      # a quick look

Each target is served the same way, the production way the README gives for sellerdesk:
uvicorn with ``--workers 2`` (the machine has 2 cores), DEBUG off, PostgreSQL through Django's
connection pool. sellerdesk runs as ``sellerdesk serve`` with ``SELLERDESK_ENV=production``,
``DATABASE_POOL=1`` and ``REDIS_URL`` (the rate limit counted in Redis, as with several web
processes); each request carries an API key and a fresh ``Idempotency-Key``, and a webhook
subscription makes each message an outbox row, as in production. The peers:

- ``bench/api_peers/bare/``: one view, parse the JSON body, ``Model.objects.create``, answer.
- ``bench/api_peers/helpdesk/``: django-helpdesk from PyPI in its own venv
  (``var/bench/helpdesk-venv``), installed here from the hash-pinned
  ``bench/api_peers/helpdesk/requirements.txt``; ``POST /api/tickets/`` with DRF token auth.

The load generator is a small asyncio HTTP/1.1 client (keep-alive, one request in flight per
connection) in a child process pinned to one CPU. It is calibrated in the same run against a
server that answers at once, and its CPU share is recorded during every measurement, so the
table says whether it could have been the bottleneck. Each round warms every target up, then
counts the responses completed in a fixed window; targets are interleaved round by round so
the noise of a shared machine falls on all of them. After the run, the rows stored in each
database are checked against the 2xx responses. Prints a table and writes
``bench/results-api.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from harness import git_state, proc_field

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
PEERS = BENCH / "api_peers"
RESULTS = BENCH / "results-api.json"
VAR = REPO / "var" / "bench"
HELPDESK_VENV = VAR / "helpdesk-venv"
HELPDESK_REQUIREMENTS = PEERS / "helpdesk" / "requirements.txt"

DEFAULT_PG = "postgres://postgres@127.0.0.1:5432/sd_apibench"
DEFAULT_DB_PREFIX = "sd_apibench"


def databases(prefix: str) -> dict[str, str]:
    """Each target's database: ``prefix`` for sellerdesk, ``prefix_bare``, ``prefix_helpdesk``."""
    if not re.fullmatch(r"sd_[a-z0-9_]+", prefix):
        raise SystemExit(f"--db-prefix {prefix!r}: lower-case letters, digits and _ after sd_")
    return {"sellerdesk": prefix, "bare": f"{prefix}_bare", "helpdesk": f"{prefix}_helpdesk"}


#: The only databases this benchmark drops and re-creates (``--db-prefix`` names others).
DATABASES = databases(DEFAULT_DB_PREFIX)
TARGETS = ("sellerdesk", "bare", "helpdesk")
#: The issue's targets.
TARGET_SHARE_OF_CEILING = 0.5
TARGET_TIMES_PEER = 5.0
TARGET_P99_MS = 100.0


# --- the load generator ----------------------------------------------------------------------


class Load:
    """What one connection sends: request bytes made fresh for each request."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.count = 0

    def request(self, connection: int) -> bytes:
        spec = self.spec
        self.count += 1
        n = self.count
        target = spec["target"]
        headers = dict(spec.get("headers", {}))
        if target == "sellerdesk":
            conversations = spec["conversations"]
            pk = conversations[(n * 7 + connection) % len(conversations)]
            path = f"/api/v1/conversations/{pk}/messages"
            body: dict[str, Any] = {
                "body": f"We have checked the payout for order {n}; it is on its way.",
                "author_email": spec["author_email"],
            }
            if spec.get("idempotency", True):
                headers["Idempotency-Key"] = f"bench-{spec['run']}-{connection}-{n}"
        elif target == "bare":
            path = "/rows"
            body = {"body": f"We have checked the payout for order {n}; it is on its way."}
        elif target == "helpdesk":
            path = "/api/tickets/"
            body = {
                "queue": spec["queue"],
                "title": f"Payout late for order {n}",
                "description": f"The payout for order {n} has not arrived.",
                "submitter_email": f"merchant{n % 500}@merchants.test",
                "priority": 3,
            }
        else:  # "echo": the client's own ceiling
            path = "/"
            body = {"n": n}
        raw = json.dumps(body).encode()
        lines = [
            f"POST {path} HTTP/1.1",
            f"Host: 127.0.0.1:{spec['port']}",
            "Content-Type: application/json",
            f"Content-Length: {len(raw)}",
            *(f"{name}: {value}" for name, value in headers.items()),
        ]
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + raw


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """The status, the body, and whether the server closes the connection after it."""
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, _, header_block = head.partition(b"\r\n")
    status = int(status_line.split(b" ", 2)[1])
    length = None
    chunked = False
    close = False
    for line in header_block.split(b"\r\n"):
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value.strip())
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
        elif name == b"connection" and b"close" in value.lower():
            close = True
    if chunked:
        parts = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip().split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                break
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
        return status, b"".join(parts), close
    return status, await reader.readexactly(length or 0), close


async def _connection(
    load: Load,
    index: int,
    port: int,
    start: float,
    end: float,
    latencies: list[float],
    tally: dict[str, Any],
) -> None:
    reader = writer = None
    while True:
        now = time.perf_counter()
        if now >= end:
            break
        try:
            # A new connection's opening counts in its first request's latency.
            sent = time.perf_counter()
            if writer is None:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
            assert reader is not None
            writer.write(load.request(index))
            status, body, close = await _read_response(reader)
            done = time.perf_counter()
            if close:  # the server closes it (a worker evening out its connections)
                writer.close()
                reader = writer = None
                tally["closed_by_server"] += 1
            if sent >= start and done <= end:
                if 200 <= status < 300:
                    latencies.append(done - sent)
                else:
                    tally["errors"] += 1
                    tally["statuses"][str(status)] = tally["statuses"].get(str(status), 0) + 1
                    if len(tally["samples"]) < 3:
                        tally["samples"].append(body[:300].decode(errors="replace"))
            elif 200 <= status < 300:
                tally["outside_window_ok"] += 1
        except (OSError, asyncio.IncompleteReadError, ValueError) as error:
            if time.perf_counter() <= end:
                tally["errors"] += 1
                tally["statuses"]["connection"] = tally["statuses"].get("connection", 0) + 1
                if len(tally["samples"]) < 3:
                    tally["samples"].append(repr(error))
            if writer is not None:
                writer.close()
            reader = writer = None
            await asyncio.sleep(0.01)
    if writer is not None:
        writer.close()


async def _drive(spec: dict[str, Any]) -> dict[str, Any]:
    load = Load(spec)
    latencies: list[float] = []
    tally: dict[str, Any] = {
        "errors": 0,
        "statuses": {},
        "samples": [],
        "outside_window_ok": 0,
        "closed_by_server": 0,
    }
    begin = time.perf_counter()
    start = begin + spec["warmup"]
    end = start + spec["duration"]
    cpu_at_start: list[float] = []

    async def mark() -> None:
        await asyncio.sleep(max(0.0, start - time.perf_counter()))
        cpu_at_start.append(time.process_time())

    marker = asyncio.ensure_future(mark())
    await asyncio.gather(
        *(
            _connection(load, i, spec["port"], start, end, latencies, tally)
            for i in range(spec["connections"])
        )
    )
    await marker
    cpu = time.process_time() - cpu_at_start[0]
    latencies.sort()
    count = len(latencies)

    def pct(p: float) -> float | None:
        if not latencies:
            return None
        return round(latencies[min(count - 1, int(p * count))] * 1000, 2)

    return {
        "ok": count,
        "requests_per_second": round(count / spec["duration"], 1),
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "max_ms": round(latencies[-1] * 1000, 2) if latencies else None,
        "errors": tally["errors"],
        "error_statuses": tally["statuses"],
        "error_samples": tally["samples"],
        "ok_outside_window": tally["outside_window_ok"],
        "connections_closed_by_server": tally["closed_by_server"],
        "client_cpu_share": round(cpu / spec["duration"], 3),
    }


def client_main(spec_json: str) -> None:
    """The child process: one CPU, one event loop, the spec's connections."""
    spec = json.loads(spec_json)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {spec["cpu"]})
    print(json.dumps(asyncio.run(_drive(spec))))


def echo_main(port: int) -> None:
    """A server that answers every request at once: the client's own ceiling."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        answer = b'HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"id": 123}'
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                await reader.readexactly(length)
                writer.write(answer)
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def serve() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=256)
        async with server:
            await server.serve_forever()

    asyncio.run(serve())


def run_client(spec: dict[str, Any]) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--client", json.dumps(spec)],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"the load generator failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# --- databases and servers -------------------------------------------------------------------


def db_url(base: str, name: str) -> str:
    return urlunsplit(urlsplit(base)._replace(path=f"/{name}"))


def fresh_database(url: str) -> None:
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if name not in DATABASES.values():
        raise SystemExit(f"refusing to drop {name!r}: this benchmark uses only {DATABASES}")
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def count_rows(url: str, sql: str) -> int:
    import psycopg

    with psycopg.connect(url) as conn:
        row = conn.execute(sql).fetchone()
        assert row is not None
        return int(row[0])


def helpdesk_venv() -> Path:
    """django-helpdesk's own venv, installed from the hash-pinned requirements (once; again
    when the requirements change)."""
    python = HELPDESK_VENV / "bin" / "python"
    stamp = HELPDESK_VENV / ".requirements"
    wanted = HELPDESK_REQUIREMENTS.read_text()
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    print("installing django-helpdesk into", HELPDESK_VENV, flush=True)
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(HELPDESK_VENV)], check=True)
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "--require-hashes", "-r", str(HELPDESK_REQUIREMENTS)],
        check=True,
    )  # fmt: skip
    stamp.write_text(wanted)
    return python


def _env(extra: dict[str, str]) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    keep.pop("DJANGO_SETTINGS_MODULE", None)
    return {**keep, "SECRET_KEY": "bench-only-not-a-secret", **extra}


def sellerdesk_env(args: argparse.Namespace) -> dict[str, str]:
    return _env(
        {
            "DJANGO_SETTINGS_MODULE": "sellerdesk.settings",
            "DATABASE_URL": db_url(args.pg_url, DATABASES["sellerdesk"]),
            "DATABASE_POOL": "1",
            "SELLERDESK_ENV": "production",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SECURE_SSL_REDIRECT": "0",
            "SELLERDESK_VAR_DIR": str(VAR / "sellerdesk"),
            "REDIS_URL": args.redis_url,
            # Counted, never reached: the limit's cost is in every request, its 429s in none.
            "SELLERDESK_API_RATE_PER_MINUTE": "100000000",
        }
    )


def sellerdesk_setup(conversations: int) -> dict[str, Any]:
    """In the child: migrate, then merchants with open conversations (filed, answered once),
    an agent, a write key of no merchant and a webhook subscription to message.created."""
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    from django.utils import timezone

    from sellerdesk.accounts.models import Role
    from sellerdesk.accounts.services import user_create
    from sellerdesk.api import services as api_services
    from sellerdesk.api.models import WebhookSubscription
    from sellerdesk.conversations import workflow
    from sellerdesk.conversations.services import merchant_upsert

    merchants = [
        merchant_upsert(external_id=f"bench-m{m}", country=c, name=f"Bench merchant {m}")
        for m, c in enumerate(["TR", "DE", "CN", "UA", "US"])
    ]
    agent = user_create(
        email="agent@bench.test", password=None, role=Role.AGENT, full_name="Bench Agent"
    )
    pks = []
    for n in range(conversations):
        conversation = workflow.integration_conversation_open(
            merchant=merchants[n % len(merchants)],
            kind="complaint",
            subject=f"Payout late ({n})",
            body=f"The payout for order {n} has not arrived.",
        )
        # Answered once, so the run measures the everyday reply (the first one also opens
        # the conversation: a status change, its trail and its event).
        workflow.reply_post(conversation=conversation, author=agent, body="We are looking.")
        pks.append(conversation.pk)
    _, token = api_services.apikey_create(name="bench", scope="write")
    # Written as a row: subscribing checks that the host resolves to a public address, and a
    # bench machine may have no DNS. Nothing is delivered (no worker runs): the row makes each
    # message also write its outbox item, as in production.
    WebhookSubscription.objects.create(
        url="https://hooks.marketplace.example/sellerdesk",
        events=["message.created"],
        secret="whsec_bench",
        created_at=timezone.now(),
    )
    from django.conf import settings

    return {
        "token": token,
        "conversations": pks,
        "author_email": agent.email,
        "api_concurrency": settings.SELLERDESK_API_CONCURRENCY,
    }


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server on {port} exited: {log.read_text()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"server on {port} did not start: {log.read_text()[-2000:]}")


def start(argv: list[str], env: dict[str, str], cwd: Path, port: int, name: str) -> Any:
    log = VAR / f"{name}.log"
    handle = log.open("wb")
    proc = subprocess.Popen(
        argv, env=env, cwd=cwd, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
    )
    _wait_for_port(port, proc, log, timeout=60)
    return proc


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def uvicorn_argv(python: str, app: str, port: int, workers: int, balance: bool) -> list[str]:
    # What `sellerdesk serve` does: uvicorn with these options, its workers each listening on
    # a socket of its own, their connections balanced (sellerdesk/core/workers.py, which
    # needs only uvicorn).
    return [python, str(REPO / "sellerdesk" / "core" / "workers.py"), app,
            "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
            *([] if balance else ["--no-balance"]),
            "--option", "log_level=info", "--option", "lifespan=off"]  # fmt: skip


def loadavg() -> float:
    return round(os.getloadavg()[0], 2)


_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _proc_stats() -> list[tuple[int, int, float, str]]:
    """(pid, process group, CPU seconds used, command line) of every process /proc shows."""
    found = []
    for entry in Path("/proc").iterdir() if Path("/proc/self/stat").exists() else []:
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        # After the command: state ppid pgrp session … utime (14th field) stime (15th).
        pgrp, utime, stime = int(fields[2]), int(fields[11]), int(fields[12])
        found.append((int(entry.name), pgrp, (utime + stime) / _TICKS, command))
    return found


def cpu_snapshot(group: int | None, database: str | None) -> dict[str, dict[int, float]]:
    """CPU seconds so far of the server's processes (its process group) and of the PostgreSQL
    backends serving ``database``, by pid: what a request costs, whatever else the machine
    runs (far less sensitive to load than requests/s)."""
    server: dict[int, float] = {}
    backends: dict[int, float] = {}
    for pid, pgrp, seconds, command in _proc_stats():
        if group is not None and pgrp == group:
            server[pid] = seconds
        elif database and command.startswith("postgres: ") and f" {database} " in command:
            backends[pid] = seconds
    return {"server": server, "database": backends}


def cpu_used(
    before: dict[str, dict[int, float]], after: dict[str, dict[int, float]]
) -> dict[str, float]:
    """CPU seconds used between two snapshots (a process that started between them counts
    from zero; one that ended is lost, which the pool's long-lived connections make rare)."""
    return {
        part: sum(seconds - before[part].get(pid, 0.0) for pid, seconds in after[part].items())
        for part in after
    }


# --- the run ---------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg-url", default=DEFAULT_PG, help="server and user")
    parser.add_argument(
        "--db-prefix",
        default=DEFAULT_DB_PREFIX,
        help="the databases' names (re-created): PREFIX, PREFIX_bare, PREFIX_helpdesk",
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/10")
    parser.add_argument(
        "--ports", default="8151,8152,8153,8154", help="sellerdesk,bare,helpdesk,echo"
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--conversations", type=int, default=200)
    parser.add_argument("--targets", default=",".join(TARGETS))
    parser.add_argument(
        "--no-balance",
        dest="balance",
        action="store_false",
        help="serve every target with its workers' connections left where the kernel put them",
    )
    parser.add_argument(
        "--no-idempotency", action="store_true", help="send no Idempotency-Key to sellerdesk"
    )
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    DATABASES.clear()
    DATABASES.update(databases(args.db_prefix))
    targets = [t for t in args.targets.split(",") if t]
    unknown = set(targets) - set(TARGETS)
    if unknown:
        raise SystemExit(f"unknown targets {sorted(unknown)}; known: {', '.join(TARGETS)}")
    ports = dict(zip((*TARGETS, "echo"), (int(p) for p in args.ports.split(",")), strict=True))
    VAR.mkdir(parents=True, exist_ok=True)
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else [0]
    client_cpu = cpus[-1]
    run_id = str(int(time.time()))
    started = datetime.now(UTC).isoformat(timespec="seconds")
    git = git_state()  # before the run: what it measured

    specs: dict[str, dict[str, Any]] = {}
    procs: dict[str, Any] = {}
    python = sys.executable
    try:
        if "sellerdesk" in targets:
            env = sellerdesk_env(args)
            fresh_database(env["DATABASE_URL"])
            out = subprocess.run(
                [python, __file__, "--setup-sellerdesk", str(args.conversations)],
                env=env, cwd=REPO, capture_output=True, text=True, check=False,
            )  # fmt: skip
            if out.returncode != 0:
                raise RuntimeError(f"sellerdesk setup failed:\n{out.stderr[-3000:]}")
            setup = json.loads(out.stdout.strip().splitlines()[-1])
            args.api_concurrency = setup["api_concurrency"]
            sellerdesk = str(Path(python).parent / "sellerdesk")
            procs["sellerdesk"] = start(
                [sellerdesk, "serve", "--host", "127.0.0.1", "--port", str(ports["sellerdesk"]),
                 "--workers", str(args.workers), "--no-collectstatic",
                 *([] if args.balance else ["--no-balance"])],
                env, REPO, ports["sellerdesk"], "sellerdesk",
            )  # fmt: skip
            specs["sellerdesk"] = {
                "headers": {"Authorization": f"Bearer {setup['token']}"},
                "conversations": setup["conversations"],
                "author_email": setup["author_email"],
                "idempotency": not args.no_idempotency,
            }
        if "bare" in targets:
            env = _env(
                {
                    "DJANGO_SETTINGS_MODULE": "barebench.settings",
                    "DATABASE_URL": db_url(args.pg_url, DATABASES["bare"]),
                    "PYTHONPATH": str(PEERS / "bare"),
                }
            )
            fresh_database(env["DATABASE_URL"])
            cwd = PEERS / "bare"
            subprocess.run([python, "barebench/setup_bench.py"], env=env, cwd=cwd, check=True)
            procs["bare"] = start(
                uvicorn_argv(
                    python, "barebench.asgi:application", ports["bare"], args.workers,
                    args.balance,
                ),
                env, cwd, ports["bare"], "bare",
            )  # fmt: skip
            specs["bare"] = {}
        if "helpdesk" in targets:
            hd_python = str(helpdesk_venv())
            env = _env(
                {
                    "DJANGO_SETTINGS_MODULE": "hdbench.settings",
                    "DATABASE_URL": db_url(args.pg_url, DATABASES["helpdesk"]),
                    "PYTHONPATH": str(PEERS / "helpdesk"),
                }
            )
            fresh_database(env["DATABASE_URL"])
            cwd = PEERS / "helpdesk"
            out = subprocess.run(
                [hd_python, "hdbench/setup_bench.py"],
                env=env, cwd=cwd, capture_output=True, text=True, check=False,
            )  # fmt: skip
            if out.returncode != 0:
                raise RuntimeError(f"helpdesk setup failed:\n{out.stderr[-3000:]}")
            setup = json.loads(out.stdout.strip().splitlines()[-1])
            procs["helpdesk"] = start(
                uvicorn_argv(
                    hd_python, "hdbench.asgi:application", ports["helpdesk"], args.workers,
                    args.balance,
                ),
                env, cwd, ports["helpdesk"], "helpdesk",
            )  # fmt: skip
            specs["helpdesk"] = {
                "headers": {"Authorization": f"Token {setup['token']}"},
                "queue": setup["queue"],
            }
        procs["echo"] = start(
            [python, __file__, "--echo", str(ports["echo"])], _env({}), REPO, ports["echo"], "echo"
        )

        def measure(target: str, round_no: int) -> dict[str, Any]:
            spec = {
                **specs.get(target, {}),
                "target": target,
                "port": ports[target],
                "connections": args.connections,
                "warmup": args.warmup,
                "duration": args.duration,
                "cpu": client_cpu,
                "run": f"{run_id}-{round_no}",
            }
            before = loadavg()
            group = procs[target].pid if target in procs else None
            database = DATABASES.get(target)
            # The CPU the server and its database backends use in the counted window (the
            # warm-up pays one-off costs: imports, the first connections, caches).
            snapshots: list[dict[str, dict[int, float]]] = []
            timers = [
                threading.Timer(delay, lambda: snapshots.append(cpu_snapshot(group, database)))
                for delay in (args.warmup, args.warmup + args.duration)
            ]
            for timer in timers:
                timer.start()
            result = run_client(spec)
            for timer in timers:
                timer.join()
            used = cpu_used(snapshots[0], snapshots[1])
            result["loadavg_before"] = before
            answered = result["ok"] + result["errors"]
            result["server_cpu_ms_per_request"] = round(used["server"] * 1000 / max(1, answered), 2)
            result["db_cpu_ms_per_request"] = round(used["database"] * 1000 / max(1, answered), 2)
            print(
                f"  round {round_no} {target:<10} {result['requests_per_second']:>8.1f} req/s"
                f"  p50 {result['p50_ms']} ms  p99 {result['p99_ms']} ms"
                f"  errors {result['errors']}  client cpu {result['client_cpu_share']:.0%}"
                f"  closed by server {result['connections_closed_by_server']}"
                f"  CPU/request: server {result['server_cpu_ms_per_request']} ms,"
                f" database {result['db_cpu_ms_per_request']} ms",
                flush=True,
            )
            return result

        print(f"client calibration (pinned to CPU {client_cpu}):", flush=True)
        echo = measure("echo", 0)
        stop(procs.pop("echo"))
        rounds: dict[str, list[dict[str, Any]]] = {t: [] for t in targets}
        for round_no in range(1, args.rounds + 1):
            for target in targets:
                rounds[target].append(measure(target, round_no))
    finally:
        for proc in procs.values():
            stop(proc)

    stored = _stored(args, targets)
    summary = {t: _summarize(rounds[t]) for t in targets}
    for target in targets:
        ok = sum(r["ok"] + r["ok_outside_window"] for r in rounds[target])
        # Requests in flight when a window closed were answered and stored but not counted.
        summary[target]["rows_stored"] = stored[target]
        summary[target]["responses_2xx"] = ok
    result = _report(args, summary, echo, client_cpu, cpus)
    result["started"] = started
    result["git"] = git
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"\nwritten to {args.output.relative_to(REPO) if args.output.is_relative_to(REPO) else args.output}"
    )


def _stored(args: argparse.Namespace, targets: list[str]) -> dict[str, int]:
    queries = {
        # The messages the load generator wrote (not the setup's).
        "sellerdesk": "SELECT count(*) FROM conversations_message"
        " WHERE body LIKE 'We have checked the payout%'",
        "bare": "SELECT count(*) FROM barebench_row",
        "helpdesk": "SELECT count(*) FROM helpdesk_ticket",
    }
    return {t: count_rows(db_url(args.pg_url, DATABASES[t]), queries[t]) for t in targets}


def _summarize(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    rates = [r["requests_per_second"] for r in rounds]
    return {
        "requests_per_second": round(statistics.median(rates), 1),
        "requests_per_second_rounds": rates,
        "p50_ms": statistics.median(r["p50_ms"] for r in rounds if r["p50_ms"] is not None),
        "p99_ms": max(r["p99_ms"] for r in rounds if r["p99_ms"] is not None),
        "errors": sum(r["errors"] for r in rounds),
        "client_cpu_share_max": max(r["client_cpu_share"] for r in rounds),
        "server_cpu_ms_per_request": statistics.median(
            r["server_cpu_ms_per_request"] for r in rounds
        ),
        "db_cpu_ms_per_request": statistics.median(r["db_cpu_ms_per_request"] for r in rounds),
        "rounds": rounds,
    }


def _report(
    args: argparse.Namespace,
    summary: dict[str, Any],
    echo: dict[str, Any],
    client_cpu: int,
    cpus: list[int],
) -> dict[str, Any]:
    print(
        f"\n{args.connections} connections, uvicorn --workers {args.workers}"
        f"{'' if args.balance else ' --no-balance'}, PostgreSQL; "
        f"median of {args.rounds} rounds of {args.duration:.0f} s (p99: the worst round)"
    )
    print(
        f"{'target':<34} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} {'client cpu':>11}"
        f" {'server CPU/req':>15} {'db CPU/req':>11}"
    )
    names = {
        "sellerdesk": "sellerdesk POST …/messages",
        "bare": "bare Django, insert one row",
        "helpdesk": "django-helpdesk POST /api/tickets/",
    }
    for target, row in summary.items():
        print(
            f"{names[target]:<34} {row['requests_per_second']:>8.1f} {row['p50_ms']:>8.1f}"
            f" {row['p99_ms']:>8.1f} {row['errors']:>7} {row['client_cpu_share_max']:>10.0%}"
            f" {row['server_cpu_ms_per_request']:>12.2f} ms {row['db_cpu_ms_per_request']:>8.2f} ms"
        )
    print(
        f"{'client alone (answers at once)':<34} {echo['requests_per_second']:>8.1f}"
        f" {echo['p50_ms']:>8.1f} {echo['p99_ms']:>8.1f} {echo['errors']:>7}"
        f" {echo['client_cpu_share']:>10.0%}"
    )
    checks: dict[str, Any] = {}
    mine = summary.get("sellerdesk")
    if mine:
        checks["p99_ms"] = {
            "value": mine["p99_ms"],
            "target": TARGET_P99_MS,
            "met": mine["p99_ms"] <= TARGET_P99_MS,
        }
        if "bare" in summary:
            share = mine["requests_per_second"] / summary["bare"]["requests_per_second"]
            checks["share_of_ceiling"] = {
                "value": round(share, 3),
                "target": TARGET_SHARE_OF_CEILING,
                "met": share >= TARGET_SHARE_OF_CEILING,
            }
        if "helpdesk" in summary:
            times = mine["requests_per_second"] / summary["helpdesk"]["requests_per_second"]
            checks["times_peer"] = {
                "value": round(times, 2),
                "target": TARGET_TIMES_PEER,
                "met": times >= TARGET_TIMES_PEER,
            }
    labels = {
        "share_of_ceiling": "sellerdesk / bare Django",
        "times_peer": "sellerdesk / django-helpdesk",
        "p99_ms": "sellerdesk p99 (ms)",
    }
    print()
    for name, check in checks.items():
        print(
            f"{labels[name]:<30} {check['value']:>8} target {'>=' if name != 'p99_ms' else '<='}"
            f" {check['target']:<5} {'met' if check['met'] else 'NOT MET'}"
        )
    for target, row in summary.items():
        if row["rows_stored"] != row["responses_2xx"]:
            print(
                f"WARNING: {target} stored {row['rows_stored']} rows"
                f" for {row['responses_2xx']} 2xx answers"
            )
    return {
        "what": "POST a message through the REST API vs a bare insert and django-helpdesk",
        "connections": args.connections,
        "workers": args.workers,
        "warmup_seconds": args.warmup,
        "duration_seconds": args.duration,
        "rounds": args.rounds,
        "idempotency_key": not args.no_idempotency,
        "balanced_connections": args.balance,
        "sellerdesk_api_concurrency": getattr(args, "api_concurrency", None),
        "client": {"pinned_cpu": client_cpu, "cpus": cpus, "alone": echo},
        "machine": {
            "cpus": os.cpu_count(),
            "cpu_model": proc_field("/proc/cpuinfo", "model name"),
            "python": platform.python_version(),
        },
        "targets": summary,
        "checks": checks,
        "note": "a shared 2-core machine: other work ran beside it (see loadavg_before)",
    }


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    if len(sys.argv) == 3 and sys.argv[1] == "--client":
        client_main(sys.argv[2])
    elif len(sys.argv) == 3 and sys.argv[1] == "--echo":
        echo_main(int(sys.argv[2]))
    elif len(sys.argv) == 3 and sys.argv[1] == "--setup-sellerdesk":
        print(json.dumps(sellerdesk_setup(int(sys.argv[2]))))
    else:
        main()
