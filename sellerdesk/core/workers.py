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
parent dies (``kill -9``) is asked the same by the kernel. A worker that fails before it serves
(the application does not import, say) stops the whole server with an error rather than being
restarted for ever.

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


def _worker(options: dict[str, Any], parent: int) -> None:
    """One worker process: its own socket in the port's group, and uvicorn serving on it."""
    import uvicorn

    _end_with_parent(parent)
    config = uvicorn.Config(**options)
    sock = listening_socket(config.host, config.port)
    uvicorn.Server(config).run(sockets=[sock])


class Supervisor:
    """The parent process: starts ``workers`` processes of ``_worker`` and keeps them alive."""

    def __init__(
        self,
        options: dict[str, Any],
        workers: int,
        startup_grace: float = STARTUP_GRACE_SECONDS,
    ) -> None:
        self.options = dict(options)
        self.workers = workers
        self.startup_grace = startup_grace
        self.context = multiprocessing.get_context("spawn")
        self.processes: list[Any] = []
        self.started: list[float] = []
        self.stopping = False
        self.failed = False

    def _start(self) -> tuple[Any, float]:
        process = self.context.Process(
            target=_worker, args=(self.options, os.getpid()), daemon=False
        )
        process.start()
        logger.info("Started worker process [%s]", process.pid)
        return process, time.monotonic()

    def _stop(self, signum: int, frame: Any) -> None:
        logger.info("Received %s, stopping the workers.", signal.Signals(signum).name)
        self.stopping = True

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
        try:
            logger.info(
                "Started parent process [%s]: %s workers on http://%s:%s, a socket each",
                os.getpid(), self.workers, host, self.options["port"],
            )  # fmt: skip
            for _ in range(self.workers):
                process, at = self._start()
                self.processes.append(process)
                self.started.append(at)
            while not self.stopping:
                time.sleep(0.25)
                self._keep_alive()
            self._shutdown()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            held.close()
        return 1 if self.failed else 0

    def _keep_alive(self) -> None:
        for index, process in enumerate(self.processes):
            if process.is_alive() or self.stopping:
                continue
            process.join()
            lived = time.monotonic() - self.started[index]
            if process.exitcode == STARTUP_FAILURE or lived < self.startup_grace:
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
            self.processes[index], self.started[index] = self._start()

    def _shutdown(self) -> None:
        for process in self.processes:
            if process.is_alive():
                os.kill(process.pid, signal.SIGTERM)
        grace = self.options.get("timeout_graceful_shutdown") or SHUTDOWN_SECONDS
        deadline = time.monotonic() + grace + 5
        for process in self.processes:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                logger.warning("Worker process [%s] did not stop in time: killed.", process.pid)
                process.kill()
                process.join()
        logger.info("Stopped parent process [%s]", os.getpid())


def serve(
    options: dict[str, Any], workers: int, startup_grace: float = STARTUP_GRACE_SECONDS
) -> int:
    """Serve ``options`` (``uvicorn.Config``'s keyword arguments) with ``workers`` processes:
    a socket each where the kernel balances them, else uvicorn's own shared socket."""
    import uvicorn

    if workers > 1 and supported():
        # A Config sets up uvicorn's logging, as uvicorn.run does: the parent logs alike.
        uvicorn.Config(**options)
        return Supervisor(options, workers, startup_grace).run()
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
        "--option",
        action="append",
        type=_option,
        default=[],
        metavar="NAME=VALUE",
        help="another of uvicorn.Config's keyword arguments (log_level=info, lifespan=off…)",
    )
    args = parser.parse_args(argv)
    options = {"app": args.app, "host": args.host, "port": args.port, **dict(args.option)}
    return serve(options, args.workers, args.startup_grace)


if __name__ == "__main__":
    sys.exit(main())
