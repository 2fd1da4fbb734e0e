"""`sellerdesk worker` in real child processes: it runs the periodic jobs and the queue, and a
worker killed with SIGKILL mid-batch loses nothing; what it may repeat carries the same
Message-ID, so every message is received exactly once by a receiver that drops repeats."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.conftest import REPO

SELLERDESK = Path(sys.executable).parent / "sellerdesk"
POSTGRES = os.environ.get("DATABASE_URL", "").startswith("postgres")


@pytest.fixture
def database(tmp_path):
    """A database of its own that child processes share: SQLite in a folder, or a fresh
    PostgreSQL database beside the test database."""
    env = {**os.environ, "SELLERDESK_VAR_DIR": str(tmp_path / "var")}
    env.pop("SELLERDESK_ENV", None)
    env.pop("SECRET_KEY", None)
    created = None
    if POSTGRES:
        import psycopg

        parts = urlsplit(os.environ["DATABASE_URL"])
        name = f"{parts.path.lstrip('/')}_worker_{os.getpid()}"
        admin = urlunsplit(parts._replace(path="/postgres"))
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        created = (admin, name)
        env["DATABASE_URL"] = urlunsplit(parts._replace(path=f"/{name}"))
    sink = tmp_path / "sink"
    sink.mkdir()
    env.update(
        EMAIL_BACKEND="tests.mailsink.EmailBackend",
        SELLERDESK_MAILSINK=str(sink),
        SELLERDESK_OUTBOX_LEASE_SECONDS="3",
        PYTHONPATH=str(REPO),
    )
    subprocess.run([str(SELLERDESK), "migrate", "-v0"], env=env, check=True, cwd=REPO)
    yield env, sink
    if created:
        import psycopg

        with psycopg.connect(created[0], autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{created[1]}" WITH (FORCE)')


def shell(env, code):
    result = subprocess.run(
        [str(SELLERDESK), "shell", "--no-imports", "-c", code],
        env=env, cwd=REPO, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""


SEED = """
from django.db import transaction
from sellerdesk.outbox.services import email_enqueue
with transaction.atomic():
    for n in range({n}):
        email_enqueue(key=f"load:{{n}}", to=["m@x.test"], subject=f"message {{n}}", body="b")
"""

COUNT_DELIVERED = """
from sellerdesk.outbox.models import OutboxItem
print(OutboxItem.objects.filter(status="delivered").count())
"""


def received(sink):
    ids = [p.read_text().split("\n")[0] for p in sink.glob("*.txt")]
    return len(ids), len(set(ids))


def test_worker_once_runs_the_periodic_jobs_and_empties_the_queue(database):
    env, sink = database
    shell(env, SEED.format(n=5))
    result = subprocess.run(
        [str(SELLERDESK), "worker", "--once"],
        env=env, cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "outbox.deliver" in result.stdout
    assert "sla.sweep" in result.stdout
    assert received(sink) == (5, 5)
    assert shell(env, COUNT_DELIVERED) == "5"


def test_a_worker_killed_mid_batch_loses_nothing_and_repeats_nothing_new(database):
    env, sink = database
    total = 400
    shell(env, SEED.format(n=total))

    def start():
        return subprocess.Popen(
            [str(SELLERDESK), "worker", "--interval", "0.2"],
            env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip

    workers = [start(), start()]
    deadline = time.monotonic() + 120
    while received(sink)[0] < total // 4:
        assert time.monotonic() < deadline, "the workers delivered nothing"
        time.sleep(0.05)
    for worker in workers:  # no goodbye: SIGKILL mid-delivery
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    at_kill = received(sink)[0]
    assert at_kill < total, "the kill came too late to prove anything"
    workers = [start(), start()]
    try:
        while int(shell(env, COUNT_DELIVERED)) < total:
            assert time.monotonic() < deadline, "the restarted workers did not finish"
            time.sleep(0.5)
    finally:
        for worker in workers:
            worker.terminate()
            worker.wait(timeout=30)
    sent, distinct = received(sink)
    # Nothing lost: every message arrived. Nothing new repeated: a message sent again (at most
    # the one each killed worker was sending) carries its original Message-ID.
    assert distinct == total
    assert sent - distinct <= 2
