"""Who to tell: reads of people shared by the timers, SLA breaches, automations and e-mail."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import QuerySet

from sellerdesk.accounts.models import Role, User


def leads_for(*, team_id: int | None) -> QuerySet[User]:
    """The active leads of the team, or every active lead when the team has none (or there is
    no team): an escalation always reaches someone who can act."""
    leads = User.objects.filter(role=Role.LEAD, is_active=True)
    if team_id is not None and leads.filter(teams=team_id).exists():
        leads = leads.filter(teams=team_id)
    return leads.order_by("email")


def merchant_addresses_many(*, merchant_ids: Iterable[int]) -> dict[int, list[str]]:
    """``merchant_addresses`` for many merchants in one query (the worker's batches)."""
    found: dict[int, list[str]] = {pk: [] for pk in merchant_ids}
    for merchant_id, email in (
        User.objects.filter(merchant_id__in=list(found), role=Role.MERCHANT, is_active=True)
        .order_by("email")
        .values_list("merchant_id", "email")
    ):
        found[merchant_id].append(email)
    return found


def merchant_addresses(*, merchant_id: int) -> list[str]:
    """The e-mail addresses of a merchant's active users."""
    return list(
        User.objects.filter(merchant_id=merchant_id, role=Role.MERCHANT, is_active=True)
        .order_by("email")
        .values_list("email", flat=True)
    )
