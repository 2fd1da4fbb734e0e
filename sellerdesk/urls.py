from __future__ import annotations

from django.contrib import admin
from django.urls import path

from sellerdesk.core import views as core_views

urlpatterns = [
    path("", core_views.home, name="home"),
    path("admin/", admin.site.urls),
    path("healthz", core_views.healthz, name="healthz"),
]
