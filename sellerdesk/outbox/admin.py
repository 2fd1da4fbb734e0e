from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from sellerdesk.core.admin_site import ReadOnlyAdmin
from sellerdesk.outbox.models import OutboxItem, OutboxStatus
from sellerdesk.outbox.services import outbox_retry


@admin.register(OutboxItem)
class OutboxItemAdmin(ReadOnlyAdmin):
    """What went out, what is waiting, and what failed (with the reason)."""

    list_display = ("created_at", "kind", "key", "status", "attempts", "next_attempt_at")
    list_filter = ("status", "kind")
    search_fields = ("key",)
    readonly_fields = ("last_error",)
    date_hierarchy = "created_at"
    show_full_result_count = False
    actions = ("send_again",)

    @admin.action(description="Send the selected failed items again")
    def send_again(self, request: HttpRequest, queryset: QuerySet[OutboxItem]) -> None:
        failed = list(queryset.filter(status=OutboxStatus.FAILED))
        for item in failed:
            outbox_retry(item=item)
        messages.success(request, f"{len(failed)} item(s) will be sent again.")
