"""The transports: a real SMTP (and LMTP) round trip into ``sellerdesk smtpd`` on a free port,
and ``sellerdesk fetchmail`` against a mailbox (the IMAP server is the one seam replaced)."""

from __future__ import annotations

import smtplib
import socket
import threading
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

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


# --- lanes ----------------------------------------------------------------------------------------


def test_a_sender_domain_is_read_from_the_envelope_sender():
    from sellerdesk.connectors.email.smtp import sender_domain

    assert sender_domain("alice@ACME.test") == "acme.test"
    assert sender_domain("<bob@acme.test>") == "acme.test"
    assert sender_domain("") == ""  # the null sender of a bounce
    assert sender_domain("<>") == ""


def test_the_default_lanes_follow_the_database(db, settings):
    from sellerdesk.connectors.email.smtp import InboundHandler, default_lanes

    settings.SELLERDESK_SMTPD_LANES = 0
    assert default_lanes() == (1 if connection.vendor == "sqlite" else 4)
    settings.SELLERDESK_SMTPD_LANES = 3
    handler = InboundHandler()
    try:
        assert len(handler.lanes) == 3
    finally:
        for lane in handler.lanes:
            lane.shutdown()
    with pytest.raises(ValueError, match="at least one lane"):
        InboundHandler(lanes=0)


def test_smtpd_refuses_fewer_than_one_lane(db):
    with pytest.raises(CommandError, match="--lanes must be at least 1"):
        call_command("smtpd", "--lanes", "0")


# SQLite's test database lives in memory with a shared cache, where a second writer fails at
# once ("table is locked") instead of waiting its turn as on a file; one lane is SQLite's default.
@pytest.mark.skipif("connection.vendor != 'postgresql'")
def test_one_domain_keeps_one_lane_and_its_mails_keep_their_order(
    transactional_db, alice, bob, settings, tmp_path
):
    """A merchant's mail and the reply to it, handed over back to back among other senders'
    mails in four lanes, land in one conversation: the reply is never processed before the
    mail it answers."""
    from sellerdesk.connectors.email.smtp import InboundHandler

    settings.MEDIA_ROOT = tmp_path
    settings.SELLERDESK_UNKNOWN_SENDER_COUNTRY = "TR"
    handler = InboundHandler(lanes=4)
    try:
        assert handler.lane("alice@acme.test") is handler.lane("bob@ACME.test")
        first = write(subject="Ödeme gecikti", message_id="<first@acme.test>")
        reply = write(
            sender="Bob Bulut <bob@acme.test>",
            subject="Re: Ödeme gecikti",
            in_reply_to="<first@acme.test>",
            references=["<first@acme.test>"],
        )
        strangers = [
            write(sender=f"Applicant {n} <a{n}@applicant{n}.test>", subject=f"Başvuru {n}")
            for n in range(6)
        ]
        futures = [handler.submit(first, "alice@acme.test", [])]
        futures += [
            handler.submit(raw, f"a{n}@applicant{n}.test", []) for n, raw in enumerate(strangers)
        ]
        futures.append(handler.submit(reply, "bob@acme.test", []))
        assert all(future.result(timeout=60) for future in futures)
    finally:
        handler.close()
    assert InboundEmail.objects.filter(state=InboundState.PROCESSED).count() == 8
    acme = Conversation.objects.get(merchant=alice.merchant)
    assert acme.messages.count() == 2
    assert Conversation.objects.count() == 7


def test_a_lane_keeps_its_connection_from_mail_to_mail(transactional_db, alice, settings, tmp_path):
    from sellerdesk.connectors.email.smtp import InboundHandler

    settings.MEDIA_ROOT = tmp_path
    handler = InboundHandler(lanes=1)

    def raw_connection() -> int:
        connection.ensure_connection()
        return id(connection.connection)

    try:
        assert handler.submit(write(subject="bir"), "alice@acme.test", []).result(timeout=30)
        before = handler.lanes[0].submit(raw_connection).result()
        assert handler.submit(write(subject="iki"), "alice@acme.test", []).result(timeout=30)
        assert handler.lanes[0].submit(raw_connection).result() == before
    finally:
        handler.close()
    assert InboundEmail.objects.filter(state=InboundState.PROCESSED).count() == 2


@pytest.mark.skipif("connection.vendor != 'postgresql'")
def test_a_lane_whose_connection_died_answers_try_again_then_reconnects(
    transactional_db, alice, settings, tmp_path
):
    """The database ended the lane's session (a restart): that mail is answered 451, which the
    sending server retries; the lane's next mail opens a new connection and is stored."""
    from sellerdesk.connectors.email.smtp import InboundHandler

    settings.MEDIA_ROOT = tmp_path
    handler = InboundHandler(lanes=1)

    def backend() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            return int(cursor.fetchone()[0])

    try:
        assert handler.submit(write(subject="bir"), "alice@acme.test", []).result(timeout=30)
        pid = handler.lanes[0].submit(backend).result()
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
        assert not handler.submit(write(subject="iki"), "alice@acme.test", []).result(timeout=30)
        assert handler.submit(write(subject="üç"), "alice@acme.test", []).result(timeout=30)
        assert handler.lanes[0].submit(backend).result() != pid
    finally:
        handler.close()
    assert sorted(InboundEmail.objects.values_list("state", flat=True)) == ["processed"] * 2
