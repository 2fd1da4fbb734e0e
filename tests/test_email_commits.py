"""How a mail is committed: the raw mail durably and first (its reading overlapping the
flush to disk on PostgreSQL), then its processing in one transaction that, being redone from
the stored mail should it be lost, does not wait for its own flush. Outside any test
transaction, as ``sellerdesk smtpd`` runs."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection

from sellerdesk.connectors.email.models import InboundEmail, InboundState
from sellerdesk.connectors.email.parsing import ParsedMail
from sellerdesk.connectors.email.services import inbound_accept, inbound_process
from tests.emails import deliver, fixture, write

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def _setting(name: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SHOW {name}")
        return str(cursor.fetchone()[0])


def test_an_accepted_mail_is_committed_and_read_before_it_is_processed(alice):
    raw = write(subject="Ödeme gecikti", body="Merhaba.")
    inbound, parsed = inbound_accept(raw=raw, source="smtp", mail_from="alice@acme.test")
    assert isinstance(parsed, ParsedMail)
    assert parsed.subject == "Ödeme gecikti"
    assert not connection.in_atomic_block
    stored = InboundEmail.objects.get(pk=inbound.pk)
    assert bytes(stored.raw) == raw
    assert stored.state == InboundState.RECEIVED
    if connection.vendor == "postgresql":
        assert connection.connection.info.transaction_status == 0  # idle: committed
    row = inbound_process(inbound=inbound, raw=raw, parsed=parsed)
    assert row.state == InboundState.PROCESSED
    assert row.conversation.merchant == alice.merchant


def test_a_parse_failure_found_while_storing_is_quarantined_with_its_text(db):
    raw = write(subject="x")
    inbound, _ = inbound_accept(raw=raw, source="smtp")
    row = inbound_process(inbound=inbound, raw=raw, parsed=ValueError("unreadable header"))
    assert row.state == InboundState.QUARANTINED
    assert row.error == "ValueError: unreadable header"
    assert bytes(InboundEmail.objects.get(pk=inbound.pk).raw) == raw


@pytest.mark.skipif("connection.vendor != 'postgresql'")
def test_a_mail_the_database_refuses_is_not_stored_and_the_connection_stays_usable(db):
    with pytest.raises(DatabaseError):
        inbound_accept(raw=write(), source="s" * 40)  # longer than the column holds
    assert connection.connection.info.transaction_status == 0
    assert not InboundEmail.objects.exists()
    assert deliver(write()).pk is not None


@pytest.mark.skipif("connection.vendor != 'postgresql'")
def test_only_the_processing_transaction_skips_waiting_for_its_flush(alice):
    seen: list[str] = []

    def during(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if sql.startswith('INSERT INTO "conversations_message"'):
            with connection.cursor() as cursor:
                cursor.execute("SHOW synchronous_commit")
                seen.append(cursor.fetchone()[0])
        return result

    with connection.execute_wrapper(during):
        row = deliver(fixture("charset-gb2312-lying.eml"))
    assert row.state == InboundState.PROCESSED
    assert seen == ["off"]
    assert _setting("synchronous_commit") == "on"  # for the connection's next transactions
