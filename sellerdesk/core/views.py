from __future__ import annotations

import sys

from django.db import InterfaceError, OperationalError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views import defaults
from django.views.decorators.http import require_GET, require_POST
from django.views.i18n import set_language

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


def server_error(request: HttpRequest, template_name: str = "500.html") -> HttpResponse:
    """The page for an unhandled error; while the database is away (a restart, a failover),
    a 503 that says so and when to try again, rather than a bare 500.

    Django calls this while handling the exception, so ``sys.exc_info()`` holds it. The API
    answers its own 503 as problem+json (``api.v1``).
    """
    error = sys.exc_info()[1]
    if isinstance(error, OperationalError | InterfaceError):
        response = HttpResponse(
            "<!doctype html><title>Back in a moment</title><h1>Back in a moment</h1>"
            "<p>sellerdesk cannot reach its database just now. Nothing you sent was lost "
            "without telling you: try again in a few seconds.</p>",
            status=503,
        )
        response["Retry-After"] = "5"
        return response
    return defaults.server_error(request, template_name)


@require_POST
def language_set(request: HttpRequest) -> HttpResponse:
    """The language switcher (POST + CSRF): Django's ``set_language`` keeps the choice in a
    cookie and goes back to ``next``; a signed-in merchant user's choice is also saved (through
    ``accounts.services``), so it follows them to another browser."""
    from sellerdesk.accounts.services import user_set_language
    from sellerdesk.core.i18n import supported

    response = set_language(request)
    language = supported(request.POST.get("language"))
    user = request.user
    if language and user.is_authenticated and getattr(user, "is_merchant_user", False):
        user_set_language(user=user, language=language)
    return response
