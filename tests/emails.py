"""Helpers for the e-mail channel's tests: mail written as a merchant's client writes it, the
.eml fixtures, and a mail handed to the receiving service."""

from __future__ import annotations

import runpy
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "email"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def expected() -> dict[str, tuple[str, str]]:
    """What each text fixture must read as (subject, a passage of its text): see make.py."""
    return runpy.run_path(str(FIXTURES / "make.py"))["EXPECTED"]


def write(
    *,
    sender: str = "Alice Acar <alice@acme.test>",
    to: str = "support@sellerdesk.test",
    subject: str = "Ödeme gecikti",
    body: str = "Merhaba, ödemem gelmedi.",
    in_reply_to: str | None = None,
    references: list[str] | None = None,
    headers: dict[str, str] | None = None,
    message_id: str | None = None,
) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = message_id or make_msgid(domain="mail.test")
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
    if references:
        message["References"] = " ".join(references)
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(body)
    return message.as_bytes()


def deliver(
    raw: bytes, *, mail_from: str = "alice@acme.test", rcpt_to=("support@sellerdesk.test",)
):
    from sellerdesk.connectors.email.services import inbound_deliver

    return inbound_deliver(raw=raw, source="smtp", mail_from=mail_from, rcpt_to=list(rcpt_to))
