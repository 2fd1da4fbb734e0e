from __future__ import annotations

from django.apps import AppConfig


class EmailConnectorConfig(AppConfig):
    name = "sellerdesk.connectors.email"
    label = "email_connector"
    verbose_name = "E-mail channel"
