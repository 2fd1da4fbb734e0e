"""The demo's people: an admin, an agent in a team and a merchant user, the support teams and
a few macros, so that the desk and the portal can be tried right away."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Count

from sellerdesk.accounts.models import Merchant, Role, Team, User
from sellerdesk.accounts.services import team_get_or_create, user_create, user_join_team
from sellerdesk.conversations.demo.world import world_load
from sellerdesk.conversations.models import ACTIVE_STATUSES, Conversation, Macro, Status

STAFF_LOGIN = "admin@sellerdesk.test"
AGENT_LOGIN = "agent@sellerdesk.test"
MERCHANT_LOGIN = "merchant@sellerdesk.test"
#: Printed by the command and named in the README; never set in production mode.
DEVELOPMENT_PASSWORD = "sellerdesk-demo"  # noqa: S105 - a documented development login

#: The demo world's team keys, as the desk names them.
TEAM_NAMES = {
    "cn": "CN team",
    "eu": "EU team",
    "tr": "TR team",
    "cis": "CIS team",
    "am": "Americas team",
}

MACROS = [
    (
        "Payment: being checked",
        "Hello {{ merchant_name }},\n\nthank you for writing. We are checking the payment with "
        "our finance team and will come back to you within two working days.\n\n"
        "Best regards,\n{{ agent_name }}",
        "payment_delay",
        Status.PENDING,
    ),
    (
        "Need more details",
        "Hello {{ merchant_name }},\n\nto go on we need the order number and a screenshot of "
        "the error. Please answer by {{ deadline }}.\n\nThank you,\n{{ agent_name }}",
        "",
        Status.PENDING,
    ),
    (
        "Solved: thank you",
        "Hello {{ merchant_name }},\n\nthis is solved on our side. If anything is still not "
        "right, just answer this message.\n\n{{ agent_name }}",
        "",
        Status.SOLVED,
    ),
]


@dataclass(frozen=True)
class DemoLogin:
    role: str
    email: str
    password: str
    where: str


def demo_staff_login_exists() -> bool:
    return User.objects.filter(email=STAFF_LOGIN).exists()


def _person(email: str, role: str, password: str, **fields: object) -> User:
    user = User.objects.filter(email=email).first()
    if user is None:
        return user_create(email=email, password=password, role=role, **fields)  # type: ignore[arg-type]
    user.set_password(password)
    user.is_active = True
    user.save(update_fields=["password", "is_active"])
    return user


def demo_logins(*, production: bool) -> list[DemoLogin]:
    """Create (or reset the passwords of) the demo's admin, agent and merchant user.

    Development gets the documented ``DEVELOPMENT_PASSWORD``. In production a known password
    would be an open door, so random ones are set and returned for the caller to show once.
    """

    def password() -> str:
        return secrets.token_urlsafe(16) if production else DEVELOPMENT_PASSWORD

    with transaction.atomic():
        teams = {
            key: team_get_or_create(name=TEAM_NAMES.get(key, f"{key.upper()} team"))
            for key in world_load().teams
        }
        logins = []
        admin_password = password()
        _person(STAFF_LOGIN, Role.ADMIN, admin_password, full_name="Demo Admin")
        logins.append(DemoLogin("admin", STAFF_LOGIN, admin_password, "/desk/ and /admin/"))
        agent_password = password()
        agent = _person(
            AGENT_LOGIN, Role.AGENT, agent_password, full_name="Deniz Agent", languages="en,tr"
        )
        user_join_team(user=agent, team=teams["eu"])
        user_join_team(user=agent, team=teams["tr"])
        logins.append(DemoLogin("agent", AGENT_LOGIN, agent_password, "/desk/"))
        merchant = (
            Merchant.objects.annotate(n=Count("conversations"))
            .order_by("-n", "external_id")
            .first()
        )
        if merchant is not None:
            merchant_password = password()
            existing = User.objects.filter(email=MERCHANT_LOGIN).first()
            if existing is not None and existing.merchant_id != merchant.pk:
                existing.delete()
            _person(
                MERCHANT_LOGIN,
                Role.MERCHANT,
                merchant_password,
                full_name="Demo Merchant User",
                merchant=merchant,
            )
            logins.append(
                DemoLogin(
                    f"merchant user of {merchant.name or merchant.external_id}",
                    MERCHANT_LOGIN,
                    merchant_password,
                    "/merchant/",
                )
            )
        for name, body, tags, status in MACROS:
            Macro.objects.get_or_create(
                name=name, defaults={"body": body, "add_tags": tags, "set_status": status}
            )
        _route_open_conversations(teams)
    return logins


def _route_open_conversations(teams: dict[str, Team]) -> None:
    """Give the demo's open conversations to the team that serves the merchant's country."""
    world = world_load()
    by_country = {code: country.team for code, country in world.countries.items()}
    for code, key in by_country.items():
        team = teams.get(key)
        if team is None:
            continue
        Conversation.objects.filter(
            country=code, status__in=sorted(ACTIVE_STATUSES | {Status.PENDING.value}), team=None
        ).update(team=team)
