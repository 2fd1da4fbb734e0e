"""CPU time spent by PostgreSQL on one database's behalf, read from /proc (Linux, the server
on this machine).

On a machine shared with other work, wall time says little; the CPU time a computation
costs the server (its backends and their parallel workers) and the client says much more.
``ServerCpu`` polls the postmaster's children every few milliseconds in a thread and keeps,
for every backend connected to the database and every parallel worker serving one of them,
the last CPU time seen (utime + stime). Connections the report opens and closes while it
runs are counted up to the last poll before they ended (a few milliseconds each at most).

    with ServerCpu(url) as cpu:
        compute_report(params)
    cpu.seconds  # the server's CPU time over the block
    cpu.own_seconds  # the polling thread's, part of this process's process_time()
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds) of a process, None once it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / TICK


def _title(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            found += [int(c) for c in (task / "children").read_text().split()]
    except OSError:
        pass
    return found


def postmaster_of(url: str) -> int:
    """The postmaster's pid: the parent of a backend of ours."""
    import psycopg

    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT pg_backend_pid()").fetchone()
        assert row is not None
        # Read while the backend lives: it exits as the connection closes.
        stat = _stat(int(row[0]))
    if stat is None:
        raise RuntimeError("the PostgreSQL server does not run on this machine")
    return stat[0]


class ServerCpu:
    """The CPU seconds of the database's backends and their parallel workers over a block."""

    def __init__(self, url: str, *, interval: float = 0.004) -> None:
        self.database = url.rsplit("/", 1)[-1].split("?")[0]
        self.postmaster = postmaster_of(url)
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._titles: dict[int, str] = {}
        self._start: dict[int, float] = {}
        self._last: dict[int, float] = {}
        self.seconds = 0.0
        #: The polling thread's own CPU time (in this process's: subtract it from the
        #: client's ``time.process_time``).
        self.own_seconds = 0.0

    def _poll(self, first: bool = False) -> None:
        children = _children(self.postmaster)
        for pid in children:
            title = self._titles.get(pid)
            if title is None or (" for PID " not in title and self.database not in title):
                # New, or a process whose title was not complete yet.
                self._titles[pid] = _title(pid)
        backends = {pid for pid in children if f" {self.database} " in self._titles[pid]}
        ours = set(backends)
        for pid in children:
            title = self._titles[pid]
            if "parallel worker for PID " in title:
                leader = int(title.rsplit("PID ", 1)[1].split()[0])
                if leader in backends:
                    ours.add(pid)
        for pid in ours:
            stat = _stat(pid)
            if stat is None:
                continue
            if first:
                self._start[pid] = stat[1]
            else:
                self._start.setdefault(pid, 0.0)
            self._last[pid] = stat[1]

    def _run(self) -> None:
        started = time.thread_time()
        while not self._stop.is_set():
            self._poll()
            time.sleep(self.interval)
        self.own_seconds = time.thread_time() - started

    def __enter__(self) -> ServerCpu:
        self._titles, self._start, self._last = {}, {}, {}
        self._stop.clear()
        self._poll(first=True)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join()
        self._poll()
        self.seconds = sum(self._last[pid] - self._start[pid] for pid in self._last)
