"""Proof under load and faults: the real processes on PostgreSQL, a scripted mix of merchants
and agents, faults injected on the way, then a reconciliation of everything clients were told
was accepted against what was stored and what was delivered.

    make bench-load                                        # 10 minutes, with faults
    make bench-load BENCH_ARGS="--duration 60"             # a quick run, with faults
    make bench-load BENCH_ARGS="--duration 60 --no-faults --rate 12"

What runs (ports 8161-8165): a PostgreSQL server of its own (``initdb`` into
``bench/data/load/pg``, port 8165, database ``sd_load``: restarting it must not disturb anyone
else's database), ``sellerdesk serve`` (8161), ``sellerdesk worker``, ``sellerdesk smtpd``
(8162), and in this process a webhook receiver (8163) that counts every delivery by its
``Webhook-Id`` and an SMTP sink (8164) that counts every outgoing mail by its ``Message-ID``.
Attachments (``MEDIA_ROOT``) go to a small tmpfs when ``mount`` works, else to a plain folder
and the "storage full" fault is skipped (said in the output).

The mix, at ``--rate`` actions a second in all: merchants chatting over the websocket (a
``client_id`` per message, resent on reconnect), mail over SMTP (a Message-ID per mail, a third
with a small attachment, resent on any error), API clients opening conversations and posting
merchants' messages (an ``Idempotency-Key`` per action, the same key on every retry), agents
replying through the API (also with a key), and the report read through the API. Every body
carries a unique token. A client retries with backoff (0.25 s doubling to 4 s) for up to
``--give-up`` seconds; what it got an acknowledgement for is *accepted*.

Faults (``--faults``, on by default): SIGKILL of the web server, of the worker and of the SMTP
receiver (each restarted 3 s later, as a supervisor would), a PostgreSQL restart (``pg_ctl
restart -m fast``), and attachment storage full for 15 s.

A backup under load, three quarters of the way in (between the PostgreSQL restart and the
storage fault, while clients go on writing): ``sellerdesk export --report`` of the live
database (one REPEATABLE READ snapshot for the file and the report of exactly what it holds, as
of the snapshot's moment), restored into an empty database (``sellerdesk migrate`` +
``sellerdesk import``) whose ``sellerdesk report --as-of`` that moment must give the same JSON;
and ``pg_dump --snapshot`` of a snapshot the bench holds, in which it also computes the report,
restored by ``pg_restore`` into another empty database and compared the same way.

The reconciliation: every accepted token is in exactly one stored message (chat: one message
per client id; e-mail: one message per Message-ID), nothing accepted is missing; every outbox
item is delivered, and received by the sink or the receiver at least once (repeats are counted
and shown: delivery is at least once, the id lets a receiver drop them). Prints the figures and
writes ``bench/results-load.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import email.message
import email.policy
import json
import os
import random
import re
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(BENCH))

import harness  # noqa: E402

RESULTS = BENCH / "results-load.json"
WORK = harness.DATA / "load"
HOST = "127.0.0.1"
WEB_PORT, SMTPD_PORT, HOOK_PORT, SINK_PORT, PG_PORT = 8161, 8162, 8163, 8164, 8165
BASE = f"http://{HOST}:{WEB_PORT}"
API = f"{BASE}/api/v1"
REDIS_DB = 11


def use_ports(first: int, redis_db: int) -> None:
    """The five ports from ``first`` on (web, smtpd, webhook receiver, SMTP sink, PostgreSQL)
    and the Redis database: so that two runs on one machine do not meet."""
    global WEB_PORT, SMTPD_PORT, HOOK_PORT, SINK_PORT, PG_PORT, BASE, API, REDIS_DB
    WEB_PORT, SMTPD_PORT, HOOK_PORT, SINK_PORT, PG_PORT = range(first, first + 5)
    BASE = f"http://{HOST}:{WEB_PORT}"
    API = f"{BASE}/api/v1"
    REDIS_DB = redis_db


DB_NAME = "sd_load"
PASSWORD = "load-bench-password-1"
TOKEN_RE = re.compile(r"LT-[a-z]+-[0-9a-f]{16}")
#: The share of the rate each kind of action gets.
MIX = {
    "chat": 0.35,
    "email": 0.15,
    "api_open": 0.12,
    "api_post": 0.15,
    "agent_reply": 0.18,
    "report": 0.05,
}
MERCHANTS = [("ld-tr-1", "TR"), ("ld-de-1", "DE"), ("ld-cn-1", "CN"), ("ld-fr-1", "FR")]


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


# --- PostgreSQL of its own ----------------------------------------------------------------------


class Postgres:
    """A PostgreSQL server in ``WORK/pg`` on its own port, run as the ``postgres`` user when
    this is root (the server refuses root)."""

    def __init__(self) -> None:
        found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
        if not found and not shutil.which("pg_ctl"):
            raise SystemExit("bench-load needs PostgreSQL's server binaries (pg_ctl, initdb)")
        self.bin = found[-1].parent if found else Path(shutil.which("pg_ctl") or "").parent
        self.data = WORK / "pg"
        self.socket_dir = WORK / "pgsock"
        self.logfile = WORK / "postgres.log"
        self.as_root = os.geteuid() == 0

    def _run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = [str(self.bin / argv[0]), *argv[1:]]
        if self.as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        return subprocess.run(command, check=check, capture_output=True, text=True, cwd="/")

    def _options(self) -> str:
        return f"-p {PG_PORT} -k {self.socket_dir} -c listen_addresses={HOST} -c fsync=on"

    def fresh(self) -> None:
        self.stop()
        shutil.rmtree(self.data, ignore_errors=True)
        for path in (self.data, self.socket_dir):
            path.mkdir(parents=True, exist_ok=True)
            if self.as_root:
                shutil.chown(path, "postgres", "postgres")
        self.logfile.touch()
        if self.as_root:
            shutil.chown(self.logfile, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8")
        self.start()

    def start(self) -> None:
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.logfile),
            "-o",
            self._options(),
            "-w",
            "-t",
            "60",
            "start",
        )

    def restart(self) -> None:
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.logfile),
            "-o",
            self._options(),
            "-m",
            "fast",
            "-w",
            "-t",
            "60",
            "restart",
        )

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop", check=False)

    def url(self, name: str = DB_NAME) -> str:
        return f"postgres://postgres@{HOST}:{PG_PORT}/{name}"


# --- The outside world: a webhook receiver and an SMTP sink ---------------------------------------


class Deliveries:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.webhooks: Counter[str] = Counter()
        self.mails: Counter[str] = Counter()

    def webhook(self, key: str) -> None:
        with self.lock:
            self.webhooks[key] += 1

    def mail(self, key: str) -> None:
        with self.lock:
            self.mails[key] += 1


def start_webhook_receiver(deliveries: Deliveries) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            deliveries.webhook(self.headers.get("Webhook-Id", "(none)"))
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer((HOST, HOOK_PORT), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def start_smtp_sink(deliveries: Deliveries) -> Any:
    from aiosmtpd.controller import Controller

    class Sink:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            raw = envelope.original_content or envelope.content or b""
            if isinstance(raw, str):
                raw = raw.encode()
            parsed = email.message_from_bytes(raw)
            deliveries.mail(str(parsed.get("Message-ID", "(none)")).strip())
            return "250 OK"

    controller = Controller(Sink(), hostname=HOST, port=SINK_PORT)
    controller.start()
    return controller


# --- The processes under test ------------------------------------------------------------------


class Supervised:
    """One sellerdesk process, killed and restarted on demand, as a supervisor would."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], ready: int | None) -> None:
        self.name, self.argv, self.env, self.ready = name, argv, env, ready
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        #: Exits nobody asked for (seconds into the load, exit code): the supervisor restarts.
        self.exits: list[tuple[float, int]] = []
        self.lock = threading.Lock()

    def start(self) -> None:
        self.starts += 1
        out = (WORK / f"{self.name}.log").open("ab")
        self.proc = subprocess.Popen(self.argv, env=self.env, cwd=REPO, stdout=out, stderr=out)
        if self.ready is not None:
            wait_port(self.ready, 60, self.name)

    def kill9(self) -> None:
        with self.lock:
            if self.proc is not None and self.proc.poll() is None:
                self.proc.send_signal(signal.SIGKILL)
                self.proc.wait()
            self.proc = None

    def watch(self, since: float) -> None:
        """What a supervisor does between faults: a process that ended by itself is noted and
        started again."""
        with self.lock:
            if self.proc is None or self.proc.poll() is None:
                return
            self.exits.append((round(time.monotonic() - since, 1), self.proc.returncode))
            log(f"{self.name} exited by itself ({self.proc.returncode}): restarting it")
            self.start()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill9()


