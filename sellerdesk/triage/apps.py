from __future__ import annotations

from django.apps import AppConfig


class TriageConfig(AppConfig):
    name = "sellerdesk.triage"
    label = "triage"
    verbose_name = "Triage suggestions"
