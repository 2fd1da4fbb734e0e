"""A read-only admin: staff browse the stored rows; every change goes through the services."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse


class ReadOnlyAdmin(admin.ModelAdmin):
    """Browse and search only. Domain rows change through sellerdesk's services, which keep
    the stored facts and the event log right; the admin would bypass them."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class SellerdeskAdminSite(admin.AdminSite):
    """Django's admin behind sellerdesk's own sign-in: no second login form that would skip the
    throttle, the audit log and two-factor; admins only, verified when two-factor is required."""

    site_header = "sellerdesk admin (read-only)"
    site_title = "sellerdesk admin"

    def has_permission(self, request: HttpRequest) -> bool:
        from django.conf import settings

        if not super().has_permission(request):
            return False
        if settings.SELLERDESK_STAFF_2FA_REQUIRED:
            return bool(request.user.is_verified())  # type: ignore[union-attr]
        return True

    def login(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        from django.contrib.auth.views import redirect_to_login

        target = request.GET.get("next") or reverse("admin:index", current_app=self.name)
        if request.user.is_authenticated and not self.has_permission(request):
            from django.conf import settings

            if settings.SELLERDESK_STAFF_2FA_REQUIRED and request.user.is_staff:
                return redirect("accounts:two_factor_setup")
        return redirect_to_login(target, login_url=reverse("accounts:login"))

    def logout(self, request: HttpRequest, extra_context: Any = None) -> TemplateResponse:
        # Signing out here ends the session as the desk's "Sign out" does: its chat sockets
        # close with it.
        from sellerdesk.conversations import events

        if request.method == "POST":
            events.session_end(session_key=request.session.session_key)
        return super().logout(request, extra_context)


class SellerdeskAdminConfig(AdminConfig):
    default_site = "sellerdesk.core.admin_site.SellerdeskAdminSite"
