"""Threading: replies, reply-all from another address of the merchant, forwards and reply
tokens join their conversation; nothing from another merchant ever does."""

from __future__ import annotations

import pytest

from sellerdesk.connectors.email.models import EmailThread, InboundState, MessageIdRef
from sellerdesk.conversations.models import AuthorType, Conversation
from sellerdesk.conversations.workflow import reply_post
from sellerdesk.outbox.models import OutboxItem
from tests.emails import deliver, fixture, write


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def opened(alice):
    """Alice wrote to support; the row of her first mail."""
    return deliver(write(subject="Ödeme gecikti", message_id="<first@acme.test>"))


@pytest.fixture
def answered(opened, agent):
    """...and an agent answered by mail: the Message-ID of that reply."""
    message = reply_post(conversation=opened.conversation, author=agent, body="Kontrol ediyoruz.")
    return MessageIdRef.objects.get(message=message, outbound=True).mail_id


def _token(conversation: Conversation) -> str:
    return EmailThread.objects.get(conversation=conversation).token


def test_a_reply_to_our_reply_joins_the_conversation(opened, answered):
    row = deliver(
        write(
            subject="Re: Ödeme gecikti",
            in_reply_to=f"<{answered}>",
            references=["<first@acme.test>", f"<{answered}>"],
        )
    )
    assert row.conversation == opened.conversation
    assert opened.conversation.messages.count() == 3


def test_references_alone_thread_a_reply(opened, answered):
    row = deliver(write(subject="Re: Ödeme", references=["<first@acme.test>"]))
    assert row.conversation == opened.conversation


def test_reply_all_from_another_address_of_the_same_merchant_joins(opened, answered, bob):
    row = deliver(
        write(sender="Bob Bulut <bob@acme.test>", in_reply_to=f"<{answered}>"),
        mail_from="bob@acme.test",
    )
    assert row.conversation == opened.conversation
    assert row.message.author_user == bob
    # Replies now go to whoever of the merchant wrote last.
    assert (
        EmailThread.objects.get(conversation=opened.conversation).reply_address == "bob@acme.test"
    )


def test_a_forward_with_the_token_in_the_subject_joins(opened, answered, bob):
    token = _token(opened.conversation)
    row = deliver(
        write(
            sender="bob@acme.test",
            subject=f"Fwd: Re: Ödeme gecikti [#SD-{token}]",
            body="Forwarding Alice's thread.\n\n---------- Forwarded message ---------\n...",
        )
    )
    assert row.conversation == opened.conversation


def test_the_reply_address_token_threads_a_mail_without_headers(opened):
    token = _token(opened.conversation)
    row = deliver(
        write(subject="another subject", to=f"support+{token}@sellerdesk.test"),
        rcpt_to=[f"support+{token}@sellerdesk.test"],
    )
    assert row.conversation == opened.conversation


def test_a_forged_in_reply_to_from_another_merchant_opens_its_own_conversation(
    opened, answered, eve
):
    token = _token(opened.conversation)
    row = deliver(
        write(
            sender="Eve <eve@globex.test>",
            subject=f"Re: Ödeme gecikti [#SD-{token}]",
            in_reply_to=f"<{answered}>",
            references=["<first@acme.test>", f"<{answered}>"],
            to=f"support+{token}@sellerdesk.test",
        ),
        mail_from="eve@globex.test",
        rcpt_to=[f"support+{token}@sellerdesk.test"],
    )
    assert row.state == InboundState.PROCESSED
    assert row.conversation != opened.conversation
    assert row.conversation.merchant == eve.merchant
    assert opened.conversation.messages.count() == 2
    # Its own conversation gets its own token.
    assert _token(row.conversation) != token


def test_an_unknown_sender_quoting_a_merchants_ids_does_not_join(opened, answered, settings):
    settings.SELLERDESK_UNKNOWN_SENDER_COUNTRY = "TR"
    row = deliver(write(sender="stranger@else.test", in_reply_to=f"<{answered}>"))
    assert row.conversation != opened.conversation
    assert row.conversation.merchant.external_id == "email:stranger@else.test"


def test_a_new_subject_without_references_opens_a_new_conversation(opened):
    row = deliver(write(subject="Başka bir konu"))
    assert row.conversation != opened.conversation


def test_a_delivery_report_for_our_reply_lands_in_its_conversation_as_a_note(opened, answered):
    raw = fixture("bounce-dsn.eml").replace(b"{{OUTBOUND_ID}}", f"<{answered}>".encode())
    row = deliver(raw, mail_from="")
    assert row.conversation == opened.conversation
    assert (row.message.author_type, row.message.public) == (AuthorType.SYSTEM, False)
    assert "Delivery failure report" in row.message.author_name


def test_our_own_reply_coming_back_is_not_a_message(opened, answered):
    row = deliver(
        write(sender="support@sellerdesk.test", message_id=f"<{answered}>"),
        mail_from="support@sellerdesk.test",
    )
    assert row.conversation is None
    assert "our own reply" in row.note
    assert OutboxItem.objects.count() == 1
