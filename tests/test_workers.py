"""``sellerdesk serve --workers N``: each worker listens on its own socket of the port
(``core/workers.py``), so that connections opened together spread over the workers instead of
landing in whichever woke first; the parent restarts a worker that dies, stops them all on
SIGTERM, and gives up with an error when a worker cannot start."""

from __future__ import annotations

import collections
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from sellerdesk.core import workers
from tests.conftest import REPO

pytestmark = pytest.mark.skipif(
    not workers.supported(), reason="the kernel balances SO_REUSEPORT sockets on Linux only"
)

SCRIPT = REPO / "sellerdesk" / "core" / "workers.py"
SELLERDESK = Path(sys.executable).parent / "sellerdesk"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start(app: str, port: int, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(SCRIPT), app, "--port", str(port), "--workers", "2", *extra],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _answer(sock: socket.socket) -> tuple[int, bool]:
    """One keep-alive GET on ``sock``: the serving process's id, and whether the server closes
    the connection after this answer."""
    sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    data = b""
    while b"\r\n\r\n" not in data or not data.split(b"\r\n\r\n", 1)[1]:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("the server closed the connection without an answer")
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 200")
    return int(body), b"\r\nconnection: close" in head.lower()


def _get(sock: socket.socket) -> int:
    """One keep-alive GET on ``sock``, which stays open: the serving process's id."""
    pid, closes = _answer(sock)
    assert not closes, "the server closes the connection"
    return pid


def _pid_of_a_new_connection(port: int, timeout: float = 30) -> int:
    """One GET on a connection of its own (which the balance may close after the answer: it is
    not used again)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                return _answer(sock)[0]
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _children(pid: int) -> set[int]:
    """The worker processes of the server ``pid`` (not multiprocessing's resource tracker)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                command = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            parent = int(stat[stat.rindex(")") + 2 :].split()[1])
            if parent == pid and b"spawn_main" in command:  # a zombie has no command line
                found.add(int(entry.name))
    return found


def _stop(server: subprocess.Popen[str]) -> str:
    if server.poll() is None:
        server.send_signal(signal.SIGTERM)
    try:
        output, _ = server.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        output, _ = server.communicate()
    return output


def _wait_for_workers(server: subprocess.Popen[str], count: int, timeout: float = 30) -> set[int]:
    deadline = time.monotonic() + timeout
    while len(children := _children(server.pid)) < count:
        assert time.monotonic() < deadline, f"{count} workers did not start"
        time.sleep(0.1)
    return children


def _both_listening(server: subprocess.Popen[str], port: int) -> set[int]:
    """The workers' ids, once both answer (a worker still starting would miss a burst)."""
    _pid_of_a_new_connection(port)
    worker_pids = _wait_for_workers(server, 2)
    deadline = time.monotonic() + 30
    while len({_pid_of_a_new_connection(port) for _ in range(20)}) < 2:
        assert time.monotonic() < deadline, "the second worker never answered"
    return worker_pids


def test_connections_opened_together_spread_over_the_workers():
    port = _free_port()
    # The kernel's spread alone: no connection closed to even the workers out.
    server = _start("tests.pid_app:app", port, "--no-balance")
    try:
        worker_pids = _both_listening(server, port)
        # 32 keep-alive connections opened at once, as a client's pool does: with one
        # shared socket they all went to the worker that woke first.
        sockets = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(32)]
        try:
            served = collections.Counter(_get(sock) for sock in sockets)
            # Each connection stays with its worker.
            assert collections.Counter(_get(sock) for sock in sockets) == served
        finally:
            for sock in sockets:
                sock.close()
        assert set(served) == worker_pids
        # A hash of the addresses picks the socket: 16 ± 3 each; below 5 is a chance of 1e-4.
        assert min(served.values()) >= 5, served
    finally:
        output = _stop(server)
    assert server.returncode == 0, output


