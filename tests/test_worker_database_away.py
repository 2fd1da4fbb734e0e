"""The worker outlives a database that goes away (a PostgreSQL restart): django-tasks' loop lets
the error out, and the process would end with every job left undone until someone restarted it.
Found by ``make bench-load``: after a restart the outbox stayed pending for good."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from django.core.management import call_command
from django.db import OperationalError
from django_tasks_db.management.commands.db_worker import Worker

from sellerdesk.outbox.management.commands import worker as worker_command


@pytest.fixture
def no_pauses(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    slept: list[float] = []
    monkeypatch.setattr(worker_command.time, "sleep", slept.append)
    monkeypatch.setattr(Worker, "configure_signals", lambda self: None)
    return slept


@pytest.mark.django_db(transaction=True)
def test_the_worker_waits_for_the_database_and_carries_on(
    monkeypatch: pytest.MonkeyPatch, no_pauses: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    runs: list[int] = []

    def run(self: Worker) -> None:
        runs.append(1)
        if len(runs) <= 3:
            raise OperationalError("terminating connection due to administrator command")

    monkeypatch.setattr(Worker, "run", run)
    with caplog.at_level(logging.WARNING, logger=worker_command.__name__):
        call_command("worker", "--interval", "0")
    assert len(runs) == 4
    assert no_pauses == [1.0, 2.0, 4.0]
    assert caplog.text.count("the database went away") == 3


@pytest.mark.django_db(transaction=True)
def test_a_database_error_while_stopping_still_ends_the_worker(
    monkeypatch: pytest.MonkeyPatch, no_pauses: list[float]
) -> None:
    def run(self: Any) -> None:
        self.running = False  # a SIGTERM arrived
        raise OperationalError("the connection is closed")

    monkeypatch.setattr(Worker, "run", run)
    with pytest.raises(OperationalError):
        call_command("worker", "--interval", "0")
    assert no_pauses == []
