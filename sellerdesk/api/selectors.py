"""The API's reads, scoped to the key that asks.

A key of one merchant sees that merchant, its users and its conversations (public messages
only); anything else is a 404, as for a merchant user in the portal. A key of no merchant sees
the whole marketplace, internal notes included.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.db import connection
from django.db.models import Count, Prefetch, Q, QuerySet
from django.http import Http404

from sellerdesk.accounts.models import STAFF_ROLES, Merchant, Role, User
from sellerdesk.api.models import ApiKey
from sellerdesk.conversations import search
from sellerdesk.conversations import selectors as conversation_selectors
from sellerdesk.conversations import services as conversation_services
from sellerdesk.conversations.models import Attachment, Conversation, Message, Tag
from sellerdesk.core import rows
from sellerdesk.core.cursors import cursor_pack, cursor_unpack
from sellerdesk.core.errors import ValidationError
from sellerdesk.core.text import normalize_tag, parse_id
from sellerdesk.core.timeutil import TimestampError, parse_rfc3339


class BadCursor(ValueError):
    """A cursor this API did not give out (or gave out for other filters)."""


def key_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


_KEY = rows.reader(ApiKey)
_MERCHANT = rows.reader(Merchant)
_USER = rows.reader(User)
_sql: dict[tuple[str, str], str] = {}


def _statement(name: str, build: Callable[[Callable[[str], str]], str]) -> str:
    """The SQL text of one of the reads below, built once per database vendor."""
    key = (name, connection.vendor)
    sql = _sql.get(key)
    if sql is None:
        sql = _sql[key] = build(connection.ops.quote_name)
    return sql


def token_digest(token: str) -> str | None:
    """The hash a key is stored and looked up by; None for what cannot be a key."""
    token = token.strip()
    if not token or len(token) > 200 or not token.isascii():
        return None
    return key_hash(token)


def apikey_for_digest(digest: str) -> ApiKey | None:
    """The live key whose hash is ``digest``, with its merchant, or None: one indexed look-up
    by the hash, its statement built once (``core.rows``)."""
    sql = _statement(
        "apikey",
        lambda qn: (
            f"SELECT {_KEY.columns('k')}, {_MERCHANT.columns('m')} "  # noqa: S608 - model names
            f"FROM {qn(ApiKey._meta.db_table)} k LEFT JOIN {qn(Merchant._meta.db_table)} m "
            "ON m.id = k.merchant_id WHERE k.key_hash = %s AND k.revoked_at IS NULL"
        ),
    )
    found = rows.fetch(sql, [digest])
    if found is None:
        return None
    key: ApiKey = _KEY.build(found[: len(_KEY)])
    key.merchant = (
        _MERCHANT.build(found[len(_KEY) : len(_KEY) + len(_MERCHANT)])
        if key.merchant_id is not None
        else None
    )
    return key


def apikeys() -> list[ApiKey]:
    return list(ApiKey.objects.select_related("merchant").order_by("created_at", "id"))


# --- Merchants and their users ---------------------------------------------------------------


def merchant_get(*, key: ApiKey, merchant_id: str) -> Merchant:
    merchant = Merchant.objects.filter(external_id=merchant_id).first()
    if merchant is None or (key.merchant_id is not None and key.merchant_id != merchant.pk):
        raise Http404("no such merchant")
    return merchant


def merchant_exists(*, merchant_id: str) -> bool:
    return Merchant.objects.filter(external_id=merchant_id).exists()


def merchant_users(*, merchant: Merchant) -> list[User]:
    return list(User.objects.filter(merchant=merchant, role=Role.MERCHANT).order_by("email", "id"))


def user_email_taken(*, email: str) -> bool:
    return User.objects.filter(email=email.strip().lower()).exists()


def staff_by_email(*, email: str) -> User | None:
    """An active staff member (agent, lead, admin) by e-mail address, or None."""
    roles = sorted(STAFF_ROLES)
    # Addresses are unique: no ORDER BY. Built once (an API post asks for its author).
    sql = _statement(
        "staff",
        lambda qn: (
            f"SELECT {_USER.columns('u')} FROM {qn(User._meta.db_table)} u "  # noqa: S608 - model names
            f"WHERE u.email = %s AND u.role IN ({', '.join(['%s'] * len(roles))}) "
            "AND u.is_active = %s"
        ),
    )
    found = rows.fetch(sql, [email.strip().lower(), *roles, True])
    return None if found is None else _USER.build(found)


# --- Conversations ---------------------------------------------------------------------------


def _visible(key: ApiKey) -> QuerySet[Conversation]:
    rows = Conversation.objects.all()
    if key.merchant_id is not None:
        rows = rows.filter(merchant_id=key.merchant_id)
    return rows


def conversation_get(*, key: ApiKey, pk: int, tags: bool = True) -> Conversation:
    """The conversation if the key may see it, else 404; ``tags=False`` when it is not
    shown, only written to (posting a message): with its merchant, without its tags, assignee
    and team (one query fewer, and a narrower one)."""
    if parse_id(pk) is None:
        raise Http404("no such conversation")
    if tags:
        rows = _visible(key).select_related("merchant", "assignee", "team")
        rows = rows.prefetch_related(Prefetch("tags", queryset=Tag.objects.order_by("name")))
    else:
        rows = _visible(key).select_related("merchant")
    # By its primary key: no ORDER BY (``first()`` would add one).
    row = next(iter(rows.filter(pk=pk).order_by()[:1]), None)
    if row is None:
        raise Http404("no such conversation")
    return row


def conversation_lock(*, key: ApiKey, pk: int, author_email: str | None = None) -> Conversation:
    """The conversation if the key may see it, else 404, locked for a change in the caller's
    transaction and read with its merchant and the configuration's generation in the same
    statement (posting a message: ``message_add(locked=True)`` writes to it without reading
    it again, ``services.message_post`` reuses the generation). ``author_email`` (a key of no
    merchant naming the staff member who writes): that person is read in the same statement
    too, for ``services.message_post``, as ``staff_by_email`` would (``staff`` on the row)."""
    if parse_id(pk) is None:
        raise Http404("no such conversation")
    row = conversation_services.conversation_lock(
        pk=pk,
        merchant_id=key.merchant_id,
        with_merchant=True,
        with_generation=True,
        staff_email=author_email if key.merchant_id is None else None,
    )
    if row is None:
        raise Http404("no such conversation")
    if author_email is not None and key.merchant_id is None:
        row.__dict__["staff_email"] = author_email
    return row


def conversation_counts(*, key: ApiKey, conversation: Conversation) -> dict[str, int | None]:
    """Messages (public), internal notes (None for a merchant's key) and attachments."""
    counts = Message.objects.filter(conversation=conversation).aggregate(
        messages=Count("pk", filter=Q(public=True)), notes=Count("pk", filter=Q(public=False))
    )
    attachments = Attachment.objects.filter(conversation=conversation)
    if key.merchant_id is not None:
        attachments = attachments.filter(message__public=True)
    return {
        "messages": counts["messages"],
        "notes": counts["notes"] if key.merchant_id is None else None,
        "attachments": attachments.count(),
    }


@dataclass(frozen=True)
class ConversationFilters:
    status: str = ""
    kind: str = ""
    tag: str = ""
    merchant: str = ""
    updated_since: datetime | None = None


@dataclass
class ConversationPage:
    rows: list[Conversation]
    next_cursor: str | None


def _filtered(rows: QuerySet[Conversation], filters: ConversationFilters) -> QuerySet[Conversation]:
    if filters.status:
        rows = rows.filter(status=filters.status)
    if filters.kind:
        rows = rows.filter(kind=filters.kind)
    if filters.tag:
        rows = rows.filter(conversation_tags__tag__name=normalize_tag(filters.tag))
    if filters.merchant:
        rows = rows.filter(merchant__external_id=filters.merchant)
    return rows


def search_page(
    *, key: ApiKey, text: str, filters: ConversationFilters, cursor: str | None, limit: int
) -> search.SearchPage:
    """The key's conversations matching ``text`` and the filters, ranked (subject hits first,
    then message hits, each newest first); a merchant's key searches public messages only.
    ValidationError for a search that cannot be run; BadCursor for a forged cursor."""
    query = search.parse_query(text)
    if query is None:
        raise ValidationError("q has nothing to search for")
    rows = _filtered(_visible(key), filters)
    try:
        return search.ranked(
            rows, query, public_only=key.merchant_id is not None, cursor=cursor, limit=limit
        )
    except search.BadSearchCursor as error:
        raise BadCursor(str(error)) from None


def conversation_page(
    *, key: ApiKey, filters: ConversationFilters, cursor: str | None, limit: int
) -> ConversationPage:
    """One page of conversations, newest first; with ``updated_since``, oldest change first
    (a client syncing walks forward and, next time, asks from its last ``updated_at``).

    A fixed number of queries whatever ``limit`` is.
    """
    rows = _filtered(_visible(key), filters)
    order = "updated" if filters.updated_since is not None else "created"
    if filters.updated_since is not None:
        rows = rows.filter(updated_at__gte=filters.updated_since)
    if cursor:
        mode, moment, pk = decode_cursor(cursor)
        if mode != order:
            raise BadCursor("the cursor belongs to another listing")
        if order == "updated":
            rows = rows.filter(Q(updated_at__gt=moment) | Q(updated_at=moment, pk__gt=pk))
        else:
            rows = rows.filter(Q(created_at__lt=moment) | Q(created_at=moment, pk__lt=pk))
    rows = (
        rows.order_by("updated_at", "pk")
        if order == "updated"
        else rows.order_by("-created_at", "-pk")
    )
    page = list(
        rows.select_related("merchant", "assignee", "team").prefetch_related(
            Prefetch("tags", queryset=Tag.objects.order_by("name"))
        )[: limit + 1]
    )
    next_cursor = None
    if len(page) > limit:
        page = page[:limit]
        last = page[-1]
        key_value = last.updated_at if order == "updated" else last.created_at
        next_cursor = encode_cursor(order, key_value, last.pk)
    return ConversationPage(rows=page, next_cursor=next_cursor)


def encode_cursor(mode: str, moment: datetime | None, pk: int) -> str:
    return cursor_pack([mode, moment.isoformat() if moment else None, pk])


def decode_cursor(cursor: str) -> tuple[str, datetime, int]:
    try:
        mode, value, pk = cursor_unpack(cursor)
        if not isinstance(mode, str) or not isinstance(value, str):
            raise TypeError(value)
        moment = parse_rfc3339(value)
    except (ValueError, TypeError, TimestampError):
        raise BadCursor("the cursor is not one this API gave out") from None
    if isinstance(pk, bool) or parse_id(pk) is None:
        raise BadCursor("the cursor is not one this API gave out")
    return mode, moment, pk


def thread(*, key: ApiKey, conversation: Conversation) -> list[Message]:
    """The messages in order with their attachments; internal notes only for a key of no
    merchant."""
    messages = Message.objects.filter(conversation=conversation)
    if key.merchant_id is not None:
        messages = messages.filter(public=True)
    return list(
        messages.prefetch_related(
            Prefetch("attachments", queryset=Attachment.objects.order_by("id"))
        ).order_by("created_at", "id")
    )


def tags_matching(*, key: ApiKey, prefix: str, limit: int) -> list[Tag]:
    """A merchant's key: only the tags on its merchant's conversations."""
    return conversation_selectors.tags_matching(
        prefix=prefix, limit=limit, merchant_id=key.merchant_id
    )
