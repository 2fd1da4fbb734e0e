"""Several uvicorn workers on one port, each listening on its own socket (``SO_REUSEPORT``), so
that the kernel spreads the connections over them.

uvicorn's own ``--workers`` has every worker listen on one shared socket, and asyncio's loop
accepts every connection waiting at each wake-up. Connections opened together (a marketplace's
integration with a pool of keep-alive connections, a proxy's upstream pool) then land in
whichever worker woke first: ``bench/api.py`` saw its 32 connections split 32 / 0 and 9 / 23
between two workers, one worker saturating its core while the other idled. With a socket per
worker in one ``SO_REUSEPORT`` group, Linux picks the socket for each new connection by a hash
of its addresses, as nginx's ``reuseport`` does.

The parent process binds the port first (so that a port in use fails at once), keeps that
socket bound and not listening while it runs (another program cannot take the port between two
workers' lives), starts the workers, starts again one that dies, and on SIGINT or SIGTERM asks
each to finish its requests (uvicorn's graceful shutdown) before it exits; a worker whose
parent dies (``kill -9``) is asked the same by the kernel. On SIGHUP it replaces the workers
one by one (a rolling restart, to deploy new code or settings): a new worker joins the port's
group, and once it serves the old one finishes its requests and stops, so the port never stops
answering. A worker that fails before it serves
(the application does not import, say) stops the whole server with an error rather than being
restarted for ever; one that dies after it served is started again.

The hash spreads connections at random, not evenly: 32 connections opened together split
12 / 20, 11 / 21 or 22 / 10 between two workers in ``bench/api.py``, and the requests on the
busier worker wait longer (with one core each, a worker serving 21 connections answers them
about twice as late as one serving 11). So the workers also **balance their connections**: each
counts its open HTTP connections in an array shared with the others (``Balance``), and a worker
holding more than its share (the total divided by the workers, rounded up) answers its next
requests with ``Connection: close`` until it holds no more. The client opens a new connection
for its next request (HTTP/1.1 lets a server close a keep-alive connection after any answer),
which the kernel gives to any worker, so the counts even out in a few round trips and then no
connection is closed. Only a request's connection is ever closed, after its answer; an idle
keep-alive connection or a websocket is never touched (websockets are not counted).

Only the standard library and uvicorn are imported here: ``bench/api.py`` runs this file with
the benchmark's peers' own interpreters, so that all of them are served alike::

    python sellerdesk/core/workers.py APP --host H --port P --workers N [--option NAME=VALUE…]
"""

from __future__ import annotations

import argparse
import ctypes
import logging
import multiprocessing
import os
import signal
import socket
import sys
import time
from typing import Any

logger = logging.getLogger("uvicorn.error")

#: A worker that exits sooner than this after its start failed to start: not restarted.
STARTUP_GRACE_SECONDS = 10.0
#: uvicorn's exit code for a worker that could not start (``uvicorn.config.STARTUP_FAILURE``).
STARTUP_FAILURE = 3
#: How long the workers are given to finish their requests after SIGTERM, unless uvicorn's
#: ``timeout_graceful_shutdown`` says otherwise.
SHUTDOWN_SECONDS = 30.0


