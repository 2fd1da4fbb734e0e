"""Full-text search over conversation subjects and message bodies, in every script.

A query is a list of terms: words, or "quoted phrases". A conversation matches when its
subject, or one of its messages the reader may see, holds every term. How a term is looked up
depends on the database (the indexes are made by migration 0011_search):

- PostgreSQL: a term of letters and digits is a full-text prefix match on ``to_tsvector('simple', ...)``
  (``order`` finds "orders", ``환불`` finds "환불을"), a phrase's words adjacent; a term with
  Chinese or Japanese characters, which have no spaces between words, or with anything but
  letters, digits and spaces (``50%``, ``order_ref``, ``e-mail``), is a substring match (``ILIKE``) served by the pg_trgm index from three
  characters on.
- SQLite: every term is a substring match in the FTS5 trigram index; a term shorter than three
  characters, which a trigram index cannot hold, falls back to ``LIKE`` over the column.

Terms are data, never syntax: ``%``, ``_``, quotes, ``*``, ``OR``, ``NEAR`` are looked up as
the text they are. These functions narrow a queryset that the caller has already scoped to
the reader and filtered; they never widen it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.db.models import (
    BooleanField,
    Count,
    Exists,
    F,
    Func,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.expressions import RawSQL
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import ngettext

from sellerdesk.conversations.models import Conversation, Message, Tag
from sellerdesk.core.cursors import cursor_pack, cursor_unpack
from sellerdesk.core.errors import ValidationError
from sellerdesk.core.text import parse_id
from sellerdesk.core.timeutil import TimestampError, parse_rfc3339

MAX_QUERY_CHARS = 200
MAX_TERMS = 8
#: The shortest term a trigram index holds.
TRIGRAM = 3
#: Characters of context on each side of the first hit in a snippet.
SNIPPET_CONTEXT = 70

# Han, Hiragana, Katakana (and their half-width and compatibility forms).
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f]")
#: A quoted phrase (the closing quote may be missing) or a bare word.
_TOKEN = re.compile(r'"([^"]*)"?|([^\s"]+)')
_WORD = re.compile(r"[^\W_]+")


@dataclass(frozen=True)
class SearchQuery:
    text: str
    terms: tuple[str, ...]


def parse_query(text: str | None) -> SearchQuery | None:
    """The terms of a search, or None when there is nothing to look for.

    ValidationError (a message for the person who typed it) when the query is too long or has
    too many terms.
    """
    if text is None:
        return None
    # Control characters (NUL included, which PostgreSQL text cannot hold) are separators.
    cleaned = "".join(" " if unicodedata.category(c).startswith("C") else c for c in text)
    cleaned = cleaned.strip()
    if not cleaned:
        return None
    if len(cleaned) > MAX_QUERY_CHARS:
        raise ValidationError(
            ngettext(
                "A search may be at most %(count)d character long.",
                "A search may be at most %(count)d characters long.",
                MAX_QUERY_CHARS,
            )
            % {"count": MAX_QUERY_CHARS}
        )
    terms: list[str] = []
    for match in _TOKEN.finditer(cleaned):
        term = " ".join((match.group(1) if match.group(1) is not None else match.group(2)).split())
        if term and term not in terms:
            terms.append(term)
    if not terms:
        return None
    if len(terms) > MAX_TERMS:
        raise ValidationError(
            ngettext(
                "A search may have at most %(count)d word or phrase.",
                "A search may have at most %(count)d words or phrases.",
                MAX_TERMS,
            )
            % {"count": MAX_TERMS}
        )
    return SearchQuery(text=cleaned, terms=tuple(terms))


# --- Predicates ------------------------------------------------------------------------------


class _TsMatches(Func):
    """``to_tsvector('simple', column) @@ to_tsquery('simple', query)``: the expression of the
    GIN indexes conv_message_fts_idx and conv_subject_fts_idx, spelt alike so they serve it."""

    output_field = BooleanField()
    arg_joiner = ") @@ to_tsquery('simple'::regconfig, "
    template = "(to_tsvector('simple'::regconfig, %(expressions)s))"


class _HasWord(Func):
    """``strpos(lower(column), lower(word)) > 0``: a necessary condition of a full-text match
    of an ASCII word (its lexeme, and every word the prefix finds, is the lowercased text of a
    token of the column), put before it. It is far cheaper than parsing the column with
    ``to_tsvector``, which a walk does for every message it checks and which a check that
    fails (nearly all of them, for a term in a few percent of messages) then never does."""

    output_field = BooleanField()
    arg_joiner = "), lower("
    template = "(strpos(lower(%(expressions)s)) > 0)"


class _ILike(Func):
    """``column ILIKE pattern``: pg_trgm's GIN index serves it (Django's icontains is
    ``UPPER(column) LIKE UPPER(...)``, which no index serves)."""

    output_field = BooleanField()
    arg_joiner = " ILIKE "
    template = "(%(expressions)s)"


def _like_pattern(term: str) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _tsquery(words: list[str]) -> str:
    # Words are runs of \w: no quote, colon, bracket or operator can reach the parser.
    return " <-> ".join(f"'{word}':*" for word in words)


def _is_substring_term(term: str) -> bool:
    # Full text only for letters and digits between spaces: the parser would split or drop
    # anything else ("50%", "order_ref", "e-mail"), so those are looked up as written.
    return bool(_CJK.search(term)) or not all(c.isalnum() or c == " " for c in term)


def _postgresql(column: str, query: SearchQuery) -> Q:
    phrases: list[str] = []
    words: list[str] = []
    condition = Q()
    for term in query.terms:
        if _is_substring_term(term):
            condition &= Q(_ILike(F(column), Value(_like_pattern(term))))
        else:
            found = _WORD.findall(term)
            phrases.append(_tsquery(found))
            words += [w for w in found if w.isascii() and w not in words]
    if phrases:
        tsquery = " & ".join(f"({phrase})" for phrase in phrases)
        prefilter = Q()
        for word in words:
            prefilter &= Q(_HasWord(F(column), Value(word)))
        condition = prefilter & Q(_TsMatches(F(column), Value(tsquery))) & condition
    return condition


def _fts5_string(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


def _sqlite(column: str, fts_table: str, query: SearchQuery) -> Q:
    indexed = [t for t in query.terms if len(t) >= TRIGRAM]
    condition = Q()
    if indexed:
        match = " AND ".join(_fts5_string(t) for t in indexed)
        # The table name is one of ours; the query is a parameter.
        sql = f"SELECT rowid FROM {fts_table} WHERE {fts_table} MATCH %s"  # noqa: S608
        condition &= Q(pk__in=RawSQL(sql, [match]))  # noqa: S611
    for term in query.terms:
        if len(term) < TRIGRAM:
            # Too short for a trigram: a scan with LIKE (ASCII letters case-insensitively).
            condition &= Q(**{f"{column}__icontains": term})
    return condition


def subject_matches(query: SearchQuery) -> Q:
    """The condition on a Conversation that its subject holds every term."""
    if connection.vendor == "postgresql":
        return _postgresql("subject", query)
    return _sqlite("subject", "conversations_subject_fts", query)


def _message_matches(query: SearchQuery) -> Q:
    if connection.vendor == "postgresql":
        return _postgresql("body", query)
    return _sqlite("body", "conversations_message_fts", query)


def messages_matching(query: SearchQuery, *, public_only: bool) -> QuerySet[Message]:
    rows = Message.objects.filter(_message_matches(query))
    return rows.filter(public=True) if public_only else rows


def body_matches(query: SearchQuery, *, public_only: bool) -> Q:
    """The condition on a Conversation that one of its messages (public ones only for a
    merchant) holds every term.

    A scalar subquery, not EXISTS: PostgreSQL may turn EXISTS into a join driven by the
    messages, which for a term its statistics misjudge (a phrase, a prefix) reads every
    message; a scalar subquery stays a look at each conversation's own few messages.
    """
    first = messages_matching(query, public_only=public_only).filter(conversation=OuterRef("pk"))
    return (
        Q(Exists(first))
        if connection.vendor != "postgresql"
        else Q(_IsNotNull(Subquery(first.values("pk")[:1])))
    )


class _IsNotNull(Func):
    output_field = BooleanField()
    template = "(%(expressions)s IS NOT NULL)"


#: How many matching subjects, and matching messages, PostgreSQL fetches from the GIN indexes
#: before it gives up on starting from the matches and walks the page's order instead.
SUBJECT_CAP = 1_000
MESSAGE_CAP = 1_000


@contextmanager
def _planner(*methods: str) -> Iterator[None]:
    """Run the block with these plan methods off, and no JIT compilation (PostgreSQL; nothing
    elsewhere), put back after (``SET LOCAL`` ends with the transaction, which may be a
    caller's). A walk's estimated cost is high enough to trigger JIT, which costs more than
    the walk itself."""
    if connection.vendor != "postgresql":
        yield
        return
    names = ["jit", *(f"enable_{method}" for method in methods)]
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        cursor.execute("; ".join(f"SET LOCAL {name} = off" for name in names))
        try:
            yield
        finally:
            cursor.execute("; ".join(f"SET LOCAL {name} TO DEFAULT" for name in names))


@dataclass(frozen=True)
class Plan:
    """Where a search starts on PostgreSQL. With the ids (a term rare enough), from them; with
    None (a common term, any term an index cannot serve, or SQLite), by walking the page's
    own order and checking each conversation, which stops after a page of hits.

    Chosen by counting, not by the planner's estimate: a prefix (``'order':*``) or substring
    term has no statistics, and a wrong guess either sorts every match of a common word or
    walks every conversation for a word found nowhere (seconds, both, over 5M messages).
    """

    subject_ids: list[int] | None = None
    message_ids: list[int] | None = None

    @property
    def walk(self) -> bool:
        return self.subject_ids is None or self.message_ids is None


def _indexed(query: SearchQuery) -> bool:
    return any(not _is_substring_term(t) or len(t) >= TRIGRAM for t in query.terms)


def _capped(rows: QuerySet[Any], cap: int) -> list[int] | None:
    found = list(rows[: cap + 1])
    return list(dict.fromkeys(found)) if len(found) <= cap else None


#: The newest conversations a probe looks at, and the hits among them that make a term common.
PROBE = 200
COMMON = 5


def _common(query: SearchQuery) -> tuple[bool, bool]:
    """Whether the term is common in subjects, and in messages: found in at least ``COMMON``
    of the ``PROBE`` newest conversations. A walk then fills a page soon, and counting the
    matches in the GIN index (every posting of a common word) would cost more than the page."""
    newest = Conversation.objects.order_by("-created_at", "-pk").values("pk")[:PROBE]
    sample = Conversation.objects.filter(pk__in=Subquery(newest))
    with walking(Plan()):
        counts = sample.aggregate(
            subjects=Count("pk", filter=subject_matches(query)),
            messages=Count("pk", filter=body_matches(query, public_only=False)),
        )
    return counts["subjects"] >= COMMON, counts["messages"] >= COMMON


def plan(query: SearchQuery, *, public_only: bool) -> Plan:
    """Fetch the matching ids when there are few (two queries on PostgreSQL, none elsewhere).

    A merchant's search (``public_only``) always walks: it reads that merchant's own
    conversations through the (merchant, created_at) index, however common the term is
    across the marketplace, which counting would have to find out first."""
    if connection.vendor != "postgresql" or not _indexed(query) or public_only:
        return Plan()
    common_subjects, common_messages = _common(query)
    subject_ids = message_ids = None
    # Only the GIN indexes answer these; a sequential scan "until enough" would read the whole
    # table for a rare term.
    with _planner("seqscan"):
        if not common_subjects:
            subject_ids = _capped(
                Conversation.objects.filter(subject_matches(query)).values_list("pk", flat=True),
                SUBJECT_CAP,
            )
        if not common_messages:
            rows = messages_matching(query, public_only=public_only)
            message_ids = _capped(rows.values_list("conversation_id", flat=True), MESSAGE_CAP)
    return Plan(subject_ids=subject_ids, message_ids=message_ids)


def walking(chosen: Plan) -> AbstractContextManager[None]:
    """Where a plan walks, evaluate its querysets in this block: the page's order is then read
    through its index."""
    # No bitmap (collect every match, then sort) and no sequential scan (read everything,
    # then sort): the page's own index, then each conversation's own messages.
    return _planner("bitmapscan", "seqscan") if chosen.walk else nullcontext()


def _ids(ids: list[int]) -> RawSQL:
    return RawSQL("SELECT unnest(%s::bigint[])", (ids,))


def matching(
    rows: QuerySet[Conversation], query: SearchQuery, *, public_only: bool, chosen: Plan
) -> QuerySet[Conversation]:
    """``rows`` narrowed to the conversations whose subject or a visible message matches, the
    way ``chosen`` says (evaluate it inside ``walking(chosen)``)."""
    if chosen.subject_ids is not None and chosen.message_ids is not None:
        return rows.filter(pk__in=_ids(sorted(set(chosen.subject_ids) | set(chosen.message_ids))))
    return rows.filter(subject_matches(query) | Q(body_matches(query, public_only=public_only)))


# --- Snippets --------------------------------------------------------------------------------


def _highlight_pattern(query: SearchQuery) -> re.Pattern[str]:
    pieces: set[str] = set()
    for term in query.terms:
        if _is_substring_term(term) or connection.vendor != "postgresql":
            pieces.add(term)
        else:
            pieces.update(_WORD.findall(term))
    ordered = sorted(pieces, key=len, reverse=True)
    return re.compile("|".join(re.escape(p) for p in ordered), re.IGNORECASE)


def snippet(text: str, query: SearchQuery) -> SafeString:
    """The passage of ``text`` around the first hit, HTML-escaped, hits in ``<mark>``."""
    text = " ".join(text.split())
    pattern = _highlight_pattern(query)
    first = pattern.search(text)
    start = max(0, first.start() - SNIPPET_CONTEXT) if first else 0
    end = min(len(text), (first.end() if first else 0) + SNIPPET_CONTEXT)
    if first is None:
        end = min(len(text), 2 * SNIPPET_CONTEXT)
    window = text[start:end]
    parts: list[str] = ["…" if start > 0 else ""]
    position = 0
    for hit in pattern.finditer(window):
        parts.append(escape(window[position : hit.start()]))
        parts.append(f"<mark>{escape(hit.group(0))}</mark>")
        position = hit.end()
    parts.append(escape(window[position:]))
    parts.append("…" if end < len(text) else "")
    # Every piece of the text went through escape(); only our own <mark> tags are markup.
    return mark_safe("".join(parts))  # noqa: S308


def snippets(
    rows: list[Conversation], query: SearchQuery, *, public_only: bool
) -> dict[int, SafeString]:
    """For each conversation, a snippet of its first matching message (visible to the reader),
    else of its subject. One query whatever the number of rows."""
    ids = [row.pk for row in rows]
    found: dict[int, SafeString] = {}
    if ids:
        matches = (
            messages_matching(query, public_only=public_only)
            .filter(conversation_id__in=ids)
            .order_by("conversation_id", "created_at", "id")
            .values_list("conversation_id", "body")
        )
        for conversation_id, body in matches:
            if conversation_id not in found:
                found[conversation_id] = snippet(body, query)
    for row in rows:
        if row.pk not in found:
            found[row.pk] = snippet(row.subject, query)
    return found


# --- Ranked results --------------------------------------------------------------------------

#: Ranks: the subject holds the query, else one of the messages does.
SUBJECT, MESSAGE = 0, 1


@dataclass
class Hit:
    conversation: Conversation
    rank: int
    snippet: SafeString


@dataclass
class SearchPage:
    hits: list[Hit]
    next_cursor: str | None
    query: SearchQuery | None = None


class BadSearchCursor(ValueError):
    """A cursor the search did not give out."""


def _decode(cursor: str) -> tuple[int, datetime, int]:
    try:
        rank, moment, pk = cursor_unpack(cursor)
        if rank not in (SUBJECT, MESSAGE) or isinstance(rank, bool) or not isinstance(moment, str):
            raise TypeError(rank)
        when = parse_rfc3339(moment)
    except (ValueError, TypeError, TimestampError):
        raise BadSearchCursor("the cursor is not one this search gave out") from None
    if isinstance(pk, bool) or parse_id(pk) is None:
        raise BadSearchCursor("the cursor is not one this search gave out")
    return rank, when, pk


def _page(rows: QuerySet[Conversation], size: int) -> list[Conversation]:
    return list(
        rows.order_by("-created_at", "-pk")
        .select_related("merchant", "assignee", "team")
        .prefetch_related(Prefetch("tags", queryset=Tag.objects.order_by("name")))[:size]
    )


def ranked(
    rows: QuerySet[Conversation],
    query: SearchQuery,
    *,
    public_only: bool,
    cursor: str | None = None,
    limit: int = 50,
) -> SearchPage:
    """One page of ``rows`` matching ``query``, best first: conversations whose subject holds
    the query, then those where only a message does, each newest first.

    Each rank is one walk of at most ``limit + 1`` rows (no ranking of every match, so a common
    word costs what a rare one does); a page costs at most two such queries, their tags, and
    one query for the snippets.
    """
    start_rank, after = SUBJECT, None
    if cursor:
        start_rank, moment, pk = _decode(cursor)
        after = Q(created_at__lt=moment) | Q(created_at=moment, pk__lt=pk)
    subject = subject_matches(query)
    chosen = plan(query, public_only=public_only)
    subjects = Q(pk__in=_ids(chosen.subject_ids)) if chosen.subject_ids is not None else subject
    found: list[tuple[int, Conversation]] = []
    single = connection.vendor == "postgresql" and not _indexed(query)
    if single:
        # Only terms no index holds (a two-character Chinese word): proving that no subject
        # matches would read every conversation, so one walk finds both kinds of hit, newest
        # first, and says which each is.
        part = matching(rows, query, public_only=public_only, chosen=chosen)
        if after is not None:
            part = part.filter(after)
        pattern = _highlight_pattern(query)
        with walking(chosen):
            page = list(_page(part, limit + 1))
        found = [(SUBJECT if pattern.search(row.subject) else MESSAGE, row) for row in page]
    for rank in (SUBJECT, MESSAGE):
        if single or rank < start_rank:
            continue
        if rank == SUBJECT:
            part, walk = rows.filter(subjects), chosen.subject_ids is None
        elif chosen.message_ids is not None:
            part, walk = rows.filter(pk__in=_ids(chosen.message_ids)).exclude(subjects), False
        else:
            part = rows.filter(body_matches(query, public_only=public_only)).exclude(subjects)
            walk = True
        if after is not None and rank == start_rank:
            part = part.filter(after)
        with walking(Plan() if walk else Plan([], [])):
            found.extend((rank, row) for row in _page(part, limit + 1 - len(found)))
        if len(found) > limit:
            break
    next_cursor = None
    if len(found) > limit:
        found = found[:limit]
        rank, last = found[-1]
        next_cursor = cursor_pack([rank, last.created_at.isoformat(), last.pk])
    texts = snippets([row for _, row in found], query, public_only=public_only)
    return SearchPage(
        hits=[Hit(conversation=row, rank=rank, snippet=texts[row.pk]) for rank, row in found],
        next_cursor=next_cursor,
        query=query,
    )
