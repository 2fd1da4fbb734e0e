"""Service-level configuration in the admin (admins only): business hours and SLA policies.

These are settings, not domain facts, so the admin edits them; Django's admin log records
every change. New due times apply to each conversation at its next change.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin

from sellerdesk.core.admin_site import ReadOnlyAdmin
from sellerdesk.sla.calendar import BusinessCalendar
from sellerdesk.sla.models import BusinessHours, SlaBreach, SlaPolicy


class BusinessHoursForm(forms.ModelForm):
    class Meta:
        model = BusinessHours
        fields = ("name", "team", "zone", "week", "holidays")
        help_texts = {
            "week": 'e.g. {"mon": ["09:00-18:00"], "tue": ["09:00-13:00", "14:00-18:00"], '
            '"sat": [], "sun": []}',
            "holidays": 'e.g. ["2027-01-01", "2027-04-23"]',
        }

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        try:
            BusinessCalendar.from_config(
                zone=data.get("zone") or "", week=data.get("week") or {},
                holidays=data.get("holidays") or [],
            )  # fmt: skip
        except (ValueError, TypeError) as error:
            raise forms.ValidationError(str(error)) from None
        return data


@admin.register(BusinessHours)
class BusinessHoursAdmin(admin.ModelAdmin):
    form = BusinessHoursForm
    list_display = ("name", "team", "zone")


@admin.register(SlaPolicy)
class SlaPolicyAdmin(admin.ModelAdmin):
    list_display = (
        "name", "position", "active", "first_response_minutes", "next_response_minutes",
        "resolution_minutes", "business_hours",
    )  # fmt: skip
    list_editable = ("position", "active")
    ordering = ("position", "id")


@admin.register(SlaBreach)
class SlaBreachAdmin(ReadOnlyAdmin):
    list_display = ("breached_at", "conversation", "metric", "due_at", "policy")
    list_filter = ("metric", "policy")
    date_hierarchy = "breached_at"
    show_full_result_count = False
