from __future__ import annotations

from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "sellerdesk.api"
    label = "api"
    verbose_name = "REST API"

    def ready(self) -> None:
        # Registers the outbox's delivery of webhook items.
        from sellerdesk.api import webhooks  # noqa: F401