def _websocket(port: int) -> tuple[socket.socket, int]:
    """A websocket opened to the server (a bare handshake): it and the serving process's id."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(
        b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        b"Sec-WebSocket-Version: 13\r\n\r\n"
    )
    data = b""
    while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < 2:
        chunk = sock.recv(4096)
        assert chunk, "the server closed the websocket"
        data += chunk
    head, frame = data.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 101"), head
    while len(frame) < 2 + (frame[1] & 0x7F):  # the first frame: the process's id, as text
        frame += sock.recv(4096)
    return sock, int(frame[2 : 2 + (frame[1] & 0x7F)])


def test_the_workers_even_their_connections_out():
    """A worker holding more than its share closes connections after their answer; the
    client's new connections land anywhere, and soon each worker holds 16 of 32. Websockets
    open on one of them are not counted (nor closed): the HTTP connections still end 16 / 16."""
    port = _free_port()
    server = _start("tests.pid_app:app", port)
    try:
        worker_pids = _both_listening(server, port)
        # 8 websockets on one worker (those landing on the other closed): counted, they
        # would leave that worker 12 of the 32 HTTP connections.
        websockets: list[tuple[socket.socket, int]] = []
        while len(websockets) < 8:
            websocket, pid = _websocket(port)
            if websockets and pid != websockets[0][1]:
                websocket.close()
            else:
                websockets.append((websocket, pid))
        sockets = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(32)]
        try:
            closed_by_round = []
            for _ in range(30):
                served: collections.Counter[int] = collections.Counter()
                closed = 0
                for index, sock in enumerate(sockets):
                    pid, closes = _answer(sock)
                    served[pid] += 1
                    if closes:  # as an HTTP client does: the next request on a new one
                        closed += 1
                        sock.close()
                        sockets[index] = socket.create_connection(("127.0.0.1", port), timeout=10)
                closed_by_round.append(closed)
                if not closed:
                    break
            # Even, and nothing more closed once it is.
            assert set(served) == worker_pids
            assert sorted(served.values()) == [16, 16], (served, closed_by_round)
            assert closed_by_round[-1] == 0
            for sock in sockets:
                assert _answer(sock)[1] is False
            # The websockets are still open.
            assert {pid for _, pid in websockets} < worker_pids
            for websocket, _ in websockets:
                websocket.setblocking(False)
                with pytest.raises(BlockingIOError):
                    websocket.recv(1)  # nothing to read: not closed
        finally:
            for sock in [*sockets, *(websocket for websocket, _ in websockets)]:
                sock.close()
    finally:
        output = _stop(server)
    assert server.returncode == 0, output


def _counted_protocol(balance: workers.Balance) -> type:
    class Protocol:
        """What the balance needs of uvicorn's HTTP protocols."""

        def __init__(self, client: tuple[str, int]) -> None:
            self.client = client
            self.transport = self

        def connection_made(self, transport: object) -> None:
            pass

        def connection_lost(self, exc: Exception | None) -> None:
            pass

        def handle_websocket_upgrade(self, upgraded: bool) -> None:
            self.upgraded_to = object() if upgraded else self

        def get_protocol(self) -> object:
            return getattr(self, "upgraded_to", self)

    return balance.protocol(Protocol)


def test_a_worker_counts_its_http_connections_and_not_its_websockets():
    counts = [0, 0]
    balance = workers.Balance(counts, 1, 2)
    protocol = _counted_protocol(balance)
    first, second, socket_ = (protocol(("10.0.0.1", port)) for port in (1, 2, 3))
    for connection in (first, second, socket_):
        connection.connection_made(None)
    assert counts == [0, 3]
    second.handle_websocket_upgrade(False)  # refused: still an HTTP connection
    socket_.handle_websocket_upgrade(True)  # a websocket now: not counted
    assert counts == [0, 2]
    socket_.connection_lost(None)  # never reaches this protocol; counted once anyway
    first.connection_lost(None)
    first.connection_lost(None)
    assert counts == [0, 1]


