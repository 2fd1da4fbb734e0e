from __future__ import annotations

from django.apps import AppConfig


class OutboxConfig(AppConfig):
    name = "sellerdesk.outbox"
    label = "outbox"
    verbose_name = "Outbox and worker"
