from __future__ import annotations

from django.contrib import admin

from sellerdesk.accounts.models import AuditEvent, Merchant, Team, User
from sellerdesk.core.admin_site import ReadOnlyAdmin


@admin.register(Merchant)
class MerchantAdmin(ReadOnlyAdmin):
    list_display = ("external_id", "name", "country", "status", "language", "profile_at")
    list_filter = ("status", "country")
    search_fields = ("external_id", "name")


@admin.register(User)
class UserAdmin(ReadOnlyAdmin):
    """People are managed on the desk's People page, whose services write the audit log."""

    list_display = ("email", "full_name", "role", "merchant", "is_active", "last_login")
    list_filter = ("role", "is_active", "teams")
    search_fields = ("email", "full_name", "merchant__external_id")
    list_select_related = ("merchant",)
    exclude = ("password",)


@admin.register(Team)
class TeamAdmin(ReadOnlyAdmin):
    list_display = ("name", "languages")


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("at", "action", "target", "actor", "ip")
    list_filter = ("action",)
    search_fields = ("target", "actor__email", "ip")
    list_select_related = ("actor",)
    date_hierarchy = "at"
    show_full_result_count = False
