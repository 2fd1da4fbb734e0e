"""The worker's own schedule: periodic jobs, no cron needed.

Each worker process runs a scheduler thread. A job's next run is a row (``PeriodicJob``); a
worker takes a run by moving ``next_run_at`` forward with one conditional UPDATE, so with
several workers each run is enqueued once. Jobs with a ``wanted`` check are enqueued only
when it says there is work (the outbox check is one indexed look-up).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import close_old_connections, connection
from django.utils import timezone

from sellerdesk.outbox.models import PeriodicJob

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Periodic:
    name: str
    every: timedelta
    task: Any  # a django-tasks Task
    wanted: Callable[[], bool] | None = None


def jobs() -> list[Periodic]:
    from sellerdesk.connectors.email import tasks as email_tasks
    from sellerdesk.outbox import delivery, tasks
    from sellerdesk.sla import tasks as sla_tasks
    from sellerdesk.triage import selectors as triage_selectors
    from sellerdesk.triage import tasks as triage_tasks

    return [
        Periodic("outbox.deliver", timedelta(seconds=2), tasks.deliver_outbox, delivery.has_due),
        Periodic("sla.sweep", timedelta(seconds=30), sla_tasks.sweep_timers),
        Periodic("sla.automations", timedelta(seconds=60), sla_tasks.run_automations),
        Periodic(
            "email.retry",
            timedelta(seconds=60),
            email_tasks.process_waiting_mail,
            email_tasks.has_waiting_mail,
        ),
        Periodic(
            "triage.suggest",
            timedelta(seconds=5),
            triage_tasks.suggest_pending,
            triage_selectors.has_pending,
        ),
        Periodic("tasks.prune", timedelta(hours=1), tasks.prune_task_results),
        Periodic("database.optimize", timedelta(hours=24), tasks.optimize_database),
        Periodic("attachments.orphans", timedelta(hours=24), tasks.remove_orphan_attachments),
    ]


def _take(job: Periodic, now: datetime) -> bool:
    """Claim this run of the job for this worker; False if another worker won it."""
    taken = PeriodicJob.objects.filter(name=job.name, next_run_at__lte=now).update(
        next_run_at=now + job.every, last_run_at=now
    )
    return taken == 1


def _due(scheduled: list[Periodic], now: datetime) -> set[str]:
    """The jobs whose run is due, in one read (writes only for those, so an idle scheduler
    does not take SQLite's write lock every second)."""
    known = dict(PeriodicJob.objects.values_list("name", "next_run_at"))
    missing = [job for job in scheduled if job.name not in known]
    if missing:
        PeriodicJob.objects.bulk_create(
            [PeriodicJob(name=job.name, next_run_at=now) for job in missing],
            ignore_conflicts=True,
        )
        known.update({job.name: now for job in missing})
    return {name for name, at in known.items() if at <= now}


def tick(*, force: bool = False) -> list[str]:
    """Enqueue every job that is due (all of them with ``force``); returns their names."""
    enqueued = []
    scheduled = jobs()
    now = timezone.now()
    due = _due(scheduled, now)
    for job in scheduled:
        if not force and (job.name not in due or not _take(job, now)):
            continue
        if job.wanted is not None and not job.wanted():
            continue
        job.task.enqueue()
        enqueued.append(job.name)
    return enqueued


class Scheduler:
    """The scheduler thread of one worker process."""

    def __init__(self, interval: float = 1.0) -> None:
        self.interval = interval
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="sellerdesk-scheduler", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                close_old_connections()
                tick()
            except Exception:  # a database blip must not kill the schedule
                logger.exception("scheduler tick failed; trying again")
            self._stop.wait(self.interval)
        connection.close()