def wait_port(port: int, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=1):
            return
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not listen on {port} within {seconds} s")


def media_root() -> tuple[Path, bool]:
    """A 16 MB tmpfs for attachments when ``mount`` works here (then it can be filled)."""
    path = WORK / "media"
    with contextlib.suppress(Exception):
        subprocess.run(["umount", str(path)], capture_output=True, check=False)
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(path)],
        capture_output=True,
        check=False,
    )
    return path, done.returncode == 0


# --- What clients saw ------------------------------------------------------------------------


@dataclass
class Stats:
    lock: threading.Lock = field(default_factory=threading.Lock)
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: list[tuple[float, str, str]] = field(default_factory=list)
    #: kind -> token -> what identifies it (client id, Message-ID, conversation id...)
    accepted: dict[str, dict[str, str]] = field(default_factory=lambda: defaultdict(dict))
    gave_up: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    conversations: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    started: float = field(default_factory=time.monotonic)

    def error(self, kind: str, what: str) -> None:
        with self.lock:
            self.errors.append((time.monotonic() - self.started, kind, what))

    def ok(self, kind: str, seconds: float, token: str = "", ident: str = "") -> None:
        with self.lock:
            self.latencies[kind].append(seconds)
            if token:
                self.accepted[kind][token] = ident


def token(kind: str) -> str:
    return f"LT-{kind.replace('_', '')}-{uuid.uuid4().hex[:16]}"


class Retry(Exception):
    """An attempt failed in a way worth trying again; the text is the error's kind."""


def with_retries(stats: Stats, kind: str, give_up: float, attempt: Any) -> Any:
    """Run ``attempt()`` until it returns, backing off; None after ``give_up`` seconds."""
    started, pause = time.monotonic(), 0.25
    while True:
        try:
            return attempt()
        except Retry as problem:
            stats.error(kind, str(problem))
        except (requests.RequestException, OSError, smtplib.SMTPException) as problem:
            stats.error(kind, type(problem).__name__)
        if time.monotonic() - started > give_up:
            return None
        time.sleep(pause * random.uniform(0.8, 1.2))
        pause = min(pause * 2, 4.0)


def http_check(response: requests.Response) -> requests.Response:
    if response.status_code >= 500 or response.status_code in {408, 429}:
        raise Retry(f"HTTP {response.status_code}")
    if response.status_code >= 400:
        # A client's mistake would be a bug in this script or the server: never retried.
        raise Retry(f"HTTP {response.status_code} {response.text[:120]}")
    return response


# --- The clients -------------------------------------------------------------------------------


@dataclass
class World:
    admin_key: str
    reports_key: str
    merchant_keys: dict[str, str]
    merchant_users: dict[str, str]
    agents: list[str]
    chat_conversations: dict[str, int]
    stats: Stats
    stop: threading.Event
    give_up: float
    attachments: bool


def paced(world: World, interval: float, action: Any) -> None:
    next_at = time.monotonic() + random.uniform(0, interval)
    while not world.stop.is_set():
        now = time.monotonic()
        if now < next_at:
            world.stop.wait(next_at - now)
            continue
        next_at += interval
        action()


def api_session(key: str) -> requests.Session:
    session = requests.Session()
    session.headers.update({"Authorization": f"Bearer {key}"})
    return session


