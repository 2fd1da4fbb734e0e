from __future__ import annotations

from django.contrib import admin

from sellerdesk.conversations.models import (
    Activity,
    Conversation,
    Macro,
    Message,
    StatusChange,
    Tag,
)
from sellerdesk.core.admin_site import ReadOnlyAdmin


class MessageInline(admin.TabularInline):
    model = Message
    fields = ("created_at", "author_type", "author_id", "public", "body")
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ("created_at",)


class ActivityInline(admin.TabularInline):
    model = Activity
    fields = ("at", "actor", "verb", "detail", "automatic")
    readonly_fields = fields
    extra = 0
    can_delete = False


class StatusChangeInline(admin.TabularInline):
    model = StatusChange
    fields = ("at", "status", "by")
    readonly_fields = fields
    extra = 0
    can_delete = False


@admin.register(Conversation)
class ConversationAdmin(ReadOnlyAdmin):
    list_display = (
        "external_id", "subject", "merchant", "country", "channel", "kind", "status",
        "created_at", "first_response_at", "resolved_at",
    )  # fmt: skip
    list_filter = ("kind", "status", "channel", "initiated_by", "spam", "country")
    search_fields = ("external_id", "subject", "merchant__external_id", "merchant__name")
    list_select_related = ("merchant",)
    date_hierarchy = "created_at"
    inlines = (MessageInline, StatusChangeInline, ActivityInline)
    show_full_result_count = False


@admin.register(Tag)
class TagAdmin(ReadOnlyAdmin):
    list_display = ("display_name", "name")
    search_fields = ("name",)


@admin.register(Macro)
class MacroAdmin(ReadOnlyAdmin):
    list_display = ("name", "team", "add_tags", "set_status", "active")
