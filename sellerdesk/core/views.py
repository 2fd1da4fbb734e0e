from __future__ import annotations

from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from sellerdesk.core.access import home_for


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """Signed-in people go to their own place: staff to the desk, merchants to the portal."""
    if request.user.is_authenticated:
        target = home_for(request.user)
        if target != "home":
            return redirect(target)
    return render(request, "core/home.html")


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok", "database": connection.vendor})