def api_open_client(world: World, interval: float) -> None:
    sessions = {m: api_session(k) for m, k in world.merchant_keys.items()}
    admin = api_session(world.admin_key)

    def act() -> None:
        merchant = random.choice(list(sessions))
        mark = token("api_open")
        body = {
            "merchant_id": merchant,
            "kind": random.choice(["question", "complaint"]),
            "subject": f"Load {mark[-6:]}",
            "body": f"Opened by the API {mark}",
            "tags": ["payment_delay"],
        }
        headers = {"Idempotency-Key": f"open-{mark}"}
        started = time.monotonic()

        def attempt() -> int:
            response = admin.post(f"{API}/conversations", json=body, headers=headers, timeout=15)
            return int(http_check(response).json()["id"])

        found = with_retries(world.stats, "api_open", world.give_up, attempt)
        if found is None:
            world.stats.gave_up["api_open"].append(mark)
            return
        world.stats.ok("api_open", time.monotonic() - started, mark, str(found))
        with world.stats.lock:
            world.stats.conversations[merchant].append(found)

    paced(world, interval, act)


def api_post_client(world: World, interval: float) -> None:
    sessions = {m: api_session(k) for m, k in world.merchant_keys.items()}

    def act() -> None:
        merchant = random.choice(list(sessions))
        with world.stats.lock:
            pool = world.stats.conversations[merchant][-20:] or [world.chat_conversations[merchant]]
        conversation = random.choice(pool)
        mark = token("api_post")
        headers = {"Idempotency-Key": f"post-{mark}"}
        started = time.monotonic()

        def attempt() -> int:
            response = sessions[merchant].post(
                f"{API}/conversations/{conversation}/messages",
                json={"body": f"The merchant adds {mark}"},
                headers=headers,
                timeout=15,
            )
            return int(http_check(response).json()["id"])

        found = with_retries(world.stats, "api_post", world.give_up, attempt)
        if found is None:
            world.stats.gave_up["api_post"].append(mark)
            return
        world.stats.ok("api_post", time.monotonic() - started, mark, str(found))

    paced(world, interval, act)


def agent_client(world: World, interval: float) -> None:
    session = api_session(world.admin_key)

    def act() -> None:
        started = time.monotonic()

        def listing() -> list[int]:
            response = session.get(f"{API}/conversations", params={"limit": 50}, timeout=15)
            return [int(item["id"]) for item in http_check(response).json()["items"]]

        ids = with_retries(world.stats, "agent_list", world.give_up, listing)
        if not ids:
            return
        world.stats.ok("agent_list", time.monotonic() - started)
        conversation = random.choice(ids)
        mark = token("agent_reply")
        headers = {"Idempotency-Key": f"reply-{mark}"}
        started = time.monotonic()
        payload = {
            "body": f"An agent answers {mark}",
            "author_email": random.choice(world.agents),
            "public": True,
        }

        def attempt() -> int:
            response = session.post(
                f"{API}/conversations/{conversation}/messages",
                json=payload,
                headers=headers,
                timeout=15,
            )
            return int(http_check(response).json()["id"])

        found = with_retries(world.stats, "agent_reply", world.give_up, attempt)
        if found is None:
            world.stats.gave_up["agent_reply"].append(mark)
            return
        world.stats.ok("agent_reply", time.monotonic() - started, mark, str(found))

    paced(world, interval, act)


def report_client(world: World, interval: float) -> None:
    session = api_session(world.reports_key)
    today = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 86400))
    year_ago = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 365 * 86400))
    body = {
        "from": year_ago,
        "to": today,
        "config": {
            "timezone": "Europe/Berlin",
            "segment": [{"name": "EU", "countries": ["EU"]}, {"name": "All", "countries": ["*"]}],
        },
    }

    def act() -> None:
        started = time.monotonic()

        def attempt() -> dict[str, Any]:
            response = session.post(f"{API}/reports", json=body, timeout=30)
            return dict(http_check(response).json())

        if with_retries(world.stats, "report", world.give_up, attempt) is not None:
            world.stats.ok("report", time.monotonic() - started)

    paced(world, interval, act)


def email_client(world: World, interval: float) -> None:
    users = list(world.merchant_users.values())

    def act() -> None:
        sender = random.choice(users)
        mark = token("email")
        message = email.message.EmailMessage()
        message["From"] = sender
        message["To"] = "support@sellerdesk.test"
        message["Subject"] = f"Mail {mark[-6:]}"
        message["Message-ID"] = f"<{mark}@merchant.example>"
        message.set_content(f"Hello support, a mail for the load test {mark}\n")
        if world.attachments and random.random() < 0.34:
            message.add_attachment(
                os.urandom(4096),
                maintype="application",
                subtype="octet-stream",
                filename="statement.bin",
            )
        raw = message.as_bytes(policy=email.policy.SMTP)
        started = time.monotonic()

        def attempt() -> bool:
            with smtplib.SMTP(HOST, SMTPD_PORT, timeout=20) as smtp:
                try:
                    smtp.sendmail(sender, ["support@sellerdesk.test"], raw)
                except smtplib.SMTPResponseException as problem:
                    raise Retry(f"SMTP {problem.smtp_code}") from None
            return True

        if with_retries(world.stats, "email", world.give_up, attempt) is None:
            world.stats.gave_up["email"].append(mark)
            return
        world.stats.ok("email", time.monotonic() - started, mark, message["Message-ID"])

    paced(world, interval, act)


def sign_in(email_address: str) -> requests.Session:
    session = requests.Session()
    session.get(f"{BASE}/accounts/login/", timeout=15).raise_for_status()
    response = session.post(
        f"{BASE}/accounts/login/",
        data={
            "email": email_address,
            "password": PASSWORD,
            "csrfmiddlewaretoken": session.cookies["csrftoken"],
        },
        headers={"Referer": f"{BASE}/accounts/login/"},
        timeout=15,
        allow_redirects=False,
    )
    if response.status_code != 302 or "sessionid" not in session.cookies:
        raise RuntimeError(f"could not sign in {email_address}: {response.status_code}")
    return session


