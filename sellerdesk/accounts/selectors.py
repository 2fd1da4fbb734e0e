"""Reads of people: who to tell (shared by the timers, SLA breaches, automations and e-mail),
and the People page's lists."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Q, QuerySet
from django.http import Http404

from sellerdesk.accounts.models import STAFF_ROLES, Role, User
from sellerdesk.core.cursors import cursor_pack, cursor_unpack
from sellerdesk.core.errors import ValidationError
from sellerdesk.core.text import text_problem


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


# --- The People page --------------------------------------------------------------------


#: Merchant users on one page of the People page; the next page follows a cursor.
MERCHANT_USERS_PAGE = 100
#: The longest search the People page takes (an e-mail address's length).
PEOPLE_SEARCH_MAX = 254


def _matching(rows: QuerySet[User], text: str, *fields: str) -> QuerySet[User]:
    """``rows`` whose e-mail address, name or one of ``fields`` contains ``text``."""
    if not text:
        return rows
    condition = Q(email__icontains=text) | Q(full_name__icontains=text)
    for field in fields:
        condition |= Q(**{f"{field}__icontains": text})
    return rows.filter(condition)


def _merchant_users_page(
    rows: QuerySet[User], cursor: str | None, limit: int
) -> tuple[list[User], str | None]:
    """One page of merchant users in the page's order (merchant id, then e-mail address,
    which is unique), and the cursor of the next page, if there is one."""
    if cursor:
        try:
            external_id, email = cursor_unpack(cursor)
        except ValueError:
            raise Http404("bad cursor") from None
        if not all(isinstance(v, str) and text_problem(v) is None for v in (external_id, email)):
            raise Http404("bad cursor")
        rows = rows.filter(
            Q(merchant__external_id__gt=external_id)
            | Q(merchant__external_id=external_id, email__gt=email)
        )
    page = list(rows.order_by("merchant__external_id", "email")[: limit + 1])
    if len(page) <= limit:
        return page, None
    page = page[:limit]
    last = page[-1]
    assert last.merchant is not None  # a merchant user always has one
    return page, cursor_pack([last.merchant.external_id, last.email])


@dataclass
class PeopleFound:
    staff: list[User]
    merchant_users: list[User]
    merchant_users_count: int
    next_cursor: str | None


def people_find(*, text: str, cursor: str | None) -> PeopleFound:
    """The People page's reads (an admin's): every staff member and a page of merchant users
    whose e-mail address or name contains ``text`` (merchant users: or their merchant's id),
    with how many merchant users match. ValidationError for a search it cannot run; 404 for
    a cursor this page did not give out."""
    if len(text) > PEOPLE_SEARCH_MAX or text_problem(text):
        raise ValidationError(f"A search is at most {PEOPLE_SEARCH_MAX} characters of text.")
    staff = _matching(User.objects.filter(role__in=sorted(STAFF_ROLES)), text)
    merchant_users = _matching(
        User.objects.filter(role=Role.MERCHANT), text, "merchant__external_id"
    )
    page, next_cursor = _merchant_users_page(
        merchant_users.select_related("merchant"), cursor, MERCHANT_USERS_PAGE
    )
    return PeopleFound(
        staff=list(staff.prefetch_related("teams").order_by("full_name", "email")),
        merchant_users=page,
        merchant_users_count=merchant_users.count(),
        next_cursor=next_cursor,
    )
