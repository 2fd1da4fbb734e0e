from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from sellerdesk.connectors.email.models import InboundEmail, InboundState
from sellerdesk.connectors.email.services import inbound_process
from sellerdesk.core.admin_site import ReadOnlyAdmin

#: The raw mail shown on the admin's page, at most (the row keeps all of it).
RAW_SHOWN = 200_000


@admin.register(InboundEmail)
class InboundEmailAdmin(ReadOnlyAdmin):
    """Every mail received, as it arrived: what became of it, and what could not be read
    (quarantined, with the error), to be processed again once the cause is fixed."""

    list_display = (
        "received_at", "state", "source", "from_address", "subject", "auto", "conversation_link",
        "short_error",
    )  # fmt: skip
    list_filter = ("state", "source", "auto")
    search_fields = ("mail_id", "from_address", "mail_from", "subject")
    date_hierarchy = "received_at"
    show_full_result_count = False
    actions = ("process_again",)
    exclude = ("raw",)
    readonly_fields = ("raw_text",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[InboundEmail]:
        # The list never reads the bytes; the page of one mail does (raw_text).
        queryset = super().get_queryset(request)
        return (
            queryset
            if request.resolver_match and "object_id" in (request.resolver_match.kwargs)
            else queryset.defer("raw")
        )

    @admin.display(description="conversation")
    def conversation_link(self, row: InboundEmail) -> str:
        if row.conversation_id is None:
            return "-"
        url = reverse("desk:conversation", args=[row.conversation_id])
        return format_html('<a href="{}">#{}</a>', url, row.conversation_id)

    @admin.display(description="error")
    def short_error(self, row: InboundEmail) -> str:
        return (row.error or row.note)[:120]

    @admin.display(description="raw mail")
    def raw_text(self, row: InboundEmail) -> str:
        data = bytes(row.raw)
        text = data[:RAW_SHOWN].decode("utf-8", "replace")
        if len(data) > RAW_SHOWN:
            text += f"\n… ({len(data) - RAW_SHOWN} more bytes)"
        return format_html('<pre style="white-space:pre-wrap">{}</pre>', text)

    @admin.action(description="Process again (quarantined or waiting mail)")
    def process_again(self, request: HttpRequest, queryset: QuerySet[InboundEmail]) -> None:
        pks = list(queryset.exclude(state=InboundState.PROCESSED).values_list("pk", flat=True))
        done = 0
        for pk in pks:
            if inbound_process(inbound=InboundEmail(pk=pk)).state == InboundState.PROCESSED:
                done += 1
        level = messages.SUCCESS if done == len(pks) else messages.WARNING
        messages.add_message(
            request, level, f"{done} of {len(pks)} mail(s) processed; the others stay quarantined."
        )
