from __future__ import annotations

from django.contrib import admin

from sellerdesk.accounts.models import Merchant
from sellerdesk.core.admin_site import ReadOnlyAdmin


@admin.register(Merchant)
class MerchantAdmin(ReadOnlyAdmin):
    list_display = ("external_id", "name", "country", "status", "language", "profile_at")
    list_filter = ("status", "country")
    search_fields = ("external_id", "name")
