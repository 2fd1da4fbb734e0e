"""Malformed mail: truncated, deeply nested, huge, and headers that try to inject others.

Whatever arrives, the raw bytes are kept, the receiver neither crashes nor hangs, and the mail
ends processed or quarantined with a reason an admin can read. (Lying charsets have their own
fixtures in tests/fixtures/email; the standard library's corpus runs in test_email_parsing.)
"""

from __future__ import annotations

import base64
import os
from email.message import EmailMessage

import pytest
from django.core import mail

from sellerdesk.connectors.email.models import InboundEmail, InboundState
from sellerdesk.conversations.models import Conversation
from sellerdesk.conversations.workflow import reply_post
from sellerdesk.outbox import delivery
from tests.emails import deliver, fixture


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def _kept_and_settled(row, raw: bytes) -> None:
    stored = InboundEmail.objects.get(pk=row.pk)
    assert bytes(stored.raw) == raw
    assert stored.state in (InboundState.PROCESSED, InboundState.QUARANTINED)
    if stored.state == InboundState.QUARANTINED:
        assert stored.error.strip()


@pytest.mark.parametrize("fraction", [0.05, 0.2, 0.35, 0.5, 0.65, 0.8, 0.95])
def test_a_truncated_mail_is_kept_and_settled(alice, fraction):
    whole = fixture("attachments.eml")
    raw = whole[: int(len(whole) * fraction)]

    row = deliver(raw)

    _kept_and_settled(row, raw)


def _nested(depth: int) -> bytes:
    head = (
        b"From: Alice Acar <alice@acme.test>\r\nTo: support@sellerdesk.test\r\n"
        b"Subject: nested\r\nMessage-ID: <nested@acme.test>\r\nMIME-Version: 1.0\r\n"
    )
    parts = [head]
    for level in range(depth):
        parts.append(
            b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (level, level)
        )
    parts.append(b"Content-Type: text/plain\r\n\r\nthe innermost text\r\n")
    for level in reversed(range(depth)):
        parts.append(b"--b%d--\r\n" % level)
    return b"".join(parts)


@pytest.mark.parametrize("depth", [50, 2000])
def test_deeply_nested_multipart_neither_crashes_nor_hangs(alice, depth):
    raw = _nested(depth)

    row = deliver(raw)

    _kept_and_settled(row, raw)


def test_a_50_mb_attachment_is_dropped_with_a_note_and_the_text_kept(alice, settings):
    settings.SELLERDESK_ATTACHMENT_MAX_BYTES = 10 * 1024 * 1024
    message = EmailMessage()
    message["From"] = "Alice Acar <alice@acme.test>"
    message["To"] = "support@sellerdesk.test"
    message["Subject"] = "Katalog"
    message.set_content("Kataloğumuz ekte.")
    message.add_attachment(
        os.urandom(50 * 1024 * 1024), maintype="application", subtype="zip", filename="katalog.zip"
    )
    raw = message.as_bytes()

    row = deliver(raw)

    assert row.state == InboundState.PROCESSED
    body = row.message.body
    assert body.startswith("Kataloğumuz ekte.")
    assert "katalog.zip" in body
    assert "not kept" in body
    assert not row.message.attachments.exists()


def _encoded(text: str) -> str:
    return "=?utf-8?b?" + base64.b64encode(text.encode()).decode() + "?="


def test_line_breaks_smuggled_into_headers_never_become_headers_of_our_replies(alice, agent):
    # Written as bytes: the standard library refuses to write such headers itself.
    raw = (
        f"From: {_encoded('Alice' + chr(13) + chr(10) + 'Bcc: thief@evil.test')} <alice@acme.test>\r\n"
        "To: support@sellerdesk.test\r\n"
        f"Subject: {_encoded('Ödeme' + chr(13) + chr(10) + 'Bcc: thief@evil.test' + chr(13) + chr(10) + 'X-Injected: yes')}\r\n"
        "Message-ID: <smuggled@acme.test>\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\nMerhaba.\r\n"
    ).encode()
    row = deliver(raw)
    assert row.state == InboundState.PROCESSED
    conversation = Conversation.objects.get(pk=row.conversation.pk)
    assert "\r" not in conversation.subject
    assert "\n" not in conversation.subject
    assert "\n" not in row.message.author_name

    reply_post(conversation=conversation, author=agent, body="Kontrol ediyoruz.")
    assert delivery.deliver_due().delivered == 1

    (sent,) = mail.outbox
    assert sent.recipients() == ["alice@acme.test"]
    wire = sent.message().as_bytes()
    assert b"\nBcc:" not in wire
    assert b"\nX-Injected:" not in wire
    assert b"thief@evil.test" not in wire.split(b"\n\n", 1)[0].replace(b"=?", b"")


def test_a_header_with_bare_line_breaks_in_the_raw_bytes_is_kept_and_settled(alice):
    raw = (
        b"From: alice@acme.test\r\nTo: support@sellerdesk.test\r\n"
        b"Subject: one\rBcc: thief@evil.test\r\n\r\nbody\r\n"
    )

    row = deliver(raw)

    _kept_and_settled(row, raw)
    if row.state == InboundState.PROCESSED:
        assert "\r" not in row.conversation.subject
