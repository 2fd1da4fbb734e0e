"""Writing conversations out in the interchange format, streamed in chunks of rows."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from django.db import connection

from sellerdesk.conversations.interchange import format_timestamp
from sellerdesk.conversations.models import Conversation, ConversationTag, Message, StatusChange
from sellerdesk.core.db import read_snapshot, snapshot_moment

CHUNK = 1000


def export_lines(*, chunk_size: int = CHUNK) -> Iterator[str]:
    """One JSON line per stored conversation, in order of id (so two exports of the same
    conversations are the same file, however they were written); memory flat.

    The whole export reads one snapshot: a backup of a live desk holds each conversation as
    it was at one moment, with exactly the messages and status changes it had then, and no
    conversation filed after the export began.
    """
    with read_snapshot(connection, repeatable=True):
        yield from _lines(chunk_size)


@contextmanager
def export_snapshot() -> Iterator[datetime]:
    """One snapshot for an export and whatever else must read exactly what it holds (the
    report of the backed-up state); yields the snapshot's moment (``core.db.snapshot_moment``).
    ``export_lines`` inside it reads this snapshot."""
    with read_snapshot(connection, repeatable=True):
        yield snapshot_moment(connection)


def _lines(chunk_size: int) -> Iterator[str]:
    last_id: str | None = None
    while True:
        rows = list(
            (Conversation.objects.filter(external_id__gt=last_id) if last_id else Conversation.objects)
            .order_by("external_id")
            .values_list(
                "pk", "external_id", "merchant__external_id", "merchant__name", "country",
                "merchant__status", "merchant__language", "channel", "kind", "initiated_by",
                "subject", "created_at", "outcome", "spam",
            )[:chunk_size]
        )  # fmt: skip
        if not rows:
            return
        last_id = rows[-1][1]
        ids = [row[0] for row in rows]
        messages: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for cid, mid, a_type, a_id, a_name, public, body, created in (
            Message.objects.filter(conversation_id__in=ids)
            .order_by("conversation_id", "created_at", "pk")
            .values_list(
                "conversation_id", "external_id", "author_type", "author_id", "author_name",
                "public", "body", "created_at",
            )
        ):  # fmt: skip
            author = {"type": a_type}
            if a_id:
                author["id"] = a_id
            if a_name:
                author["name"] = a_name
            messages[cid].append(
                {"id": mid, "author": author, "public": public, "body": body,
                 "created_at": format_timestamp(created)}
            )  # fmt: skip
        changes: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for cid, status, at, by in (
            StatusChange.objects.filter(conversation_id__in=ids)
            .order_by("conversation_id", "at", "seq")
            .values_list("conversation_id", "status", "at", "by")
        ):
            change = {"status": status, "at": format_timestamp(at)}
            if by:
                change["by"] = by
            changes[cid].append(change)
        tags: dict[int, list[str]] = defaultdict(list)
        for cid, display in (
            ConversationTag.objects.filter(conversation_id__in=ids)
            .order_by("conversation_id", "tag__name")
            .values_list("conversation_id", "tag__display_name")
        ):
            tags[cid].append(display)
        for (pk, ext, m_id, m_name, country, m_status, m_lang, channel, kind, initiated_by,
             subject, created, outcome, spam) in rows:  # fmt: skip
            merchant: dict[str, Any] = {"id": m_id, "country": country, "status": m_status}
            if m_name:
                merchant["name"] = m_name
            if m_lang:
                merchant["language"] = m_lang
            line = {
                "id": ext,
                "merchant": merchant,
                "channel": channel,
                "kind": kind,
                "initiated_by": initiated_by,
                "subject": subject,
                "created_at": format_timestamp(created),
                "tags": tags.get(pk, []),
                "messages": messages.get(pk, []),
                "status_changes": changes.get(pk, []),
                "outcome": outcome,
                "spam": spam,
            }
            yield json.dumps(line, ensure_ascii=False, separators=(",", ":"))
