"""Who may reach a view: one decorator per kind of page, applied to every view.

Anonymous visitors are sent to sign in; a signed-in person of the wrong role gets 403. Which
rows a permitted person sees is the selectors' business (404 for what is not theirs).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseBase
from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme

View = Callable[..., HttpResponseBase]


def _gate(check: Callable[[Any], bool], *, two_factor: bool) -> Callable[[View], View]:
    def decorator(view: View) -> View:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            user = request.user
            if not user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not check(user):
                raise PermissionDenied
            if two_factor and settings.SELLERDESK_STAFF_2FA_REQUIRED and not user.is_verified():  # type: ignore[attr-defined]
                return redirect("accounts:two_factor_setup")
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


#: Agents, team leads and admins: the desk.
staff_required = _gate(lambda u: u.is_agent, two_factor=True)
#: Team leads and admins: macros, teams.
lead_required = _gate(lambda u: u.is_lead, two_factor=True)
#: A merchant's users: the portal.
merchant_required = _gate(lambda u: u.is_merchant_user, two_factor=False)
#: Admins: people and teams.
admin_required = _gate(lambda u: u.is_staff, two_factor=True)
#: Anyone signed in.
signed_in_required = _gate(lambda u: True, two_factor=False)


def home_for(user: Any) -> str:
    """Where a person lands after signing in."""
    if getattr(user, "is_agent", False):
        return "desk:inbox"
    if getattr(user, "is_merchant_user", False):
        return "portal:list"
    return "home"


def safe_next(request: HttpRequest) -> str:
    """The ``next`` page a form or link names (the form's first), if it is one of
    sellerdesk's own pages, else ``""``: never a redirect to another site."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return ""