def _serve_once(balance: workers.Balance, scope_type: str = "http") -> list[tuple[bytes, bytes]]:
    import asyncio

    async def inner(scope: dict, receive: object, send: object) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"a", b"1")]})
        await send({"type": "http.response.body", "body": b""})

    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": scope_type, "client": ["10.0.0.1", 5]}
    asyncio.run(balance.app(inner)(scope, None, send))
    return list(sent[0]["headers"])


def test_an_answer_closes_its_connection_only_beyond_the_workers_share():
    counts = [10, 11]
    balance = workers.Balance(counts, 1, 2)
    assert balance.excess() == 0  # 21 connections: a share of 11
    assert _serve_once(balance) == [(b"a", b"1")]
    counts[:] = [9, 13]
    assert balance.excess() == 2
    assert _serve_once(balance) == [(b"a", b"1"), (b"connection", b"close")]
    assert balance.excess() == 1  # one already closing is not counted twice
    assert _serve_once(balance, "websocket") == [(b"a", b"1")]
    balance.lost(("10.0.0.1", 5))  # that connection closed
    assert counts == [9, 12]
    assert balance.closing == set()
    assert balance.closed == 1
    assert workers.Balance([3, 0], 0, 2).excess() == 1  # 3 over 2 workers: a share of 2


def test_sigterm_stops_the_workers_and_the_parent():
    port = _free_port()
    server = _start("tests.pid_app:app", port)
    _pid_of_a_new_connection(port)
    worker_pids = _wait_for_workers(server, 2)
    output = _stop(server)
    assert server.returncode == 0, output
    assert "Stopped parent process" in output
    assert not _children(server.pid) & worker_pids
    for pid in worker_pids:
        assert (
            not Path(f"/proc/{pid}/cmdline").exists()
            or not Path(f"/proc/{pid}/cmdline").read_bytes()
        )
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


def test_a_worker_that_dies_is_replaced_and_the_port_goes_on_answering():
    port = _free_port()
    server = _start("tests.pid_app:app", port, "--startup-grace", "0.5")
    try:
        _pid_of_a_new_connection(port)
        first = _wait_for_workers(server, 2)
        time.sleep(0.6)  # past the startup grace: a death now is a crash, not a failed start
        victim = min(first)
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while True:
            now = _children(server.pid)
            if victim not in now and len(now) == 2:
                break
            assert time.monotonic() < deadline, f"no worker replaced {victim}: {now}"
            time.sleep(0.1)
        replacement = (now - first).pop()
        seen: set[int] = set()
        while replacement not in seen:
            assert time.monotonic() < deadline, f"the replacement {replacement} never answered"
            seen.add(_pid_of_a_new_connection(port))
        assert server.poll() is None
    finally:
        output = _stop(server)
    assert f"Worker process [{victim}] died" in output
    assert server.returncode == 0, output


def test_workers_end_when_the_parent_is_killed():
    port = _free_port()
    server = _start("tests.pid_app:app", port)
    worker_pids: set[int] = set()
    try:
        _pid_of_a_new_connection(port)
        worker_pids = _wait_for_workers(server, 2)
        server.kill()  # kill -9: no shutdown of its own
        server.wait(timeout=10)
        deadline = time.monotonic() + 30
        while any(_alive(pid) for pid in worker_pids):
            assert time.monotonic() < deadline, "an orphaned worker went on serving"
            time.sleep(0.1)
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
    finally:
        for pid in worker_pids:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for its reaper does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def test_an_application_that_does_not_load_stops_the_server_with_an_error():
    port = _free_port()
    server = _start("tests.no_such_module:app", port)
    output, _ = server.communicate(timeout=60)
    assert server.returncode == 1, output
    assert "stopping the server" in output


def test_a_port_in_use_is_refused_at_once():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = _start("tests.pid_app:app", port)
        output, _ = server.communicate(timeout=30)
    assert server.returncode == workers.STARTUP_FAILURE, output
    assert "Address already in use" in output
    assert "Started worker" not in output


