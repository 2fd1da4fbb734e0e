"""``sellerdesk worker``: runs the background tasks (django-tasks, database queue) and the
periodic jobs. Several can run side by side; on PostgreSQL they claim work with SKIP LOCKED."""

from __future__ import annotations

import logging
import os
import socket
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import DatabaseError, connections
from django_tasks_db.management.commands.db_worker import Worker

from sellerdesk.outbox.schedule import Scheduler, tick

logger = logging.getLogger(__name__)

#: Seconds between tries while the database is away (a restart, a failover).
RECONNECT_PAUSES = (1.0, 2.0, 4.0, 8.0)


class Command(BaseCommand):
    help = "Run background work: the outbox, timers, periodic jobs (never reloads on edits)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--interval", type=float, default=1.0, help="seconds between queue polls"
        )
        parser.add_argument(
            "--once",
            action="store_true",
            help="run every periodic job now, work through the queue, then exit",
        )
        parser.add_argument("--worker-id", default="", help="unique per worker (default: host-pid)")

    def handle(self, *args: Any, **options: Any) -> None:
        logging.getLogger("django_tasks").setLevel(
            logging.INFO if options["verbosity"] > 1 else logging.WARNING
        )
        worker_id = options["worker_id"] or f"{socket.gethostname()}-{os.getpid()}"
        worker = Worker(
            queue_names=["default"],
            interval=options["interval"],
            batch=options["once"],
            backend_name="default",
            startup_delay=not options["once"],
            max_tasks=None,
            worker_id=worker_id[:64],
            excluded_queue_names=[],
        )
        if options["once"]:
            names = tick(force=True)
            self.stdout.write(f"enqueued: {', '.join(names) or 'nothing'}")
            worker.run()
            return
        scheduler = Scheduler()
        scheduler.start()
        worker.configure_signals()
        self.stdout.write(f"sellerdesk worker {worker_id} running")
        try:
            self._run(worker)
        finally:
            scheduler.stop()

    def _run(self, worker: Worker) -> None:
        """Work until stopped. django-tasks' loop lets a database error out (a PostgreSQL
        restart), which would end the process; the work lives in the outbox and on the
        conversations, so the worker waits for the database and carries on instead."""
        failures = 0
        while True:
            try:
                worker.run()
                return
            except DatabaseError:
                if not worker.running:
                    raise
                pause = RECONNECT_PAUSES[min(failures, len(RECONNECT_PAUSES) - 1)]
                failures += 1
                logger.warning("the database went away; the worker tries again in %s s", pause)
                connections.close_all()
                time.sleep(pause)
