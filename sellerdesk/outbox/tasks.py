"""The worker's tasks (django-tasks). They are wake-ups: the durable state is in the outbox
and on the conversations, so a task lost with a killed worker is simply run again later."""

from __future__ import annotations

from datetime import timedelta

from django.db import connection
from django.utils import timezone
from django_tasks import task

from sellerdesk.outbox import delivery


@task()
def deliver_outbox() -> dict[str, int]:
    run = delivery.deliver_due()
    return {"delivered": run.delivered, "retried": run.retried, "failed": run.failed}


@task()
def prune_task_results() -> int:
    """Finished task rows older than a day go; the outbox keeps the lasting record."""
    from django_tasks_db.models import DBTaskResult

    cutoff = timezone.now() - timedelta(days=1)
    deleted, _ = DBTaskResult.objects.finished().filter(finished_at__lt=cutoff).delete()
    return deleted


@task()
def optimize_database() -> str:
    """SQLite keeps planner statistics fresh with PRAGMA optimize (PostgreSQL: autovacuum)."""
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA optimize")
    return connection.vendor


@task()
def remove_orphan_attachments() -> int:
    """Attachment files a rolled-back transaction left without a row (conversations.storage)."""
    from sellerdesk.conversations.storage import attachment_orphans_remove

    return attachment_orphans_remove()