def supported() -> bool:
    """Whether the kernel balances connections over ``SO_REUSEPORT`` sockets (Linux does;
    elsewhere the option means something else, and uvicorn's shared socket is used)."""
    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def listening_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` in the port's ``SO_REUSEPORT`` group (not yet
    listening: uvicorn's loop calls ``listen`` with its backlog)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


#: prctl(2)'s option: the signal a process gets when its parent dies.
PR_SET_PDEATHSIG = 1


def _end_with_parent(parent: int) -> None:
    """Linux: SIGTERM to this worker (uvicorn's graceful shutdown) when the parent process dies,
    ``kill -9`` included, so that no orphan goes on serving in the port's group beside a
    server started again."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):  # pragma: no cover - not Linux's C library
        return
    if os.getppid() != parent:  # died before the request was made
        os.kill(os.getpid(), signal.SIGTERM)


class Balance:
    """One worker's part in keeping the workers' HTTP connections even: its slot of ``counts``
    (an array shared by the workers, a slot each) holds its open connections, and a request
    that finds it holding more than its share has its connection closed after the answer.

    A slot is only ever written by its worker, from its event loop; the others are read."""

    def __init__(self, counts: Any, index: int, workers: int) -> None:
        self.counts = counts
        self.index = index
        #: The workers sharing the connections (``counts`` has a slot more for each worker
        #: being replaced in a rolling restart; an idle slot holds 0).
        self.workers = workers
        #: The clients (address, port) of the connections marked to close, not yet closed.
        self.closing: set[Any] = set()
        #: Connections closed to even the counts out, since the worker started.
        self.closed = 0

    def excess(self) -> int:
        """The connections this worker holds beyond its share (the total divided by the
        workers, rounded up), not counting those already marked to close."""
        counts = self.counts[:]
        pending = len(self.closing)
        mine = counts[self.index] - pending
        total = sum(counts) - pending
        share = -(-total // self.workers)
        return mine - share

    def opened(self) -> None:
        self.counts[self.index] += 1

    def lost(self, client: Any) -> None:
        self.counts[self.index] -= 1
        if client in self.closing:
            self.closing.discard(client)
            self.closed += 1

    def protocol(self, base: type[Any]) -> type[Any]:
        """uvicorn's HTTP protocol class ``base``, counting its connections in the slot."""
        balance = self

        class Counted(base):
            counted = False

            def connection_made(self, transport: Any) -> None:
                super().connection_made(transport)
                self.counted = True
                balance.opened()

            def connection_lost(self, exc: Exception | None) -> None:
                if self.counted:
                    self.counted = False
                    balance.lost(self.client)
                super().connection_lost(exc)

            def handle_websocket_upgrade(self, *args: Any) -> None:
                super().handle_websocket_upgrade(*args)
                # Upgraded: the websocket's own protocol has the connection from now on (and
                # its end); a websocket is not closed to balance, so it is not counted.
                if self.counted and self.transport.get_protocol() is not self:
                    self.counted = False
                    balance.lost(None)

        Counted.__name__ = Counted.__qualname__ = f"Counted{base.__name__}"
        return Counted

    def app(self, inner: Any) -> Any:
        """The ASGI application ``inner``, whose answers close their connection while this
        worker holds more than its share."""
        balance = self

        async def balanced(scope: dict[str, Any], receive: Any, send: Any) -> None:
            client = scope.get("client")
            if scope["type"] != "http" or client is None or balance.excess() <= 0:
                return await inner(scope, receive, send)
            client = tuple(client)
            balance.closing.add(client)

            async def send_closing(message: dict[str, Any]) -> None:
                if message["type"] == "http.response.start":
                    headers = [*message.get("headers", ()), (b"connection", b"close")]
                    message = {**message, "headers": headers}
                await send(message)

            try:
                await inner(scope, receive, send_closing)
            except BaseException:
                balance.closing.discard(client)
                raise

        return balanced


def _worker(
    options: dict[str, Any],
    parent: int,
    counts: Any = None,
    slot: int = 0,
    workers: int = 1,
    ready: Any = None,
) -> None:
    """One worker process: its own socket in the port's group, and uvicorn serving on it
    (with ``counts``, its connections balanced with the other workers' from its ``slot``:
    ``Balance``); ``ready`` (an event) is set once it serves."""
    import uvicorn

    _end_with_parent(parent)
    config = uvicorn.Config(**options)
    if counts is not None:
        config.load()
        balance = Balance(counts, slot, workers)
        config.http_protocol_class = balance.protocol(config.http_protocol_class)
        config.loaded_app = balance.app(config.loaded_app)
    sock = listening_socket(config.host, config.port)

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            if ready is not None and self.started:
                ready.set()

    Server(config).run(sockets=[sock])


class Supervisor:
    """The parent process: starts ``workers`` processes of ``_worker`` and keeps them alive."""

    def __init__(
        self,
        options: dict[str, Any],
        workers: int,
        startup_grace: float = STARTUP_GRACE_SECONDS,
        balance: bool = True,
    ) -> None:
        self.options = dict(options)
        self.workers = workers
        self.startup_grace = startup_grace
        self.context = multiprocessing.get_context("spawn")
        # Each worker's open HTTP connections (Balance), in memory shared with them: two slots
        # a worker, so that its replacement in a rolling restart counts apart from it.
        self.counts = (
            self.context.Array(ctypes.c_long, 2 * workers, lock=False) if balance else None
        )
        self.processes: list[Any] = []
        self.started: list[float] = []
        self.slots: list[int] = []
        # Each worker's readiness event, kept while it lives (its child unpickles it at start).
        self.ready: list[Any] = []
        #: Workers replaced by a rolling restart, finishing their requests: (process, slot,
        #: the time they are killed if still running).
        self.draining: list[tuple[Any, int, float]] = []
        self.stopping = False
        self.restarting = False
        self.failed = False

    def _start(self, slot: int) -> tuple[Any, float, Any]:
        if self.counts is not None:
            self.counts[slot] = 0  # a dead worker's connections died with it
        ready = self.context.Event()
        process = self.context.Process(
            target=_worker,
            args=(self.options, os.getpid(), self.counts, slot, self.workers, ready),
            daemon=False,
        )
        process.start()
        logger.info("Started worker process [%s]", process.pid)
        return process, time.monotonic(), ready

    def _stop(self, signum: int, frame: Any) -> None:
        logger.info("Received %s, stopping the workers.", signal.Signals(signum).name)
        self.stopping = True

    def _restart(self, signum: int, frame: Any) -> None:
        logger.info("Received SIGHUP, replacing the workers one by one.")
        self.restarting = True

    def _grace(self) -> float:
        return float(self.options.get("timeout_graceful_shutdown") or SHUTDOWN_SECONDS)

    def run(self) -> int:
        """Serve until SIGINT or SIGTERM; the exit status (1 when a worker failed to start,
        ``STARTUP_FAILURE`` when the port could not be bound)."""
        host, port = self.options.get("host", "127.0.0.1"), int(self.options.get("port", 8000))
        try:
            held = listening_socket(host, port)
        except OSError as error:
            logger.error("%s", error)
            return STARTUP_FAILURE
        # Port 0: the port the system chose, for every worker.
        self.options["port"] = held.getsockname()[1]
        previous = {sig: signal.signal(sig, self._stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        previous[signal.SIGHUP] = signal.signal(signal.SIGHUP, self._restart)
        try:
            logger.info(
                "Started parent process [%s]: %s workers on http://%s:%s, a socket each",
                os.getpid(), self.workers, host, self.options["port"],
            )  # fmt: skip
            for index in range(self.workers):
                process, at, ready = self._start(index)
                self.processes.append(process)
                self.started.append(at)
                self.slots.append(index)
                self.ready.append(ready)
            while not self.stopping:
                time.sleep(0.25)
                self._keep_alive()
                self._reap()
                if self.restarting and not self.stopping:
                    self.restarting = False
                    self._rolling_restart()
            self._shutdown()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            held.close()
        return 1 if self.failed else 0

    def _keep_alive(self, replacing: int | None = None) -> None:
        """Start again the workers that died (all but the one a rolling restart is replacing:
        its replacement is on its way)."""
        for index, process in enumerate(self.processes):
            if index == replacing or self.stopping or process.is_alive():
                continue
            process.join()
            lived = time.monotonic() - self.started[index]
            # One that served (a rolling restart's new worker, say) is started again whenever
            # it dies; one that never did, soon after its start, would fail the same way again.
            served = self.ready[index].is_set()
            if process.exitcode == STARTUP_FAILURE or (not served and lived < self.startup_grace):
                logger.error(
                    "Worker process [%s] exited with status %s %.1f s after its start: "
                    "stopping the server.", process.pid, process.exitcode, lived,
                )  # fmt: skip
                self.failed = True
                self.stopping = True
                return
            logger.warning(
                "Worker process [%s] died (status %s); starting another.",
                process.pid, process.exitcode,
            )  # fmt: skip
            process, self.started[index], self.ready[index] = self._start(self.slots[index])
            self.processes[index] = process

    def _rolling_restart(self) -> None:
        """Each worker in turn: a new one started (loading the code and settings afresh) and,
        once it serves, the old one asked to finish its requests and stop. A new worker that
        does not come up leaves the old ones serving."""
        for index in range(self.workers):
            if self.stopping:
                return
            old, old_slot = self.processes[index], self.slots[index]
            slot = old_slot + self.workers if old_slot < self.workers else old_slot - self.workers
            self._wait_drained(slot, replacing=index)
            if self.stopping:
                return
            new, at, ready = self._start(slot)
            deadline = time.monotonic() + max(60.0, 3 * self.startup_grace)
            while not ready.wait(0.1):
                self._keep_alive(replacing=index)
                if not new.is_alive() or self.stopping or time.monotonic() > deadline:
                    if not self.stopping:  # else the server stops: a new worker is not needed
                        logger.error(
                            "Worker process [%s] did not come up (status %s): the rolling "
                            "restart stops, the other workers go on serving.", new.pid,
                            new.exitcode,
                        )  # fmt: skip
                    if new.is_alive():
                        new.kill()
                    new.join()
                    return
            self.processes[index], self.started[index], self.slots[index] = new, at, slot
            self.ready[index] = ready
            if old.is_alive():
                os.kill(old.pid, signal.SIGTERM)
            self.draining.append((old, old_slot, time.monotonic() + self._grace() + 5))
            logger.info("Worker process [%s] replaced by [%s]", old.pid, new.pid)

    def _wait_drained(self, slot: int, replacing: int) -> None:
        """Wait for a worker replaced by an earlier rolling restart that still finishes its
        requests from ``slot`` (killed at its deadline): two processes never count their
        connections in one slot. The other workers are kept alive meanwhile."""
        while not self.stopping and any(held == slot for _, held, _ in self.draining):
            time.sleep(0.1)
            self._reap()
            self._keep_alive(replacing=replacing)

    def _reap(self) -> None:
        """Forget the replaced workers that have stopped; kill those past their time."""
        for entry in list(self.draining):
            process, slot, deadline = entry
            if process.is_alive() and time.monotonic() > deadline:
                logger.warning("Worker process [%s] did not stop in time: killed.", process.pid)
                process.kill()
            if not process.is_alive():
                process.join()
                if self.counts is not None and slot not in self.slots:
                    self.counts[slot] = 0
                self.draining.remove(entry)

    def _shutdown(self) -> None:
        processes = [*self.processes, *(process for process, _, _ in self.draining)]
        for process in processes:
            if process.is_alive():
                os.kill(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + self._grace() + 5
        for process in processes:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                logger.warning("Worker process [%s] did not stop in time: killed.", process.pid)
                process.kill()
                process.join()
        logger.info("Stopped parent process [%s]", os.getpid())


def serve(
    options: dict[str, Any],
    workers: int,
    startup_grace: float = STARTUP_GRACE_SECONDS,
    balance: bool = True,
) -> int:
    """Serve ``options`` (``uvicorn.Config``'s keyword arguments) with ``workers`` processes:
    a socket each where the kernel balances them (and, with ``balance``, their connections
    kept even: ``Balance``), else uvicorn's own shared socket."""
    import uvicorn

    if workers > 1 and supported():
        # A Config sets up uvicorn's logging, as uvicorn.run does: the parent logs alike.
        uvicorn.Config(**options)
        return Supervisor(options, workers, startup_grace, balance).run()
    uvicorn.run(**options, workers=workers)
    return 0


def _option(text: str) -> tuple[str, Any]:
    name, _, value = text.partition("=")
    for kind in (int, float):
        try:
            return name.replace("-", "_"), kind(value)
        except ValueError:
            pass
    return name.replace("-", "_"), value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("app", help="the ASGI application, module:attribute")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--startup-grace",
        type=float,
        default=STARTUP_GRACE_SECONDS,
        help="a worker exiting sooner after its start stops the server instead of restarting",
    )
    parser.add_argument(
        "--no-balance",
        dest="balance",
        action="store_false",
        help="leave the connections where the kernel put them (never close one to even the "
        "workers' counts out)",
    )
    parser.add_argument(
        "--option",
        action="append",
        type=_option,
        default=[],
        metavar="NAME=VALUE",
        help="another of uvicorn.Config's keyword arguments (log_level=info, lifespan=off…)",
    )
    args = parser.parse_args(argv)
    options = {"app": args.app, "host": args.host, "port": args.port, **dict(args.option)}
    return serve(options, args.workers, args.startup_grace, args.balance)


if __name__ == "__main__":
    sys.exit(main())
