"""Attachment files with no row: what a rolled-back transaction leaves in storage.

A file is written while its message's transaction is open (the row needs the file's name); when
that transaction rolls back afterwards — a database error, a crash, storage full on the next
file — the row is gone and the file stays. The worker's daily sweep removes such files once they
are old enough that no transaction writing them can still be open.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.core.files.storage import default_storage
from django.utils import timezone

from sellerdesk.conversations.models import Attachment

logger = logging.getLogger(__name__)

#: Files younger than this may belong to a transaction still open.
GRACE = timedelta(hours=1)
#: Months looked at, counting back from this one (a file is stored under the month it came).
MONTHS = 2


def attachment_orphans_remove(*, now: datetime | None = None) -> int:
    """Delete attachment files no row names, older than GRACE, in the last MONTHS months'
    folders; returns how many. One query per conversation folder: memory stays small."""
    now = now or timezone.now()
    removed = 0
    for month in _months(now):
        folder = f"attachments/{month:%Y/%m}"
        try:
            conversations, _ = default_storage.listdir(folder)
        except FileNotFoundError:
            continue
        for name in conversations:
            if not name.isdigit():
                continue
            removed += _sweep(f"{folder}/{name}", int(name), now)
    if removed:
        logger.info("removed %d attachment file(s) that no row names", removed)
    return removed


def _sweep(folder: str, conversation_id: int, now: datetime) -> int:
    _, files = default_storage.listdir(folder)
    named = set(
        Attachment.objects.filter(conversation_id=conversation_id).values_list("file", flat=True)
    )
    removed = 0
    for filename in files:
        path = f"{folder}/{filename}"
        if path in named or now - default_storage.get_modified_time(path) < GRACE:
            continue
        default_storage.delete(path)
        removed += 1
    return removed


def _months(now: datetime) -> list[datetime]:
    months, moment = [], now.replace(day=1)
    for _ in range(MONTHS):
        months.append(moment)
        moment = (moment - timedelta(days=1)).replace(day=1)
    return months
