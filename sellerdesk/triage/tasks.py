"""The worker's triage task: a wake-up, like the outbox's (the state is in ``Run`` rows, so a
task lost with a killed worker is run again at the next tick)."""

from __future__ import annotations

import logging

from django_tasks import task

from sellerdesk.triage import services
from sellerdesk.triage.embedding import ModelMissing

logger = logging.getLogger(__name__)


@task()
def suggest_pending() -> int:
    try:
        return services.triage_pending()
    except ModelMissing as error:
        logger.error("triage: %s", error)
        return 0
