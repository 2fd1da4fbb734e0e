"""Fetching mail from an IMAP mailbox (imap-tools) for ``sellerdesk fetchmail``.

Unread mail is read without marking it (``BODY.PEEK``), stored raw, then marked seen, so a
run killed half-way leaves the rest unread for the next one. Mark nothing as read in that
mailbox by hand: read mail is not fetched.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from django.conf import settings
from imap_tools import AND, MailBox, MailMessage, MailMessageFlags

from sellerdesk.connectors.email.models import InboundSource, InboundState
from sellerdesk.connectors.email.services import inbound_accept, inbound_process


class NotConfiguredError(Exception):
    pass


class RawMailMessage(MailMessage):
    """imap-tools' message, keeping the bytes as the server sent them."""

    def __init__(self, fetch_data: list[Any]) -> None:
        self.raw: bytes = self._get_message_data_parts(fetch_data)[0]
        super().__init__(fetch_data)


class Mailbox(Protocol):
    def fetch(self, *args: Any, **kwargs: Any) -> Iterator[Any]: ...

    def flag(self, uid_list: Any, flag_set: Any, value: bool) -> Any: ...


def configured() -> bool:
    return bool(settings.IMAP_HOST and settings.IMAP_USER and settings.IMAP_PASSWORD)


def connect() -> MailBox:
    if not configured():
        raise NotConfiguredError(
            "IMAP is not configured: set IMAP_HOST, IMAP_USER and IMAP_PASSWORD "
            "(IMAP_FOLDER defaults to INBOX, IMAP_PORT to 993)."
        )
    mailbox = MailBox(settings.IMAP_HOST, port=settings.IMAP_PORT)
    mailbox.email_message_class = RawMailMessage
    return mailbox.login(
        settings.IMAP_USER, settings.IMAP_PASSWORD, initial_folder=settings.IMAP_FOLDER
    )


@dataclass
class FetchRun:
    fetched: int = 0
    processed: int = 0
    quarantined: int = 0


def fetch_new(mailbox: Mailbox, *, limit: int | None = None) -> FetchRun:
    """Store and process every unread mail, marking each seen once stored."""
    run = FetchRun()
    for message in mailbox.fetch(AND(seen=False), mark_seen=False, limit=limit):
        inbound, parsed = inbound_accept(raw=message.raw, source=InboundSource.IMAP)
        mailbox.flag(message.uid, MailMessageFlags.SEEN, True)
        run.fetched += 1
        processed = inbound_process(inbound=inbound, raw=message.raw, parsed=parsed)
        if processed.state == InboundState.PROCESSED:
            run.processed += 1
        else:
            run.quarantined += 1
    return run
