from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from sellerdesk.core import views as core_views

urlpatterns = [
    path("", core_views.home, name="home"),
    path("accounts/", include("sellerdesk.accounts.urls")),
    path("desk/reports/", include("sellerdesk.reports.urls")),
    path("desk/", include("sellerdesk.desk.urls")),
    path("help/", include("sellerdesk.helpcenter.urls")),
    path("merchant/", include("sellerdesk.portal.urls")),
    path("api/v1/", include("sellerdesk.api.urls")),
    path("admin/", admin.site.urls),
    path("language/", core_views.language_set, name="set_language"),
    path("healthz", core_views.healthz, name="healthz"),
]

#: A 503 with Retry-After while the database is away; any other error: Django's 500 page.
handler500 = "sellerdesk.core.views.server_error"
