"""The SMTP/LMTP receiver behind ``sellerdesk smtpd`` (aiosmtpd).

The marketplace's mail server hands mail to it. A mail is acknowledged (250) only once its
raw bytes are committed to the database; if they cannot be, the answer is 451 and the sending
server tries again later. Processing follows in the same thread; its failure quarantines the
mail but does not refuse it, since it is already stored.

**Lanes.** Mail is stored and processed in *lanes*: worker threads, each with its own database
connection, kept from mail to mail. A mail's lane is chosen by its envelope sender's domain,
so one sender's mails (a merchant's message, then its follow-up a second later) are processed
in the order they arrived, and a reply never overtakes the mail it answers; mails from other
domains go on meanwhile. On PostgreSQL, while one lane waits for the database another parses
and threads its mail: several lanes keep one core busy (``SELLERDESK_SMTPD_LANES``, default 4).
SQLite has one writer at a time, so there the default is one lane.
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP, Envelope, Session
from django.conf import settings
from django.db import connection, connections

from sellerdesk.connectors.email.models import InboundSource
from sellerdesk.connectors.email.services import inbound_accept, inbound_process

logger = logging.getLogger(__name__)


def default_lanes() -> int:
    """``SELLERDESK_SMTPD_LANES``, else 1 on SQLite (one writer at a time) and 4 elsewhere."""
    configured: int = settings.SELLERDESK_SMTPD_LANES
    if configured > 0:
        return configured
    return 1 if connection.vendor == "sqlite" else 4


def sender_domain(mail_from: str) -> str:
    """The domain of an envelope sender, as lanes are chosen by (empty for the null sender
    of bounces, ``<>``)."""
    return mail_from.strip().strip("<>").rpartition("@")[2].strip().lower()


class InboundHandler:
    """aiosmtpd's handler: each mail is stored and processed in its sender's lane, a worker
    thread (the database is used from the lanes, never from the event loop)."""

    def __init__(self, *, lmtp: bool = False, lanes: int | None = None) -> None:
        self.source = InboundSource.LMTP if lmtp else InboundSource.SMTP
        count = lanes if lanes is not None else default_lanes()
        if count < 1:
            raise ValueError("an SMTP receiver needs at least one lane")
        self.lanes = [
            ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"sellerdesk-smtpd-{index}")
            for index in range(count)
        ]

    def lane(self, mail_from: str) -> ThreadPoolExecutor:
        """The lane of a sender's mails: the same for every mail of one domain."""
        domain = sender_domain(mail_from).encode("utf-8", "surrogateescape")
        return self.lanes[zlib.crc32(domain) % len(self.lanes)]

    def submit(self, raw: bytes, mail_from: str, rcpt_to: list[str]) -> Future[bool]:
        """Store and process a mail in its lane; the future says whether it was stored."""
        return self.lane(mail_from).submit(self._deliver, raw, mail_from, rcpt_to)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        stored = await asyncio.wrap_future(
            self.submit(raw, envelope.mail_from or "", list(envelope.rcpt_tos))
        )
        if stored:
            reply = "250 2.0.0 Message accepted"
        else:
            reply = "451 4.3.0 The message could not be stored; try again later"
        if self.source == InboundSource.LMTP:
            # LMTP answers DATA once per recipient.
            return "\r\n".join(reply for _ in envelope.rcpt_tos) or reply
        return reply

    def _deliver(self, raw: bytes, mail_from: str, rcpt_to: list[str]) -> bool:
        _recover_connections()
        try:
            inbound, parsed = inbound_accept(
                raw=raw, source=self.source, mail_from=mail_from, rcpt_to=rcpt_to
            )
        except Exception:
            logger.exception("could not store a mail from %s", mail_from)
            return False
        try:
            inbound_process(inbound=inbound, raw=raw, parsed=parsed)
        except Exception:  # stored: a later run (or an admin) processes it
            logger.exception("could not process inbound e-mail %s", inbound.pk)
        return True

    def close(self) -> None:
        """Close each lane's database connection, then the lanes."""
        for lane in self.lanes:
            lane.submit(connections.close_all).result()
            lane.shutdown()


def _recover_connections() -> None:
    """Before a mail: a lane's connection that saw an error and no longer answers is closed,
    and the mail opens a new one (a database restarted meanwhile). A working connection is
    kept from mail to mail whatever ``CONN_MAX_AGE`` says: opening one costs more than
    processing a mail."""
    for conn in connections.all(initialized_only=True):
        if conn.connection is not None and conn.errors_occurred and not conn.is_usable():
            conn.close()


class _LMTPController(Controller):
    def factory(self) -> LMTP:
        return LMTP(self.handler, **self.SMTP_kwargs)


def build_controller(
    *, host: str, port: int, lmtp: bool = False, lanes: int | None = None
) -> Controller:
    """A receiver, not yet started (``.start()``/``.stop()``; ``.handler.close()`` after)."""
    handler = InboundHandler(lmtp=lmtp, lanes=lanes)
    kwargs: dict[str, Any] = {
        "hostname": host,
        "port": port,
        "data_size_limit": settings.SELLERDESK_EMAIL_MAX_BYTES,
    }
    if lmtp:
        return _LMTPController(handler, **kwargs)
    return Controller(handler, **kwargs)
