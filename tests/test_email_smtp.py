"""The transports: a real SMTP (and LMTP) round trip into ``sellerdesk smtpd`` on a free port,
and ``sellerdesk fetchmail`` against a mailbox (the IMAP server is the one seam replaced)."""

from __future__ import annotations

import smtplib
import socket
import threading
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from sellerdesk.connectors.email.models import InboundEmail, InboundState
from sellerdesk.conversations.models import Conversation
from tests.emails import fixture, write


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def smtpd(transactional_db, settings, tmp_path):
    """``sellerdesk smtpd`` running in a thread; yields a function that starts it."""
    from sellerdesk.connectors.email.management.commands.smtpd import Command

    settings.MEDIA_ROOT = tmp_path
    settings.SELLERDESK_EMAIL_MAX_BYTES = 200_000
    running: list[tuple[Command, threading.Thread]] = []

    def start(*args: str) -> int:
        port = _free_port()
        command = Command(stdout=StringIO(), stderr=StringIO())
        thread = threading.Thread(
            target=call_command, args=(command, "--port", str(port), *args), daemon=True
        )
        thread.start()
        assert command.listening.wait(10), "smtpd did not start"
        running.append((command, thread))
        return port

    yield start
    for command, thread in running:
        command.stopping.set()
        thread.join(10)
        assert not thread.is_alive()


def test_a_mail_sent_over_smtp_becomes_a_conversation(smtpd, alice):
    port = smtpd()
    raw = fixture("charset-gb2312-lying.eml")
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        refused = client.sendmail("alice@acme.test", ["support@sellerdesk.test"], raw)
    assert refused == {}
    row = InboundEmail.objects.get()
    # As sent, but for line ends (SMTP's CRLF; smtplib ends the data with one).
    assert bytes(row.raw).replace(b"\r\n", b"\n").rstrip() == raw.replace(b"\r\n", b"\n").rstrip()
    assert (row.source, row.mail_from, row.rcpt_to) == (
        "smtp", "alice@acme.test", ["support@sellerdesk.test"],
    )  # fmt: skip
    assert row.state == InboundState.PROCESSED
    conversation = Conversation.objects.get()
    assert conversation.merchant == alice.merchant
    assert conversation.channel == "email"
    assert "𠮷 € 镕" in conversation.messages.get().body


def test_lmtp_answers_once_per_recipient(smtpd, alice):
    port = smtpd("--lmtp")
    recipients = ["support@sellerdesk.test", "help@sellerdesk.test"]
    with smtplib.LMTP("127.0.0.1", port, timeout=10) as client:
        # smtplib reads one reply to DATA; LMTP sends one per recipient: read them by hand.
        client.ehlo_or_helo_if_needed()
        assert client.mail("alice@acme.test")[0] == 250
        for address in recipients:
            assert client.rcpt(address)[0] == 250
        replies = [client.data(write(subject="LMTP")), client.getreply()]
    assert [code for code, _ in replies] == [250, 250]
    row = InboundEmail.objects.get()
    assert row.source == "lmtp"
    assert row.state == InboundState.PROCESSED
    assert Conversation.objects.get().subject == "LMTP"


def test_a_mail_over_the_size_limit_is_refused_and_nothing_stored(smtpd, alice):
    port = smtpd()
    raw = write(body="x" * 300_000)
    with (
        smtplib.SMTP("127.0.0.1", port, timeout=10) as client,
        pytest.raises(smtplib.SMTPException),
    ):
        client.sendmail("alice@acme.test", ["support@sellerdesk.test"], raw)
    assert not InboundEmail.objects.exists()


def test_smtpd_processes_mail_an_earlier_run_stored_but_left(smtpd, alice):
    from sellerdesk.connectors.email.services import inbound_receive

    row = inbound_receive(raw=write(subject="left over"), source="smtp")
    smtpd()
    row.refresh_from_db()
    assert row.state == InboundState.PROCESSED


# --- fetchmail ----------------------------------------------------------------------------------


def test_fetchmail_says_clearly_when_imap_is_not_configured(db, settings):
    settings.IMAP_HOST = ""
    with pytest.raises(CommandError, match="IMAP is not configured: set IMAP_HOST"):
        call_command("fetchmail")


class FakeMailbox:
    """The IMAP server's side of what fetch_new uses: unread messages, and the seen flag."""

    def __init__(self, messages: dict[str, bytes]) -> None:
        self.messages = messages
        self.seen: set[str] = set()

    def fetch(self, criteria, mark_seen=True, limit=None):
        assert mark_seen is False
        assert str(criteria) == "(UNSEEN)"
        for uid, raw in list(self.messages.items())[:limit]:
            if uid not in self.seen:
                yield type("Message", (), {"uid": uid, "raw": raw})()

    def flag(self, uid_list, flag_set, value):
        assert value is True
        self.seen.add(uid_list)


def test_fetchmail_stores_each_unread_mail_then_marks_it_seen(db, alice, settings, tmp_path):
    from sellerdesk.connectors.email.imap import fetch_new

    settings.MEDIA_ROOT = tmp_path
    mailbox = FakeMailbox(
        {"1": write(subject="bir"), "2": fixture("charset-koi8-r.eml"), "3": write(sender="")}
    )
    run = fetch_new(mailbox)
    assert (run.fetched, run.processed, run.quarantined) == (3, 2, 1)
    assert mailbox.seen == {"1", "2", "3"}
    assert InboundEmail.objects.filter(source="imap").count() == 3
    assert fetch_new(mailbox).fetched == 0  # nothing unread is left
