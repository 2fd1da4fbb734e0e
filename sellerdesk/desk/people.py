"""People and teams, for admins: staff roles, team membership, merchant users, invitations.

Every change goes through ``accounts.services`` and so lands in the audit log.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from sellerdesk.accounts import selectors, services
from sellerdesk.accounts.models import STAFF_ROLES, AuditEvent, Merchant, Role, Team, User
from sellerdesk.core.access import admin_required, safe_next
from sellerdesk.core.errors import ValidationError
from sellerdesk.core.text import parse_id


def _admin(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


def _person(pk: int) -> User:
    user = User.objects.filter(pk=pk).first()
    if user is None:
        raise Http404("no such person")
    return user


def _team(value: str) -> Team:
    key = parse_id(value)
    team = Team.objects.filter(pk=key).first() if key is not None else None
    if team is None:
        raise Http404("no such team")
    return team


@admin_required
@require_GET
def people(request: HttpRequest) -> HttpResponse:
    """Staff, then merchant users a page at a time; a search narrows both by e-mail address
    or name (merchant users by their merchant's id too), and the counts are of what matches."""
    query = request.GET.get("q", "").strip()
    search_error = ""
    try:
        found = selectors.people_find(text=query, cursor=request.GET.get("cursor") or None)
    except ValidationError as error:
        search_error = str(error)
        found = selectors.PeopleFound(
            staff=[], merchant_users=[], merchant_users_count=0, next_cursor=None
        )
    search = {"q": query} if query else {}
    return render(
        request,
        "desk/people.html",
        {
            "staff": found.staff,
            "merchant_users": found.merchant_users,
            "merchant_users_count": found.merchant_users_count,
            "next_url": (
                "?" + urlencode({**search, "cursor": found.next_cursor})
                if found.next_cursor
                else None
            ),
            "first_url": (
                reverse("desk:people") + ("?" + urlencode(search) if search else "")
                if request.GET.get("cursor")
                else None
            ),
            "this_url": request.get_full_path(),
            "query": query,
            "search_error": search_error,
            "search_max": selectors.PEOPLE_SEARCH_MAX,
            "teams": Team.objects.order_by("name"),
            "roles": [(r, label) for r, label in Role.choices if r in STAFF_ROLES],
            "audit": AuditEvent.objects.select_related("actor")[:50],
        },
    )


def _back(request: HttpRequest) -> HttpResponse:
    """Back to the page of People the change was made from (its search and page), if the
    form said which; else to the first page."""
    return redirect(safe_next(request) or "desk:people")


@admin_required
@require_POST
def person_add(request: HttpRequest) -> HttpResponse:
    """Add a staff member or a merchant user and e-mail them a link to choose a password."""
    admin = _admin(request)
    role = request.POST.get("role", "")
    try:
        merchant = None
        if role == Role.MERCHANT:
            merchant = Merchant.objects.filter(
                external_id=request.POST.get("merchant", "").strip()
            ).first()
            if merchant is None:
                raise ValidationError("no merchant has this id")
        teams = [_team(v) for v in request.POST.getlist("teams")]
        user = services.user_create(
            email=request.POST.get("email", ""),
            password=None,
            role=role,
            full_name=request.POST.get("full_name", ""),
            merchant=merchant,
            teams=teams,
            by=admin,
            invite_base_url=request.build_absolute_uri("/"),
        )
    except ValidationError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"Added {user.email}; they got an e-mail to choose a password.")
    return redirect("desk:people")


@admin_required
@require_POST
def person_role(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        services.user_set_role(
            user=_person(pk), role=request.POST.get("role", ""), by=_admin(request)
        )
    except ValidationError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, "Role changed.")
    return _back(request)


@admin_required
@require_POST
def person_active(request: HttpRequest, pk: int) -> HttpResponse:
    user = _person(pk)
    if user.pk == _admin(request).pk:
        messages.error(request, "You cannot deactivate yourself.")
        return _back(request)
    active = request.POST.get("active") == "1"
    services.user_set_active(user=user, active=active, by=_admin(request))
    messages.success(
        request, "Reactivated." if active else "Deactivated: they can no longer sign in."
    )
    return _back(request)


@admin_required
@require_POST
def person_team(request: HttpRequest, pk: int) -> HttpResponse:
    user = _person(pk)
    team = _team(request.POST.get("team", ""))
    try:
        if request.POST.get("member") == "1":
            services.user_join_team(user=user, team=team, by=_admin(request))
        else:
            services.user_leave_team(user=user, team=team, by=_admin(request))
    except ValidationError as error:
        messages.error(request, str(error))
    return _back(request)


@admin_required
@require_POST
def team_add(request: HttpRequest) -> HttpResponse:
    try:
        services.team_get_or_create(
            name=request.POST.get("name", "")[:100],
            languages=request.POST.get("languages", "")[:200],
            by=_admin(request),
        )
    except ValidationError as error:
        messages.error(request, str(error))
    return redirect("desk:people")