def chat_client(world: World, merchant: str, interval: float) -> None:
    from websockets.exceptions import WebSocketException
    from websockets.sync.client import connect

    cookie = f"sessionid={sign_in(world.merchant_users[merchant]).cookies['sessionid']}"
    conversation = world.chat_conversations[merchant]
    socket_box: list[Any] = []

    def socket_() -> Any:
        if not socket_box:
            ws = connect(
                f"ws://{HOST}:{WEB_PORT}/ws/chat/",
                open_timeout=10,
                additional_headers={"Cookie": cookie, "Origin": BASE},
            )
            hello = json.loads(ws.recv(timeout=10))
            if hello.get("type") != "hello":
                ws.close()
                raise Retry(f"chat refused: {hello.get('code')}")
            socket_box.append(ws)
        return socket_box[0]

    def drop() -> None:
        if socket_box:
            with contextlib.suppress(Exception):
                socket_box[0].close()
            socket_box.clear()

    def act() -> None:
        mark = token("chat")
        client_id = f"c-{mark[-16:]}"
        started = time.monotonic()

        def attempt() -> int:
            try:
                ws = socket_()
                ws.send(
                    json.dumps(
                        {
                            "type": "send",
                            "conversation": conversation,
                            "body": f"Chatting {mark}",
                            "client_id": client_id,
                        }
                    )
                )
                deadline = time.monotonic() + 15
                while True:
                    frame = json.loads(ws.recv(timeout=max(0.1, deadline - time.monotonic())))
                    if frame.get("client_id") != client_id:
                        continue
                    if frame.get("type") == "ack":
                        return int(frame["id"])
                    raise Retry(f"chat error {frame.get('code')}")
            except (WebSocketException, TimeoutError, OSError) as problem:
                drop()
                raise Retry(f"websocket {type(problem).__name__}") from None

        found = with_retries(world.stats, "chat", world.give_up, attempt)
        if found is None:
            world.stats.gave_up["chat"].append(mark)
            return
        world.stats.ok("chat", time.monotonic() - started, mark, client_id)

    try:
        paced(world, interval, act)
    finally:
        drop()


# --- Setup ---------------------------------------------------------------------------------------


def cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [*harness.sellerdesk_command(), *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"sellerdesk {' '.join(args[:2])} failed:\n{done.stderr[-2000:]}")
    return done.stdout


def api_key(env: dict[str, str], name: str, scope: str, merchant: str = "") -> str:
    extra = ["--merchant", merchant] if merchant else []
    return (
        cli(env, "apikey", "create", "--name", name, "--scope", scope, *extra)
        .strip()
        .splitlines()[-1]
    )


#: Run in one ``sellerdesk shell`` (one start-up instead of one per command): the same commands
#: as typed at a shell, through ``call_command``; the keys are their last output lines.
SEED = """
import io, json, os
from django.core.management import call_command
agents, merchants, password = json.loads(os.environ["LOAD_SEED"])
keys = {}
for address in agents:
    call_command("createagent", address, password=password, team=["EU"], name=address.split("@")[0])
for merchant in merchants:
    out = io.StringIO()
    call_command("apikey", "create", name="load " + merchant, scope="write", merchant=merchant, stdout=out)
    keys[merchant] = out.getvalue().strip().splitlines()[-1]
    call_command("createmerchantuser", merchant + "@merchant.example", merchant=merchant, password=password)
print(json.dumps(keys))
"""


def seed(env: dict[str, str]) -> dict[str, Any]:
    """The schema, the agents, the marketplace's keys, the merchants (by the API, as the
    marketplace would), their users and keys, a conversation each to chat in, the webhook."""
    cli(env, "migrate", "--no-input", "-v", "0")
    admin_key = api_key(env, "load marketplace", "write")
    reports_key = api_key(env, "load compliance", "reports")
    agents = [f"load-agent-{n}@sellerdesk.test" for n in range(3)]
    return {"agents": agents, "admin_key": admin_key, "reports_key": reports_key}


def seed_over_api(env: dict[str, str], seeded: dict[str, Any]) -> tuple[dict[str, Any], ...]:
    admin = api_session(seeded["admin_key"])
    for merchant, country in MERCHANTS:
        http_check(
            admin.put(
                f"{API}/merchants/{merchant}",
                json={"country": country, "name": f"Load {merchant}"},
                timeout=30,
            )
        )
    names = [m for m, _ in MERCHANTS]
    keys = json.loads(
        cli(
            {**env, "LOAD_SEED": json.dumps([seeded["agents"], names, PASSWORD])},
            "shell",
            "-c",
            SEED,
        )
        .strip()
        .splitlines()[-1]
    )
    users = {m: f"{m}@merchant.example" for m in names}
    chats = {}
    for merchant in names:
        response = http_check(
            admin.post(
                f"{API}/conversations",
                json={
                    "merchant_id": merchant,
                    "kind": "question",
                    "subject": "Chat",
                    "body": "Chat opens",
                },
                timeout=30,
            )
        )
        chats[merchant] = int(response.json()["id"])
    http_check(
        admin.post(
            f"{API}/webhooks",
            json={
                "url": f"http://{HOST}:{HOOK_PORT}/hook",
                "events": [
                    "conversation.created",
                    "message.created",
                    "conversation.status_changed",
                    "conversation.tagged",
                    "sla.breached",
                ],
            },
            timeout=30,
        )
    )
    return keys, users, chats


# --- Faults --------------------------------------------------------------------------------------


@dataclass
class Fault:
    name: str
    at: float
    started: float = 0.0
    ended: float = 0.0
    note: str = ""


def supervise(processes: dict[str, Supervised], stats: Stats, stop: threading.Event) -> None:
    while not stop.wait(1):
        for process in processes.values():
            process.watch(stats.started)


def run_faults(
    faults: list[Fault],
    processes: dict[str, Supervised],
    pg: Postgres,
    media: Path,
    can_fill: bool,
    stats: Stats,
    stop: threading.Event,
) -> None:
    for fault in faults:
        while time.monotonic() - stats.started < fault.at:
            if stop.wait(0.2):
                return
        fault.started = time.monotonic() - stats.started
        log(f"fault: {fault.name}")
        try:
            if fault.name.startswith("kill -9 "):
                process = processes[fault.name.removeprefix("kill -9 ")]
                process.kill9()
                time.sleep(3)
                process.start()
            elif fault.name == "PostgreSQL restart":
                pg.restart()
            elif fault.name == "attachment storage full":
                if not can_fill:
                    fault.note = "skipped: mount (tmpfs) not permitted here"
                else:
                    filler = media / "filler"
                    with contextlib.suppress(OSError), filler.open("wb") as out:
                        while True:
                            out.write(b"\0" * (1 << 20))
                    time.sleep(15)
                    filler.unlink()
        except Exception as problem:  # the report says so; the load goes on
            fault.note = f"harness error: {problem}"
        fault.ended = time.monotonic() - stats.started
        log(f"fault over: {fault.name} ({fault.ended - fault.started:.1f} s) {fault.note}")


