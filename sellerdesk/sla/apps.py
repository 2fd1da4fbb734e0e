from __future__ import annotations

from django.apps import AppConfig


class SlaConfig(AppConfig):
    name = "sellerdesk.sla"
    label = "sla"
    verbose_name = "Service levels and timers"
