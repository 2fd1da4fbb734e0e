"""Reads for the desk's conversation page: the e-mail side of a thread's messages."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sellerdesk.connectors.email.models import EmailMessageInfo
from sellerdesk.conversations.models import Channel, Conversation, Message
from sellerdesk.outbox.models import OutboxItem


@dataclass
class ThreadMail:
    #: Message id → the outbox status of its e-mail (pending, delivered, failed).
    delivery: dict[int, str] = field(default_factory=dict)
    #: Message id → where its quoted history starts.
    quoted_from: dict[int, int] = field(default_factory=dict)


def thread_mail(*, conversation: Conversation, messages: Sequence[Message]) -> ThreadMail | None:
    """Two queries for a whole e-mail thread; None (and no query) for other channels."""
    if conversation.channel != Channel.EMAIL:
        return None
    pks = [m.pk for m in messages]
    keys = {f"reply:{pk}": pk for pk in pks}
    info = ThreadMail()
    for key, status in OutboxItem.objects.filter(key__in=list(keys)).values_list("key", "status"):
        info.delivery[keys[key]] = status
    for pk, offset in EmailMessageInfo.objects.filter(
        message_id__in=pks, quoted_from__isnull=False
    ).values_list("message_id", "quoted_from"):
        if offset is not None:
            info.quoted_from[pk] = offset
    return info
