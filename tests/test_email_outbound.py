"""Agents' public replies on e-mail conversations go out through the outbox, threaded for the
merchant's client; the desk shows their delivery state and folds quoted history."""

from __future__ import annotations

import pytest
from django.core import mail
from django.urls import reverse

from sellerdesk.connectors.email.models import EmailThread
from sellerdesk.connectors.email.outbound import reply_subject
from sellerdesk.conversations.workflow import reply_post
from sellerdesk.outbox import delivery
from sellerdesk.outbox.models import OutboxItem, OutboxStatus
from sellerdesk.outbox.services import message_id_for
from tests.emails import deliver, fixture, write


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def conversation(alice):
    deliver(write(subject="Ödeme gecikti", message_id="<first@acme.test>"))
    row = deliver(
        write(subject="Re: Ödeme gecikti", message_id="<second@acme.test>",
              in_reply_to="<first@acme.test>")
    )  # fmt: skip
    return row.conversation


def test_an_agents_public_reply_is_queued_with_threading_headers(conversation, agent, settings):
    message = reply_post(conversation=conversation, author=agent, body="Kontrol ediyoruz.\nAda")
    item = OutboxItem.objects.get(key=f"reply:{message.pk}")
    token = EmailThread.objects.get(conversation=conversation).token
    payload = item.payload
    assert payload["to"] == ["alice@acme.test"]
    assert payload["subject"] == f"Re: Ödeme gecikti [#SD-{token}]"
    assert payload["reply_to"] == [f"support+{token}@sellerdesk.test"]
    assert payload["headers"]["In-Reply-To"] == "<second@acme.test>"
    assert payload["headers"]["References"] == "<first@acme.test> <second@acme.test>"
    assert payload["body"] == "Kontrol ediyoruz.\nAda"
    assert "Kontrol ediyoruz.<br>Ada" in payload["html"]


def test_the_outbox_sends_it_with_its_message_id_and_both_parts(conversation, agent, settings):
    message = reply_post(conversation=conversation, author=agent, body="<b>not markup</b> & ok")
    run = delivery.deliver_due()
    assert run.delivered == 1
    sent = mail.outbox[0]
    key = f"reply:{message.pk}"
    assert sent.extra_headers["Message-ID"] == message_id_for(key, settings.SELLERDESK_MAIL_DOMAIN)
    assert sent.extra_headers["In-Reply-To"] == "<second@acme.test>"
    assert sent.reply_to == [f"support+{EmailThread.objects.get().token}@sellerdesk.test"]
    assert sent.body == "<b>not markup</b> & ok"
    ((html, mimetype),) = sent.alternatives
    assert mimetype == "text/html"
    assert "&lt;b&gt;not markup&lt;/b&gt; &amp; ok" in html
    raw = sent.message().as_bytes()
    assert b"multipart/alternative" in raw
    assert b"References: <first@acme.test>" in raw


def test_the_merchants_answer_to_the_sent_reply_threads_back(conversation, agent):
    message = reply_post(conversation=conversation, author=agent, body="Sipariş numarası?")
    delivery.deliver_due()
    sent_id = mail.outbox[0].extra_headers["Message-ID"]
    row = deliver(write(subject="Re: x", in_reply_to=sent_id, body="42"))
    assert row.conversation == conversation
    assert message.pk < row.message.pk


def test_notes_merchant_replies_and_other_channels_send_nothing(conversation, agent, alice):
    reply_post(conversation=conversation, author=agent, body="internal", public=False)
    reply_post(conversation=conversation, author=alice, body="from the portal")
    assert not OutboxItem.objects.exists()


def test_a_web_conversation_reply_sends_no_mail(acme_conversation, agent):
    reply_post(conversation=acme_conversation, author=agent, body="Hello")
    assert not OutboxItem.objects.exists()


def test_a_reply_on_an_email_conversation_without_mail_goes_to_the_merchants_users(
    acme, alice, bob, agent
):
    from sellerdesk.conversations.services import conversation_open

    conversation = conversation_open(
        merchant=acme, channel="email", subject="İçe aktarıldı", body="imported", author_id="x"
    )
    message = reply_post(conversation=conversation, author=agent, body="Merhaba")
    payload = OutboxItem.objects.get(key=f"reply:{message.pk}").payload
    assert payload["to"] == ["alice@acme.test", "bob@acme.test"]
    assert "In-Reply-To" not in payload["headers"]


def test_reply_subjects_keep_one_prefix_and_one_token():
    assert reply_subject("Re: Ödeme [#SD-abcdefgh]", "abcdefgh") == "Re: Ödeme [#SD-abcdefgh]"
    assert reply_subject("", "abcdefgh") == "Re: Your conversation with support [#SD-abcdefgh]"
    assert reply_subject("回复：发票", "abcdefgh") == "回复：发票 [#SD-abcdefgh]"


def test_the_desk_shows_delivery_state_and_folds_quoted_history(alice, agent, client_for):
    row = deliver(fixture("quoted-gmail.eml"))
    conversation = row.conversation
    reply = reply_post(conversation=conversation, author=agent, body="Teşekkürler")
    client = client_for(agent)
    url = reverse("desk:conversation", args=[conversation.pk])
    page = client.get(url).content.decode()
    assert 'data-delivery="pending"' in page
    assert "E-mail queued" in page
    assert '<details class="quoted"><summary>Quoted text</summary>On Mon, 28 Feb 2022' in page
    delivery.deliver_due()
    assert 'data-delivery="delivered"' in client.get(url).content.decode()
    OutboxItem.objects.filter(key=f"reply:{reply.pk}").update(status=OutboxStatus.FAILED)
    assert "E-mail failed" in client.get(url).content.decode()


def test_other_channels_pages_make_no_email_queries(acme_conversation, agent, client_for):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = client_for(agent)
    with CaptureQueriesContext(connection) as queries:
        client.get(reverse("desk:conversation", args=[acme_conversation.pk]))
    assert not [q for q in queries if "email_connector" in q["sql"] or "outbox" in q["sql"]]