@pytest.mark.skipif(
    os.environ.get("DATABASE_URL", "").startswith("postgres"),
    reason="serves the embedded SQLite database of a fresh var/ directory",
)
def test_sellerdesk_serve_with_two_workers(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "SELLERDESK_ENV"}} | {
        "SELLERDESK_VAR_DIR": str(tmp_path)
    }
    migrate = subprocess.run(
        [str(SELLERDESK), "migrate", "-v", "0"], env=env, cwd=REPO, capture_output=True,
        text=True, timeout=120, check=False,
    )  # fmt: skip
    assert migrate.returncode == 0, migrate.stderr
    port = _free_port()
    server = subprocess.Popen(
        [str(SELLERDESK), "serve", "--port", str(port), "--workers", "2"],
        env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        # The management command is the parent; its two workers serve.
        deadline = time.monotonic() + 60
        while len(_children(server.pid)) < 2:
            assert time.monotonic() < deadline, "two workers did not start"
            time.sleep(0.2)
        answered = 0
        while answered < 20:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
                    body = json.loads(r.read())
            except OSError:
                assert time.monotonic() < deadline, "the server never answered"
                time.sleep(0.2)
                continue
            assert body == {"status": "ok", "database": "sqlite"}
            answered += 1
    finally:
        output = _stop(server)
    assert server.returncode == 0, output
    assert output.count("Started worker process") == 2


def test_sighup_replaces_the_workers_one_by_one_while_the_port_answers():
    """A rolling restart: new workers (new processes, the code loaded afresh), the old ones
    stopped once their replacements serve, and every request answered meanwhile."""
    import threading

    port = _free_port()
    server = _start("tests.pid_app:app", port)
    try:
        old = _both_listening(server, port)
        answered: list[int] = []
        resets = [0]
        done = threading.Event()

        def client() -> None:
            # A new connection a request, as a load balancer's health check or a CLI does.
            while not done.is_set():
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                        answered.append(_answer(sock)[0])  # one request a connection
                except ConnectionError:
                    # Refused, or accepted by a worker as it stopped and closed unanswered.
                    resets[0] += 1
                time.sleep(0.01)

        thread = threading.Thread(target=client)
        thread.start()
        try:
            time.sleep(0.3)
            server.send_signal(signal.SIGHUP)
            deadline = time.monotonic() + 60
            while True:
                children = _children(server.pid)
                if len(children) == 2 and not children & old:
                    break
                assert time.monotonic() < deadline, f"not replaced: {children} (old {old})"
                time.sleep(0.1)
            new = children
            # Both new workers answer; the old ones are gone.
            seen: set[int] = set()
            while seen != new:
                assert time.monotonic() < deadline, f"{seen} answered, not {new}"
                seen.add(_pid_of_a_new_connection(port))
        finally:
            done.set()
            thread.join()
        assert server.poll() is None  # the parent serves on
        assert set(answered) <= old | new
        assert len(answered) > 20
        assert resets[0] <= 1, resets  # 0 in 8 runs here
    finally:
        output = _stop(server)
    assert server.returncode == 0, output
    assert "replaced by" in output


def test_a_rolling_restart_onto_a_broken_deploy_keeps_the_old_workers(tmp_path, monkeypatch):
    marker = tmp_path / "broken"
    monkeypatch.setenv("SELLERDESK_TEST_BROKEN_DEPLOY", str(marker))
    port = _free_port()
    server = _start("tests.broken_deploy_app:app", port)
    try:
        old = _both_listening(server, port)
        marker.touch()  # the next workers will not import
        server.send_signal(signal.SIGHUP)
        time.sleep(3)  # the new worker fails within its first second
        assert server.poll() is None
        assert _children(server.pid) == old
        assert {_pid_of_a_new_connection(port) for _ in range(20)} == old
        marker.unlink()  # fixed: the next SIGHUP replaces them
        server.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 60
        while _children(server.pid) & old or len(_children(server.pid)) != 2:
            assert time.monotonic() < deadline, "not replaced after the fix"
            time.sleep(0.1)
    finally:
        output = _stop(server)
    assert server.returncode == 0, output
    assert "did not come up" in output


class _Process:
    """A stand-in for a worker process: alive until ``alive_checks`` runs out. Its ``pid`` is
    signalled only if it is alive when the restart asks: then a real, harmless one."""

    exitcode = -9

    def __init__(self, alive_checks: int = 0, pid: int = 0) -> None:
        self.alive_checks = alive_checks
        self.pid = pid

    def is_alive(self) -> bool:
        self.alive_checks -= 1
        return self.alive_checks >= 0

    def join(self, timeout: float | None = None) -> None:
        pass

    def kill(self) -> None:
        self.alive_checks = 0


class _Ready:
    """A stand-in for a worker's readiness event: set after ``waits`` waits."""

    def __init__(self, waits: int = 0) -> None:
        self.waits = waits

    def wait(self, timeout: float | None = None) -> bool:
        self.waits -= 1
        return self.waits < 0

    def is_set(self) -> bool:
        return self.waits < 0


def test_a_second_sighup_waits_for_the_worker_still_draining_in_its_slot(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A SIGHUP soon after another: the replacement's slot is the one the worker replaced the
    first time still counts in; the new worker starts only once that one has stopped, so two
    processes never count in one slot."""
    supervisor = workers.Supervisor({"host": "127.0.0.1", "port": 0}, workers=1)
    assert supervisor.counts is not None
    current, draining = _Process(), _Process(alive_checks=5)
    supervisor.processes, supervisor.started = [current], [0.0]
    supervisor.slots, supervisor.ready = [1], [_Ready()]
    supervisor.draining = [(draining, 0, time.monotonic() + 60)]
    supervisor.counts[0] = 3  # the draining worker's connections
    started: list[tuple[int, bool, int]] = []

    def start(slot: int) -> tuple[_Process, float, _Ready]:
        held = any(s == slot for _, s, _ in supervisor.draining)
        started.append((slot, held, supervisor.counts[slot]))
        return _Process(alive_checks=100), time.monotonic(), _Ready()

    monkeypatch.setattr(supervisor, "_start", start)
    supervisor._rolling_restart()
    assert started == [(0, False, 0)]  # after the draining one stopped and its count went
    assert supervisor.slots == [0]
    assert [slot for _, slot, _ in supervisor.draining] == [1]  # the one just replaced


def test_a_worker_that_dies_during_a_rolling_restart_is_started_again_meanwhile(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """While the restart waits for a new worker to come up (or for one to finish draining),
    another worker that dies is started again then, not only once the restart is over."""
    supervisor = workers.Supervisor({"host": "127.0.0.1", "port": 0}, workers=2)
    sleeper = subprocess.Popen(["sleep", "60"])  # the pid the restart may signal
    try:
        served = _Ready()
        served.wait()
        supervisor.processes = [_Process(alive_checks=0), _Process(alive_checks=0)]
        supervisor.started, supervisor.slots = [0.0, 0.0], [0, 1]
        supervisor.ready = [served, served]  # both served, then died
        started: list[int] = []

        def start(slot: int) -> tuple[_Process, float, _Ready]:
            started.append(slot)
            # Worker 0's replacement (slot 2) takes three waits to come up.
            return _Process(10**6, sleeper.pid), time.monotonic(), _Ready(3 if slot == 2 else 0)

        monkeypatch.setattr(supervisor, "_start", start)
        supervisor._rolling_restart()
    finally:
        sleeper.kill()
        sleeper.wait()
    # Worker 1 was started again while worker 0's replacement came up, then replaced in turn.
    assert started == [2, 1, 3]
    assert supervisor.slots == [2, 3]