# --- A backup under load -------------------------------------------------------------------------

#: The report compared across the backups: the report client's configuration.
BACKUP_REPORT_CONFIG = """timezone = "Europe/Berlin"

[[segment]]
name = "EU"
countries = ["EU"]

[[segment]]
name = "All"
countries = ["*"]
"""


def actions_done(stats: Stats) -> int:
    with stats.lock:
        return sum(len(v) for v in stats.latencies.values())


def fresh_database(pg: Postgres, name: str) -> str:
    subprocess.run(
        [*pg_psql(pg), "-c", f"DROP DATABASE IF EXISTS {name}"], check=True, capture_output=True
    )
    subprocess.run([*pg_psql(pg), "-c", f"CREATE DATABASE {name}"], check=True, capture_output=True)
    return pg.url(name)


def report_differences(a: Any, b: Any, path: str = "") -> list[str]:
    """Where two reports' JSON differ (the first few paths)."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in sorted(set(a) | set(b), key=str):
            out += report_differences(a.get(key), b.get(key), f"{path}.{key}")
        return out[:10]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        out = []
        for n, (x, y) in enumerate(zip(a, b, strict=True)):
            out += report_differences(x, y, f"{path}[{n}]")
        return out[:10]
    return [] if a == b else [f"{path or '.'}: {json.dumps(a)[:80]} != {json.dumps(b)[:80]}"]


def restored_counts(url: str) -> tuple[int, int]:
    import psycopg

    with psycopg.connect(url) as conn:
        conversations = conn.execute("SELECT count(*) FROM conversations_conversation").fetchone()
        messages = conn.execute("SELECT count(*) FROM conversations_message").fetchone()
    return int(conversations[0] if conversations else 0), int(messages[0] if messages else 0)


def backup_row(
    how: str, backed_up: dict[str, Any], restored: dict[str, Any], url: str, **extra: Any
) -> dict[str, Any]:
    conversations, messages = restored_counts(url)
    differences = report_differences(backed_up, restored)
    if extra["backed_up_conversations"] != conversations:
        differences.append(
            f"conversations: {extra['backed_up_conversations']} backed up, {conversations} restored"
        )
    return {
        "backup": how,
        "as_of": backed_up.get("as_of", "?"),
        **extra,
        "restored_conversations": conversations,
        "restored_messages": messages,
        "report_identical": not differences,
        "differences": differences,
    }


def backup_under_load(pg: Postgres, env: dict[str, str], stats: Stats) -> dict[str, Any]:
    """Back the live database up twice while clients write (``sellerdesk export --report``,
    then ``pg_dump --snapshot``), restore each backup into an empty database and compare the
    report of the backed-up state with the restored database's, JSON for JSON.

    Each backup's report is computed in the backup's own snapshot, as of the snapshot's
    moment: a message stamped before that moment but committed after the snapshot is in
    neither (a report of the live database computed later "as of" that moment would count it).
    """
    config = WORK / "backup-report.toml"
    config.write_text(BACKUP_REPORT_CONFIG)
    start = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 365 * 86400))
    end = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 86400))
    period = ["--from", start, "--to", end, "--config", str(config)]

    # sellerdesk export --report: the interchange file and its report, one snapshot.
    exported, report_file = WORK / "backup.jsonl.gz", WORK / "backup-report.json"
    before, started = actions_done(stats), time.monotonic()
    said = cli(env, "export", str(exported), "--no-progress", "--report", str(report_file), *period)
    count = re.search(r"exported (\d+) conversations", said)
    export = {
        "backup_s": round(time.monotonic() - started, 1),
        "acked_meanwhile": actions_done(stats) - before,
        "backed_up_conversations": int(count.group(1)) if count else -1,
    }
    export_report = json.loads(report_file.read_text())

    # pg_dump --snapshot of a snapshot held here, and the report computed in it.
    dump = WORK / "backup.pgdump"
    before, started = actions_done(stats), time.monotonic()
    dump_report, dumped = report_with_pg_dump(pg, env, period, dump)
    pg_dumped = {
        "backup_s": round(time.monotonic() - started, 1),
        "acked_meanwhile": actions_done(stats) - before,
        "backed_up_conversations": dumped,
    }

    rows = []
    restore = {**env, "DATABASE_URL": fresh_database(pg, f"{DB_NAME}_restore")}
    started = time.monotonic()
    cli(restore, "migrate", "--no-input", "-v", "0")
    cli(restore, "import", str(exported), "--no-progress")
    restored = json.loads(cli(restore, "report", *period, "--as-of", export_report["as_of"]))
    rows.append(
        backup_row(
            "sellerdesk export --report; migrate + import",
            export_report,
            restored,
            restore["DATABASE_URL"],
            **export,
            restore_s=round(time.monotonic() - started, 1),
        )
    )
    url = fresh_database(pg, f"{DB_NAME}_pgrestore")
    started = time.monotonic()
    subprocess.run(
        [str(pg.bin / "pg_restore"), "-h", HOST, "-p", str(PG_PORT), "-U", "postgres",
         "--no-owner", "-d", f"{DB_NAME}_pgrestore", str(dump)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    restored = json.loads(
        cli({**env, "DATABASE_URL": url}, "report", *period, "--as-of", dump_report["as_of"])
    )
    rows.append(
        backup_row(
            "pg_dump --snapshot; pg_restore",
            dump_report,
            restored,
            url,
            **pg_dumped,
            restore_s=round(time.monotonic() - started, 1),
        )
    )
    return {"rows": rows}


def report_with_pg_dump(
    pg: Postgres, env: dict[str, str], period: list[str], dump: Path
) -> tuple[dict[str, Any], int]:
    """``pg_dump`` of one REPEATABLE READ snapshot held open here (``--snapshot``), and the
    report computed in that same snapshot as of its moment (``core.db.snapshot_moment``), and
    the number of conversations it holds."""
    import django

    os.environ.update(env)
    django.setup()
    from django.db import connection

    from sellerdesk.conversations.models import Conversation
    from sellerdesk.core.db import read_snapshot, snapshot_moment
    from sellerdesk.reports.config import build_params, load_config
    from sellerdesk.reports.engine import compute_report
    from sellerdesk.reports.render import render

    try:
        with read_snapshot(connection, repeatable=True):
            moment = snapshot_moment(connection)
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_export_snapshot()")
                snapshot = cursor.fetchone()[0]
            subprocess.run(
                [str(pg.bin / "pg_dump"), "-h", HOST, "-p", str(PG_PORT), "-U", "postgres",
                 "-Fc", "--snapshot", snapshot, "-f", str(dump), DB_NAME],
                check=True, capture_output=True, text=True,
            )  # fmt: skip
            params = build_params(load_config(period[5]), period[1], period[3], moment.isoformat())
            report = json.loads(render(compute_report(params), "json"))
            return dict(report), Conversation.objects.count()
    finally:
        connection.close()


def run_backup(
    at: float, pg: Postgres, env: dict[str, str], stats: Stats, stop: threading.Event, out: dict
) -> None:
    while time.monotonic() - stats.started < at:
        if stop.wait(0.2):
            out["note"] = "not run: the load ended first"
            return
    out["at_s"] = round(time.monotonic() - stats.started, 1)
    log("backup under load: sellerdesk export --report, pg_dump --snapshot; restoring each")
    try:
        out.update(backup_under_load(pg, env, stats))
    except Exception as problem:  # counted as a failure by the verdict
        out["note"] = f"backup step failed: {type(problem).__name__}: {str(problem)[-1500:]}"
    out["ended_s"] = round(time.monotonic() - stats.started, 1)
    for row in out.get("rows", []):
        log(f"backup: {row['backup']}: report identical: {row['report_identical']}")


# --- Reconciliation ----------------------------------------------------------------------------


KINDS = ("chat", "email", "api_open", "api_post", "agent_reply")


def stored_tokens(bodies: list[str]) -> Counter[str]:
    """How many stored messages carry each token."""
    stored: Counter[str] = Counter()
    for body in bodies:
        stored.update(set(TOKEN_RE.findall(body)))
    return stored


def message_rows(
    accepted: dict[str, dict[str, str]], gave_up: dict[str, list[str]], bodies: list[str]
) -> list[dict[str, Any]]:
    """Per kind: the accepted tokens stored once, missing, stored more than once; what a
    client gave up on but was stored (fine: once); what was stored that no client sent."""
    stored = stored_tokens(bodies)
    rows = []
    for kind in KINDS:
        mine = accepted.get(kind, {})
        given_up = gave_up.get(kind, [])
        counts = Counter(stored[t] for t in mine)
        prefix = f"LT-{kind.replace('_', '')}-"
        rows.append(
            {
                "kind": kind,
                "accepted": len(mine),
                "stored_once": counts[1],
                "missing": counts[0],
                "duplicated": sum(v for k, v in counts.items() if k > 1),
                "gave_up": len(given_up),
                "gave_up_but_stored": sum(1 for t in given_up if stored[t]),
                "stored_never_sent": sum(
                    1
                    for t in stored
                    if t.startswith(prefix) and t not in mine and t not in given_up
                ),
            }
        )
    return rows


def delivery_row(kind: str, items: list[tuple[str, str]], received: Counter[str]) -> dict[str, Any]:
    """Outbox items (the id the receiver sees, status) against the deliveries received."""
    ids = {i for i, _ in items}
    seen = Counter(received[i] for i in ids)
    return {
        "kind": kind,
        "items": len(items),
        "delivered": sum(1 for _, s in items if s == "delivered"),
        "pending": sum(1 for _, s in items if s == "pending"),
        "failed": sum(1 for _, s in items if s == "failed"),
        "received_once": seen[1],
        "lost": seen[0],
        "received_twice_or_more": sum(v for k, v in seen.items() if k > 1),
        "repeats": sum(max(0, received[i] - 1) for i in ids),
        "unknown_ids_received": sum(1 for i in received if i not in ids),
    }


def reconcile(
    url: str, env: dict[str, str], stats: Stats, deliveries: Deliveries
) -> dict[str, Any]:
    import django
    import psycopg

    os.environ.update(env)
    django.setup()
    from django.conf import settings

    from sellerdesk.outbox.services import message_id_for

    with psycopg.connect(url) as conn:
        bodies = conn.execute(
            "SELECT id, body, client_id FROM conversations_message WHERE body LIKE %s", ["%LT-%"]
        ).fetchall()
        outbox = conn.execute("SELECT kind, key, status FROM outbox_outboxitem").fetchall()
        inbound = (
            conn.execute(
                "SELECT state, count(*) FROM email_connector_inboundemail GROUP BY state"
            ).fetchall()
            if _has_table(conn, "email_connector_inboundemail")
            else []
        )
        opened = conn.execute(
            "SELECT count(*) FROM conversations_conversation c WHERE EXISTS (SELECT 1 FROM "
            "conversations_message m WHERE m.conversation_id = c.id AND m.body LIKE %s)",
            ["%LT-apiopen-%"],
        ).fetchone()
    rows = message_rows(stats.accepted, stats.gave_up, [body for _, body, _ in bodies])
    stored = stored_tokens([body for _, body, _ in bodies])
    missing_tokens = {
        kind: [t for t in stats.accepted[kind] if stored[t] == 0][:20] for kind in stats.accepted
    }
    out_rows = []
    for kind, counter in (("email", deliveries.mails), ("webhook", deliveries.webhooks)):
        items = [
            (
                message_id_for(key, settings.SELLERDESK_MAIL_DOMAIN) if kind == "email" else key,
                status,
            )
            for k, key, status in outbox
            if k == kind
        ]
        out_rows.append(delivery_row(kind, items, counter))
    return {
        "messages": rows,
        "outbox": out_rows,
        "inbound_email_states": dict(inbound),
        "api_conversations_stored": opened[0] if opened else 0,
        "missing_samples": {k: v for k, v in missing_tokens.items() if v},
    }


def _has_table(conn: Any, name: str) -> bool:
    row = conn.execute("SELECT to_regclass(%s)", [name]).fetchone()
    return row is not None and row[0] is not None


def drained(url: str) -> tuple[int, int]:
    import psycopg

    with psycopg.connect(url, connect_timeout=5) as conn:
        pending = conn.execute(
            "SELECT count(*) FROM outbox_outboxitem WHERE status = 'pending'"
        ).fetchone()
        waiting = conn.execute(
            "SELECT count(*) FROM email_connector_inboundemail WHERE state = 'received'"
        ).fetchone()
    return int(pending[0] if pending else 0), int(waiting[0] if waiting else 0)


# --- Output --------------------------------------------------------------------------------------


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "(none)"
    heads = list(rows[0])
    widths = [max(len(str(h)), *(len(str(r[h])) for r in rows)) for h in heads]
    line = "  ".join(str(h).ljust(w) for h, w in zip(heads, widths, strict=True))
    body = ["  ".join(str(r[h]).ljust(w) for h, w in zip(heads, widths, strict=True)) for r in rows]
    return "\n".join([line, "  ".join("-" * w for w in widths), *body])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=600, help="seconds of load (600)")
    parser.add_argument("--rate", type=float, default=8.0, help="actions a second in all (8)")
    parser.add_argument("--faults", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument(
        "--give-up",
        type=float,
        default=90.0,
        help="seconds a client retries one action before giving up (90)",
    )
    parser.add_argument(
        "--drain",
        type=float,
        default=300.0,
        help="seconds to wait afterwards for the outbox to empty (300)",
    )
    parser.add_argument(
        "--backup",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="back the live database up three quarters in, restore it, compare the reports",
    )
    parser.add_argument(
        "--port", type=int, default=WEB_PORT, help="the first of five ports in a row (8161)"
    )
    parser.add_argument("--redis-db", type=int, default=REDIS_DB, help="Redis database (11)")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    use_ports(args.port, args.redis_db)

    WORK.mkdir(parents=True, exist_ok=True)
    for stale in WORK.glob("*.log"):
        stale.unlink()
    pg = Postgres()
    log(f"PostgreSQL of its own in {pg.data} on port {PG_PORT}")
    pg.fresh()
    url = pg.url()
    subprocess.run(
        [*pg_psql(pg), "-c", f"CREATE DATABASE {DB_NAME}"], check=True, capture_output=True
    )
    media, can_fill = media_root()
    env = {
        **harness.base_env(),
        "DATABASE_URL": url,
        "DATABASE_POOL": "1",
        "REDIS_URL": f"redis://127.0.0.1:6379/{REDIS_DB}",
        "EMAIL_HOST": HOST,
        "EMAIL_PORT": str(SINK_PORT),
        "EMAIL_USE_TLS": "0",
        "MEDIA_ROOT": str(media),
        "SELLERDESK_BASE_URL": BASE,
        "SELLERDESK_UNKNOWN_SENDER_COUNTRY": "DE",
        "SELLERDESK_OUTBOX_LEASE_SECONDS": "20",
        "SELLERDESK_VAR_DIR": str(WORK / "var"),
        "LOG_LEVEL": "WARNING",
    }
    _flush_redis()
    deliveries = Deliveries()
    hooks = start_webhook_receiver(deliveries)
    sink = start_smtp_sink(deliveries)
    stats = Stats()
    command = harness.sellerdesk_command()
    processes = {
        "web server": Supervised(
            "web",
            [*command, "serve", "--host", HOST, "--port", str(WEB_PORT), "--no-collectstatic"],
            env,
            WEB_PORT,
        ),
        "worker": Supervised("worker", [*command, "worker", "--interval", "1"], env, None),
        "SMTP receiver": Supervised(
            "smtpd", [*command, "smtpd", "--host", HOST, "--port", str(SMTPD_PORT)], env, SMTPD_PORT
        ),
    }
    try:
        log("seeding sd_load: migrate, agents, API keys")
        seeded = seed(env)
        for process in processes.values():
            process.start()
        keys, users, chats = seed_over_api(env, seeded)
        stop = threading.Event()
        world = World(
            admin_key=seeded["admin_key"],
            reports_key=seeded["reports_key"],
            merchant_keys=keys,
            merchant_users=users,
            agents=seeded["agents"],
            chat_conversations=chats,
            stats=Stats(),
            stop=stop,
            give_up=args.give_up,
            attachments=True,
        )
        stats = world.stats
        threads = []

        def spawn(target: Any, *extra: Any) -> None:
            threads.append(threading.Thread(target=target, args=(world, *extra), daemon=True))

        rate = args.rate
        for merchant, _ in MERCHANTS:
            spawn(chat_client, merchant, len(MERCHANTS) / (rate * MIX["chat"]))
        spawn(email_client, 1 / (rate * MIX["email"]))
        spawn(api_open_client, 1 / (rate * MIX["api_open"]))
        spawn(api_post_client, 1 / (rate * MIX["api_post"]))
        spawn(agent_client, 1 / (rate * MIX["agent_reply"]))
        spawn(report_client, 1 / (rate * MIX["report"]))
        faults = []
        if args.faults:
            names = [
                "kill -9 web server",
                "kill -9 worker",
                "kill -9 SMTP receiver",
                "PostgreSQL restart",
                "attachment storage full",
            ]
            faults = [
                Fault(n, args.duration * (i + 1) / (len(names) + 1)) for i, n in enumerate(names)
            ]
        log(
            f"load: {args.duration:.0f} s at {rate:g} actions/s "
            f"({', '.join(f'{k} {rate * v:.2f}/s' for k, v in MIX.items())}); "
            f"faults: {'on' if faults else 'off'}; attachments on "
            f"{'a 16 MB tmpfs' if can_fill else 'a plain folder'}"
        )
        stats.started = time.monotonic()
        for thread in threads:
            thread.start()
        fault_thread = threading.Thread(
            target=run_faults,
            args=(faults, processes, pg, media, can_fill, stats, stop),
            daemon=True,
        )
        fault_thread.start()
        backup: dict[str, Any] = {}
        backup_thread = threading.Thread(
            target=run_backup,
            args=(args.duration * 0.75, pg, env, stats, stop, backup),
            daemon=True,
        )
        if args.backup:
            backup_thread.start()
        supervisor = threading.Event()
        threading.Thread(target=supervise, args=(processes, stats, supervisor), daemon=True).start()
        stop.wait(args.duration)
        stop.set()
        load_seconds = time.monotonic() - stats.started
        log("load over; waiting for clients' last retries")
        for thread in threads:
            thread.join(args.give_up + 30)
        fault_thread.join(120)
        if args.backup:
            backup_thread.join(600)
            if backup_thread.is_alive():
                backup["note"] = "backup step still running after 10 minutes"
        log("draining: the outbox and the inbound mail")
        deadline = time.monotonic() + args.drain
        pending = waiting = -1
        while time.monotonic() < deadline:
            try:
                pending, waiting = drained(url)
            except Exception:
                pending = waiting = -1
            if pending == 0 and waiting == 0:
                break
            time.sleep(2)
        time.sleep(3)  # the last deliveries' answers
        supervisor.set()
        result = reconcile(url, env, stats, deliveries)
        result["drain"] = {"outbox_pending": pending, "inbound_waiting": waiting}
        result["unexpected_exits"] = {n: p.exits for n, p in processes.items() if p.exits}
        result["backup"] = backup if args.backup else {"note": "not run (--no-backup)"}
    finally:
        for process in processes.values():
            process.stop()
        hooks.shutdown()
        sink.stop()
        pg.stop()
        subprocess.run(["umount", str(WORK / "media")], capture_output=True, check=False)

    actions = []
    for kind, values in sorted(stats.latencies.items()):
        actions.append(
            {
                "action": kind,
                "done": len(values),
                "per_s": f"{len(values) / load_seconds:.2f}",
                "p50_ms": f"{percentile(values, 0.5) * 1000:.0f}",
                "p99_ms": f"{percentile(values, 0.99) * 1000:.0f}",
                "max_ms": f"{max(values) * 1000:.0f}",
            }
        )
    error_rows = []
    windows: dict[str, Counter[str]] = defaultdict(Counter)
    for at, kind, what in stats.errors:
        # The latest fault that had started, up to 15 s after its end; else none.
        during = "(no fault)"
        for fault in faults:
            if fault.started <= at <= fault.ended + 15:
                during = fault.name
        windows[during][f"{kind}: {what}"] += 1
    for name in [*(f.name for f in faults), "(no fault)"]:
        for what, n in windows[name].most_common():
            error_rows.append({"during": name, "error": what, "count": n})
    print()
    print(
        f"sellerdesk load: {load_seconds:.0f} s at {args.rate:g} actions/s offered, "
        f"faults {'on' if faults else 'off'} (PostgreSQL {pg.bin.parent.name}, shared 2-core machine)"
    )
    print()
    print(table(actions))
    print()
    print("faults:")
    print(
        table(
            [
                {
                    "fault": f.name,
                    "at_s": f"{f.started:.0f}",
                    "lasted_s": f"{f.ended - f.started:.1f}",
                    "note": f.note or "-",
                }
                for f in faults
            ]
        )
    )
    print()
    print(
        "errors clients saw, each retried (during a fault: from its start to 15 s after its end):"
    )
    print(table(error_rows))
    print()
    print("reconciliation, messages (by unique token in the body):")
    print(table(result["messages"]))
    print()
    print("reconciliation, outbox (by Message-ID at the SMTP sink, Webhook-Id at the receiver):")
    print(table(result["outbox"]))
    print()
    print(
        f"inbound e-mail states: {result['inbound_email_states']}; after the drain: "
        f"{result['drain']}"
    )
    print(
        f"processes that exited by themselves (seconds in, code): {result['unexpected_exits'] or 'none'}"
    )
    if result["missing_samples"]:
        print(f"missing (samples): {result['missing_samples']}")
    print()
    backed = result["backup"]
    print(
        "reconciliation, a backup under load (at "
        f"{backed.get('at_s', '-')} s, done {backed.get('ended_s', '-')} s; the report of the "
        "backed-up state, computed in its snapshot, against the restored database's):"
    )
    print(
        table([{k: v for k, v in r.items() if k != "differences"} for r in backed.get("rows", [])])
    )
    if backed.get("note"):
        print(backed["note"])
    backup_problems = sum(1 for r in backed.get("rows", []) if not r["report_identical"])
    for row in backed.get("rows", []):
        if row["differences"]:
            print(f"REPORTS DIFFER after {row['backup']}: {row['differences']}")
    if args.backup and len(backed.get("rows", [])) != 2:
        backup_problems += 1
    lost = sum(r["missing"] + r["duplicated"] for r in result["messages"])
    lost += sum(r["lost"] + r["pending"] + r["failed"] for r in result["outbox"])
    lost += sum(len(v) for v in result["unexpected_exits"].values())
    lost += backup_problems
    verdict = (
        "nothing lost, nothing stored twice"
        + (", backups restored to identical reports" if args.backup else "")
        if lost == 0
        else f"{lost} problems (above)"
    )
    print(f"\nverdict: {verdict}")
    args.output.write_text(
        json.dumps(
            {
                "duration_s": round(load_seconds, 1),
                "rate_offered_per_s": args.rate,
                "mix": MIX,
                "faults": [f.__dict__ for f in faults],
                "actions": actions,
                "errors": error_rows,
                "reconciliation": result,
                "verdict": verdict,
                "attachments_on_tmpfs": can_fill,
            },
            indent=2,
        )
        + "\n"
    )
    print(
        f"wrote {args.output.relative_to(REPO) if args.output.is_relative_to(REPO) else args.output}"
    )
    if lost:
        sys.exit(1)


def pg_psql(pg: Postgres) -> list[str]:
    command = [
        str(pg.bin / "psql"),
        "-h",
        HOST,
        "-p",
        str(PG_PORT),
        "-U",
        "postgres",
        "-d",
        "postgres",
        "-v",
        "ON_ERROR_STOP=1",
    ]
    return command


def _flush_redis() -> None:
    import redis

    with contextlib.suppress(Exception):
        redis.Redis.from_url(f"redis://127.0.0.1:6379/{REDIS_DB}").flushdb()


if __name__ == "__main__":
    main()
