"""The e-mail channel's worker task: mail left *received* by a failure of the surroundings
(storage full, the database away) or by a receiver stopped mid-way is processed again."""

from __future__ import annotations

from django_tasks import task

from sellerdesk.connectors.email import services


@task()
def process_waiting_mail() -> int:
    return services.inbound_process_waiting(older_than=services.RETRY_AFTER)


def has_waiting_mail() -> bool:
    return services.inbound_waiting(older_than=services.RETRY_AFTER).exists()
