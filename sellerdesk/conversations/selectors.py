"""Reads of conversations, always scoped to who is asking.

A merchant user sees their own merchant's conversations (public messages only); staff see
every conversation. Anything else is a 404, never a 403 that would confirm the id exists.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import F, Prefetch, Q, QuerySet
from django.http import Http404
from django.utils import timezone
from django.utils.safestring import SafeString

from sellerdesk.accounts.models import Role, Team, User
from sellerdesk.conversations import search
from sellerdesk.conversations.models import (
    RESOLVED_STATUSES,
    UNASSIGNED_STATUSES,
    WORKING_STATUSES,
    Activity,
    Attachment,
    Conversation,
    ConversationTag,
    ConversationViewer,
    Macro,
    Message,
    Status,
    Tag,
)
from sellerdesk.core.countries import EU_MEMBERS
from sellerdesk.core.cursors import cursor_pack, cursor_unpack
from sellerdesk.core.text import normalize_tag, parse_id
from sellerdesk.core.timeutil import parse_rfc3339


def _visible(user: User) -> QuerySet[Conversation]:
    if not user.is_authenticated or not user.is_active:
        return Conversation.objects.none()
    if user.is_agent:
        return Conversation.objects.all()
    if user.role == Role.MERCHANT and user.merchant_id is not None:
        return Conversation.objects.filter(merchant_id=user.merchant_id)
    return Conversation.objects.none()


def conversation_visible_to(user: User, conversation: Conversation) -> bool:
    """Whether ``user`` may see ``conversation``, already read: the rule of ``_visible``, for
    a row read some other way (the chat's batches read theirs locked, all at once)."""
    if not user.is_authenticated or not user.is_active:
        return False
    if user.is_agent:
        return True
    return (
        user.role == Role.MERCHANT
        and user.merchant_id is not None
        and conversation.merchant_id == user.merchant_id
    )


def conversation_get(*, user: User, pk: int | str) -> Conversation:
    """The conversation if the person may see it, else 404."""
    key = parse_id(pk)
    if key is None:
        raise Http404("no such conversation")
    row = _visible(user).select_related("merchant", "assignee", "team").filter(pk=key).first()
    if row is None:
        raise Http404("no such conversation")
    return row


def thread(*, user: User, conversation: Conversation) -> list[Message]:
    """The messages in order, with their attachments; internal notes only for staff."""
    messages = Message.objects.filter(conversation=conversation)
    if not user.is_agent:
        messages = messages.filter(public=True)
    return list(
        messages.select_related("author_user")
        .prefetch_related(Prefetch("attachments", queryset=Attachment.objects.order_by("id")))
        .order_by("created_at", "id")
    )


def attachment_get(*, user: User, conversation: Conversation, pk: int | str) -> Attachment:
    key = parse_id(pk)
    if key is None:
        raise Http404("no such attachment")
    rows = Attachment.objects.filter(conversation=conversation, pk=key).select_related("message")
    row = rows.first()
    if row is None or (not user.is_agent and not row.message.public):
        raise Http404("no such attachment")
    return row


def activities(*, conversation: Conversation) -> list[Activity]:
    return list(
        Activity.objects.filter(conversation=conversation)
        .select_related("actor")
        .order_by("at", "id")
    )


def latest_message_id(*, conversation: Conversation, merchant_only: bool = False) -> int:
    rows = Message.objects.filter(conversation=conversation)
    if merchant_only:
        rows = rows.filter(author_type="merchant")
    # The maximum in Python, over the conversation's own few rows: "ORDER BY id DESC LIMIT 1"
    # (or MAX) tempts PostgreSQL to walk the whole primary key backwards instead.
    return max(rows.order_by().values_list("id", flat=True), default=0)


#: The most messages one replay sends; a client that missed more reloads the page.
REPLAY_LIMIT = 200


def messages_after(
    *, user: User, after: int, conversation: Conversation | None = None, limit: int = REPLAY_LIMIT
) -> list[Message]:
    """What a reconnecting chat client missed: the stored messages the person may see (a
    merchant: their merchant's public ones), with an id above ``after``, oldest first, in one
    conversation or in all the person may see.

    Within one conversation ids are in commit order: every message is inserted with its
    conversation's row locked (``services.message_add``, ``bulk``), which is held to the
    commit, so a message with a lower id is never committed after one with a higher id. Across
    conversations that does not hold on PostgreSQL (two transactions commit in either order):
    a client that follows several conversations keeps a cursor for each
    (``messages_after_each``)."""
    rows = Message.objects.filter(conversation__in=_visible(user), pk__gt=max(after, 0))
    if conversation is not None:
        rows = rows.filter(conversation=conversation)
    if not user.is_agent:
        rows = rows.filter(public=True)
    return list(rows.order_by("id")[:limit])


def messages_after_each(
    *, user: User, cursors: dict[int, int], limit: int = REPLAY_LIMIT
) -> list[Message]:
    """``messages_after`` for several conversations at once, each above its own last seen id
    (exact whatever order concurrent transactions committed in); conversations the person may
    not see give nothing."""
    if not cursors:
        return []
    wanted = Q()
    for conversation_id, after in cursors.items():
        wanted |= Q(conversation_id=conversation_id, pk__gt=max(after, 0))
    rows = Message.objects.filter(wanted, conversation__in=_visible(user))
    if not user.is_agent:
        rows = rows.filter(public=True)
    return list(rows.order_by("id")[:limit])


def other_viewers(*, conversation: Conversation, user: User, seconds: int = 45) -> list[User]:
    """Other staff who had the conversation open within the last ``seconds``."""
    since = timezone.now() - timedelta(seconds=seconds)
    return [
        v.user
        for v in ConversationViewer.objects.filter(conversation=conversation, seen_at__gte=since)
        .exclude(user=user)
        .select_related("user")
        .order_by("user__email")
    ]


# --- The merchant portal --------------------------------------------------------------------


#: The portal's lists: conversations a page.
MERCHANT_PAGE = 50


def merchant_conversations(
    *, user: User, past: bool, cursor: str | None = None, limit: int | None = None
) -> tuple[list[Conversation], str | None]:
    """A page of the merchant's open (or past: solved and closed) conversations, newest
    first (``MERCHANT_PAGE`` of them unless ``limit`` says), and the cursor of the next page
    (None on the last); 404 for a cursor this list did not give out."""
    limit = limit or MERCHANT_PAGE
    rows = _visible(user) if user.is_merchant_user else Conversation.objects.none()
    rows = (
        rows.filter(status__in=sorted(RESOLVED_STATUSES))
        if past
        else rows.exclude(status__in=sorted(RESOLVED_STATUSES))
    )
    if cursor:
        moment, pk = _decode_cursor(cursor)
        if moment is None:
            raise Http404("bad cursor")
        rows = rows.filter(Q(created_at__lt=moment) | Q(created_at=moment, id__lt=pk))
    page = list(rows.order_by("-created_at", "-id")[: limit + 1])
    if len(page) <= limit:
        return page, None
    last = page[limit - 1]
    return page[:limit], _encode_cursor(last.created_at, last.pk)


def merchant_search(
    *, user: User, text: str, cursor: str | None = None, limit: int = 25
) -> search.SearchPage:
    """A merchant user's search: their merchant's conversations only, public messages only
    (never an internal note), ranked. ValidationError for a search that cannot be run; 404
    for a cursor this search did not give out."""
    query = search.parse_query(text)
    rows = _visible(user) if user.is_merchant_user else Conversation.objects.none()
    if query is None:
        return search.SearchPage(hits=[], next_cursor=None)
    try:
        return search.ranked(rows, query, public_only=True, cursor=cursor, limit=limit)
    except search.BadSearchCursor:
        raise Http404("bad cursor") from None


def merchant_other_conversations(
    *, conversation: Conversation, limit: int = 10
) -> list[Conversation]:
    """For the merchant card in the desk: the merchant's other conversations, newest first."""
    return list(
        Conversation.objects.filter(merchant_id=conversation.merchant_id)
        .exclude(pk=conversation.pk)
        .order_by("-created_at")[:limit]
    )


# --- The agents' inbox ----------------------------------------------------------------------

QUEUES = ("unassigned", "mine", "team", "waiting", "solved", "open")
QUEUE_LABELS = {
    "unassigned": "Unassigned",
    "mine": "Mine",
    "team": "My teams",
    "waiting": "Waiting on merchant",
    "solved": "Solved",
    "open": "All open",
}
SORTS = ("oldest", "newest", "due")
#: Queue counts stop here ("1000+"): an exact count of a huge queue costs a scan.
COUNT_CAP = 1000


@dataclass(frozen=True)
class InboxFilters:
    status: str = ""
    kind: str = ""
    tag: str = ""
    channel: str = ""
    country: str = ""
    segment: str = ""
    #: "me", "none", or a user id.
    assignee: str = ""
    priority: str = ""
    #: A search (conversations.search): the subject or any message, notes included.
    q: str = ""

    def active(self) -> dict[str, str]:
        return {k: v for k, v in self.__dict__.items() if v}


@dataclass
class InboxPage:
    rows: list[Conversation]
    next_cursor: str | None
    queue: str
    sort: str
    filters: InboxFilters
    counts: dict[str, int] = field(default_factory=dict)
    #: With a search: each row's passage that matched, escaped, hits marked.
    snippets: dict[int, SafeString] = field(default_factory=dict)


def segment_countries(name: str) -> list[str]:
    entries = settings.SELLERDESK_SEGMENTS.get(name)
    if entries is None:
        return []
    codes: set[str] = set()
    for entry in entries:
        codes.update(EU_MEMBERS if entry == "EU" else {entry})
    return sorted(codes)


def _queue(user: User, queue: str) -> QuerySet[Conversation]:
    # Each queue's condition is its partial index's (models.Conversation.Meta.indexes), spelt
    # the same way so that the planner walks that index in the page's order.
    rows = _visible(user) if user.is_agent else Conversation.objects.none()
    if queue == "unassigned":
        return rows.filter(status__in=UNASSIGNED_STATUSES, assignee__isnull=True)
    if queue == "mine":
        return rows.filter(status__in=WORKING_STATUSES, assignee=user)
    if queue == "team":
        team_ids = list(Team.objects.filter(members=user).values_list("pk", flat=True))
        return rows.filter(status__in=WORKING_STATUSES, team_id__in=team_ids)
    if queue == "waiting":
        return rows.filter(status=Status.PENDING)
    if queue == "solved":
        return rows.filter(status=Status.SOLVED)
    if queue == "open":
        return rows.filter(status__in=WORKING_STATUSES)
    raise Http404("no such queue")


def _filtered(
    rows: QuerySet[Conversation],
    user: User,
    f: InboxFilters,
    query: search.SearchQuery | None = None,
    chosen: search.Plan | None = None,
) -> QuerySet[Conversation]:
    if query is not None:
        rows = search.matching(rows, query, public_only=False, chosen=chosen or search.Plan())
    if f.status:
        rows = rows.filter(status=f.status)
    if f.kind:
        rows = rows.filter(kind=f.kind)
    if f.channel:
        rows = rows.filter(channel=f.channel)
    if f.priority:
        rows = rows.filter(priority=f.priority)
    if f.country:
        rows = rows.filter(country=f.country.upper())
    if f.segment:
        rows = rows.filter(country__in=segment_countries(f.segment))
    if f.tag:
        rows = rows.filter(conversation_tags__tag__name=normalize_tag(f.tag))
    if f.assignee == "me":
        rows = rows.filter(assignee=user)
    elif f.assignee == "none":
        rows = rows.filter(assignee__isnull=True)
    elif f.assignee:
        assignee = parse_id(f.assignee)
        rows = rows.filter(assignee_id=assignee) if assignee is not None else rows.none()
    return rows


def _encode_cursor(key: Any, pk: int) -> str:
    return cursor_pack([key.isoformat() if isinstance(key, datetime) else key, pk])


def _decode_cursor(cursor: str) -> tuple[datetime | None, int]:
    try:
        value, pk = cursor_unpack(cursor)
        moment = parse_rfc3339(value) if value is not None else None
        if not isinstance(pk, int):
            raise TypeError(pk)
    except (ValueError, TypeError):
        raise Http404("bad cursor") from None
    if parse_id(pk) is None:
        raise Http404("bad cursor")
    return moment, pk


def _ordered(
    rows: QuerySet[Conversation], sort: str, cursor: str | None, due_field: str
) -> QuerySet[Conversation]:
    if sort == "due":
        if cursor:
            due, pk = _decode_cursor(cursor)
            if due is None:
                rows = rows.filter(**{f"{due_field}__isnull": True, "pk__gt": pk})
            else:
                rows = rows.filter(
                    Q(**{f"{due_field}__gt": due})
                    | Q(**{due_field: due, "pk__gt": pk})
                    | Q(**{f"{due_field}__isnull": True})
                )
        return rows.order_by(F(due_field).asc(nulls_last=True), "pk")
    newest = sort == "newest"
    if cursor:
        moment, pk = _decode_cursor(cursor)
        if moment is None:
            raise Http404("bad cursor")
        if newest:
            rows = rows.filter(Q(created_at__lt=moment) | Q(created_at=moment, pk__lt=pk))
        else:
            rows = rows.filter(Q(created_at__gt=moment) | Q(created_at=moment, pk__gt=pk))
    return rows.order_by("-created_at", "-pk") if newest else rows.order_by("created_at", "pk")


def due_field(queue: str) -> str:
    """What "due first" means in a queue: the merchant's deadline where support waits on the
    merchant, the earliest service-level target elsewhere."""
    return "merchant_due_at" if queue == "waiting" else "sla_due_at"


def inbox(
    *,
    user: User,
    queue: str = "unassigned",
    filters: InboxFilters | None = None,
    sort: str = "oldest",
    cursor: str | None = None,
    limit: int = 50,
) -> InboxPage:
    """One page of a queue: a fixed number of queries whatever ``limit`` is (one more, for the
    snippets, with a search). ValidationError for a search that cannot be run."""
    if queue not in QUEUES:
        raise Http404("no such queue")
    if sort not in SORTS:
        sort = "oldest"
    f = filters or InboxFilters()
    query = search.parse_query(f.q)
    chosen = search.plan(query, public_only=False) if query is not None else search.Plan([], [])
    rows = _ordered(
        _filtered(_queue(user, queue), user, f, query, chosen), sort, cursor, due_field(queue)
    )
    with search.walking(chosen):
        page = list(
            rows.select_related("merchant", "assignee", "team").prefetch_related(
                Prefetch("tags", queryset=Tag.objects.order_by("name"))
            )[: limit + 1]
        )
    next_cursor = None
    if len(page) > limit:
        page = page[:limit]
        last = page[-1]
        key = getattr(last, due_field(queue)) if sort == "due" else last.created_at
        next_cursor = _encode_cursor(key, last.pk)
    texts = search.snippets(page, query, public_only=False) if query is not None else {}
    return InboxPage(
        rows=page, next_cursor=next_cursor, queue=queue, sort=sort, filters=f, snippets=texts
    )


def queue_counts(*, user: User) -> dict[str, int]:
    """How many conversations each queue holds, counted up to one past ``COUNT_CAP`` (a
    count over the cap is shown as "1000+"; exactly 1000 is 1000)."""
    return {q: _queue(user, q).values("pk")[: COUNT_CAP + 1].count() for q in QUEUES}


def conversations_for_bulk(*, user: User, pks: list[int]) -> list[Conversation]:
    """The selected conversations the person may change, in a stable order."""
    if not user.is_agent:
        return []
    return list(_visible(user).filter(pk__in=pks).select_related("assignee").order_by("pk"))


# --- Look-ups for the desk's forms ----------------------------------------------------------


def tags_matching(*, prefix: str, limit: int = 10, merchant_id: int | None = None) -> list[Tag]:
    """Tag autocomplete: names starting with the typed text (case-insensitive), then names
    containing it. With ``merchant_id``: only tags on that merchant's conversations (what a
    merchant may see of the desk's tags)."""
    tags = Tag.objects.all()
    if merchant_id is not None:
        tags = tags.filter(
            pk__in=ConversationTag.objects.filter(conversation__merchant_id=merchant_id).values(
                "tag_id"
            )
        )
    text = normalize_tag(prefix)
    if not text:
        return list(tags.order_by("name")[:limit])
    starting = list(tags.filter(name__startswith=text).order_by("name")[:limit])
    if len(starting) < limit:
        seen = {t.pk for t in starting}
        starting += [
            t
            for t in tags.filter(name__contains=text).order_by("name")[: limit * 2]
            if t.pk not in seen
        ][: limit - len(starting)]
    return starting


def staff(*, active_only: bool = True) -> list[User]:
    rows = User.objects.filter(role__in=[Role.AGENT, Role.LEAD, Role.ADMIN])
    if active_only:
        rows = rows.filter(is_active=True)
    return list(rows.order_by("full_name", "email"))


def staff_get(*, pk: int | str) -> User:
    key = parse_id(pk)
    user = (
        User.objects.filter(
            pk=key, role__in=[Role.AGENT, Role.LEAD, Role.ADMIN], is_active=True
        ).first()
        if key is not None
        else None
    )
    if user is None:
        raise Http404("no such agent")
    return user


def teams() -> list[Team]:
    return list(Team.objects.order_by("name"))


def macros_for(*, user: User) -> list[Macro]:
    """Shared macros and those of the person's teams."""
    if not user.is_agent:
        return []
    return list(
        Macro.objects.filter(active=True)
        .filter(Q(team__isnull=True) | Q(team__members=user))
        .distinct()
        .order_by("name")
    )


def macro_get(*, user: User, pk: int | str) -> Macro:
    key = parse_id(pk)
    if key is None:
        raise Http404("no such macro")
    for macro in macros_for(user=user):
        if macro.pk == key:
            return macro
    raise Http404("no such macro")
