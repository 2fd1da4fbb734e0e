"""The SMTP/LMTP receiver behind ``sellerdesk smtpd`` (aiosmtpd).

The marketplace's mail server hands mail to it. A mail is acknowledged (250) only once its
raw bytes are committed to the database; if they cannot be, the answer is 451 and the sending
server tries again later. Processing follows in the same thread; its failure quarantines the
mail but does not refuse it, since it is already stored.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP, Envelope, Session
from django.conf import settings
from django.db import close_old_connections, connections

from sellerdesk.connectors.email.models import InboundSource
from sellerdesk.connectors.email.services import inbound_accept, inbound_process

logger = logging.getLogger(__name__)


class InboundHandler:
    """aiosmtpd's handler: each mail is stored and processed in one worker thread (the
    database is used from one thread, never from the event loop)."""

    def __init__(self, *, lmtp: bool = False) -> None:
        self.source = InboundSource.LMTP if lmtp else InboundSource.SMTP
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sellerdesk-smtpd")

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        loop = asyncio.get_running_loop()
        stored = await loop.run_in_executor(
            self.executor, self._deliver, raw, envelope.mail_from or "", list(envelope.rcpt_tos)
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
        close_old_connections()
        try:
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
        finally:
            close_old_connections()

    def close(self) -> None:
        """Close the worker thread's database connection, then the thread."""
        self.executor.submit(connections.close_all).result()
        self.executor.shutdown()


class _LMTPController(Controller):
    def factory(self) -> LMTP:
        return LMTP(self.handler, **self.SMTP_kwargs)


def build_controller(*, host: str, port: int, lmtp: bool = False) -> Controller:
    """A receiver, not yet started (``.start()``/``.stop()``; ``.handler.close()`` after)."""
    handler = InboundHandler(lmtp=lmtp)
    kwargs: dict[str, Any] = {
        "hostname": host,
        "port": port,
        "data_size_limit": settings.SELLERDESK_EMAIL_MAX_BYTES,
    }
    if lmtp:
        return _LMTPController(handler, **kwargs)
    return Controller(handler, **kwargs)
