"""Mail into conversations: stored raw first, the sender's merchant found, attachments kept
within the limit, machines' mail kept apart, failures quarantined and processed again."""

from __future__ import annotations

import pytest
from django.urls import reverse

from sellerdesk.accounts.models import Merchant, MerchantStatus
from sellerdesk.connectors.email.models import (
    EmailMessageInfo,
    EmailThread,
    InboundEmail,
    InboundState,
    MessageIdRef,
)
from sellerdesk.connectors.email.services import inbound_process, inbound_receive
from sellerdesk.conversations.models import (
    Activity,
    Attachment,
    AuthorType,
    Conversation,
    Message,
    Status,
)
from sellerdesk.outbox.models import OutboxItem
from tests.emails import deliver, fixture, write


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    settings.SELLERDESK_ATTACHMENT_MAX_BYTES = 64 * 1024


def test_a_merchant_users_mail_opens_an_email_conversation_for_the_merchant(alice):
    row = deliver(write(subject="Ödeme gecikti", body="Merhaba, ödemem gelmedi."))
    assert row.state == InboundState.PROCESSED
    conversation = row.conversation
    assert conversation.merchant == alice.merchant
    assert conversation.channel == "email"
    assert conversation.country == "TR"
    assert conversation.subject == "Ödeme gecikti"
    assert conversation.created_at == row.received_at
    message = conversation.messages.get()
    assert (message.author_type, message.author_user, message.public) == ("merchant", alice, True)
    assert message.body == "Merhaba, ödemem gelmedi."
    assert EmailThread.objects.get(conversation=conversation).reply_address == "alice@acme.test"
    assert MessageIdRef.objects.filter(conversation=conversation, outbound=False).count() == 1
    assert Activity.objects.filter(conversation=conversation, verb="opened").exists()


def test_the_sender_is_matched_case_insensitively(alice):
    row = deliver(write(sender="ALICE <Alice@ACME.test>"))
    assert row.conversation.merchant == alice.merchant
    assert row.message.author_user == alice


def test_the_raw_mail_is_stored_before_processing_and_kept_byte_for_byte(alice):
    raw = fixture("charset-gb2312-lying.eml")
    row = inbound_receive(raw=raw, source="smtp", mail_from="alice@acme.test", rcpt_to=["a@b"])
    assert row.state == InboundState.RECEIVED
    assert bytes(InboundEmail.objects.get(pk=row.pk).raw) == raw
    assert inbound_process(inbound=row).state == InboundState.PROCESSED
    assert bytes(InboundEmail.objects.get(pk=row.pk).raw) == raw


def test_an_unknown_sender_opens_a_conversation_for_an_applicant(db, settings):
    settings.SELLERDESK_UNKNOWN_SENDER_COUNTRY = "DE"
    row = deliver(write(sender="Yeni Satıcı <new@shop.test>", subject="Başvuru"))
    assert row.state == InboundState.PROCESSED
    merchant = row.conversation.merchant
    assert merchant.external_id == "email:new@shop.test"
    assert merchant.status == MerchantStatus.POTENTIAL
    assert (merchant.country, merchant.name) == ("DE", "Yeni Satıcı")
    message = row.message
    assert (message.author_type, message.author_id, message.author_user) == (
        "merchant", "new@shop.test", None,
    )  # fmt: skip
    # Their next mail joins the same applicant's conversation.
    again = deliver(write(sender="new@shop.test", in_reply_to=f"<{row.mail_id}>"))
    assert again.conversation == row.conversation
    assert Merchant.objects.filter(external_id="email:new@shop.test").count() == 1


@pytest.mark.parametrize(
    ("address", "country"),
    [
        ("satici@firma.com.tr", "TR"),
        ("shop@maoyi.cn", "CN"),
        ("seller@store.co.uk", "GB"),
        ("Hello@Handel.DE.", "DE"),
        ("founder@startup.io", "DE"),  # sold worldwide: the setting's country
        ("owner@shop.com", "DE"),
        ("owner@shop.test", "DE"),
    ],
)
def test_an_applicants_country_is_the_one_its_domain_names_else_the_settings(
    db, settings, address, country
):
    settings.SELLERDESK_UNKNOWN_SENDER_COUNTRY = "DE"

    row = deliver(write(sender=address, subject="Başvuru"), mail_from=address)

    assert row.state == InboundState.PROCESSED
    assert row.conversation.merchant.country == country
    assert row.conversation.country == country


def test_a_domain_that_names_a_country_needs_no_setting(db, settings):
    settings.SELLERDESK_UNKNOWN_SENDER_COUNTRY = "ZZ"

    row = deliver(write(sender="satici@firma.com.tr"), mail_from="satici@firma.com.tr")

    assert row.state == InboundState.PROCESSED
    assert row.conversation.merchant.country == "TR"


def test_without_an_accepted_country_unknown_senders_are_quarantined_then_processed_again(
    db, settings, client_for, admin_user
):
    settings.SELLERDESK_UNKNOWN_SENDER_COUNTRY = "ZZ"  # the default: not an assigned code
    row = deliver(write(sender="new@shop.test", subject="Başvuru"))
    assert row.state == InboundState.QUARANTINED
    assert "SELLERDESK_UNKNOWN_SENDER_COUNTRY" in row.error
    assert (row.from_address, row.subject) == ("new@shop.test", "Başvuru")
    assert not Conversation.objects.exists()

    settings.SELLERDESK_UNKNOWN_SENDER_COUNTRY = "TR"
    client = client_for(admin_user)
    url = reverse("admin:email_connector_inboundemail_changelist")
    page = client.get(url)
    assert page.status_code == 200
    assert "Başvuru" in page.content.decode()
    response = client.post(
        url, {"action": "process_again", "_selected_action": [row.pk]}, follow=True
    )
    assert "1 of 1 mail(s) processed" in response.content.decode()
    row.refresh_from_db()
    assert row.state == InboundState.PROCESSED
    assert row.error == ""
    assert row.attempts == 2
    assert row.conversation.subject == "Başvuru"
    assert (
        client.get(reverse("admin:email_connector_inboundemail_change", args=[row.pk])).status_code
        == 200
    )


def test_the_admin_list_is_read_only_and_for_admins_only(db, client_for, agent, admin_user):
    deliver(write(sender="", subject="no sender"), mail_from="")
    url = reverse("admin:email_connector_inboundemail_changelist")
    assert client_for(agent).get(url).status_code == 302
    client = client_for(admin_user)
    assert client.get(url).status_code == 200
    assert client.get(reverse("admin:email_connector_inboundemail_add")).status_code == 403


def test_a_mail_without_any_sender_is_quarantined_with_its_bytes(db):
    raw = write(sender="", subject="Kimden?")
    row = deliver(raw, mail_from="")
    assert row.state == InboundState.QUARANTINED
    assert "names no sender" in row.error
    assert bytes(InboundEmail.objects.get(pk=row.pk).raw) == raw


def test_attachments_are_kept_and_an_oversized_one_is_dropped_with_a_note(alice):
    row = deliver(fixture("attachments.eml"))
    message = row.message
    names = sorted(Attachment.objects.filter(message=message).values_list("filename", flat=True))
    assert names == ["attachment-4.png", "fatura.pdf", "ürünler listesi.csv"]
    pdf = Attachment.objects.get(message=message, filename="fatura.pdf")
    assert pdf.file.read().startswith(b"%PDF")
    assert pdf.content_type == "application/pdf"
    assert message.body.startswith("Faturalar ekte. See the attached invoices.")
    assert "“big.zip”" in message.body
    assert "not kept" in message.body
    # The raw mail still holds it.
    assert b"big.zip" in bytes(InboundEmail.objects.get(pk=row.pk).raw)


def test_quoted_history_is_kept_whole_and_its_start_recorded(alice):
    row = deliver(fixture("quoted-gmail.eml"))
    info = EmailMessageInfo.objects.get(message=row.message)
    body = row.message.body
    assert "> Could you send the order number?" in body
    assert body[info.quoted_from :].startswith("On Mon, 28 Feb 2022")
    assert body[: info.quoted_from].strip() == "The order number is 42.\n\nThanks,\nAlice"


def test_html_only_mail_is_stored_as_sanitized_text(alice):
    row = deliver(fixture("html-only.eml"))
    assert "alert" not in row.message.body
    assert "<script" not in row.message.body
    assert "Ödemem gelmedi & sipariş iptal." in row.message.body
    assert EmailMessageInfo.objects.get(message=row.message).from_html


@pytest.mark.parametrize(
    "name",
    ["auto-submitted.eml", "x-autoreply.eml", "precedence-bulk.eml", "empty-return-path.eml"],
)
def test_machines_mail_in_a_conversation_is_an_internal_system_note_never_the_merchants(
    alice, agent, name
):
    from sellerdesk.conversations.workflow import conversation_change_status

    opened = deliver(write(subject="Fatura"))
    conversation = opened.conversation
    conversation_change_status(conversation=conversation, status=Status.PENDING, actor=agent)
    reply_to = b"In-Reply-To: <" + opened.mail_id.encode() + b">\r\n"
    raw = fixture(name).replace(b"Message-ID: <", reply_to + b"Message-ID: <", 1)
    row = deliver(raw)
    assert row.state == InboundState.PROCESSED
    assert row.auto
    assert row.conversation == conversation
    note = row.message
    assert (note.author_type, note.public) == (AuthorType.SYSTEM, False)
    conversation.refresh_from_db()
    # Not the merchant's answer: support still waits, the clock still runs, nothing is sent.
    assert conversation.status == Status.PENDING
    assert conversation.merchant_due_at is not None
    assert conversation.messages.filter(author_type="merchant").count() == 1
    assert not OutboxItem.objects.exists()


def test_machines_mail_outside_any_conversation_is_kept_but_opens_nothing(alice):
    row = deliver(fixture("auto-submitted.eml"))
    assert row.state == InboundState.PROCESSED
    assert row.conversation is None
    assert row.message is None
    assert "automatic mail" in row.note
    assert not Conversation.objects.exists()


def test_the_same_mail_delivered_twice_is_stored_once(alice):
    raw = write(message_id="<twice@mail.test>")
    first = deliver(raw)
    second = deliver(raw, rcpt_to=["support+other@sellerdesk.test"])
    assert second.state == InboundState.PROCESSED
    assert (second.conversation, second.message) == (first.conversation, first.message)
    assert "copy" in second.note
    assert Message.objects.count() == 1
    assert InboundEmail.objects.count() == 2


def test_a_merchants_mail_on_a_closed_conversation_reopens_it(alice, agent):
    from sellerdesk.conversations.workflow import conversation_change_status

    first = deliver(write(subject="Kargo"))
    conversation = first.conversation
    conversation_change_status(conversation=conversation, status=Status.CLOSED, actor=agent)
    deliver(write(subject="Re: Kargo", in_reply_to=f"<{first.mail_id}>"))
    conversation.refresh_from_db()
    assert conversation.status == Status.OPEN
    assert conversation.messages.count() == 2


#: Statements a mail costs (make bench-email's path), inside the test's transaction: storing
#: it (a savepoint and the INSERT), then processing it in a savepoint: the inbound row locked,
#: the Message-IDs it names, the sender; for a new conversation the conversation (its first
#: message's number, author and last change in the same INSERT), the merchant's profile time,
#: the message, the trail, the configuration generation (SLA policies and webhooks), the
#: e-mail facts, the thread, the Message-ID, the inbound row's outcome. It was 25 (23 for a
#: reply's 19 before the configuration was kept per process and the first message written
#: without re-reading the conversation).
NEW_CONVERSATION_STATEMENTS = 17
REPLY_STATEMENTS = 16


def test_a_mail_costs_a_fixed_number_of_statements(alice, django_assert_max_num_queries):
    deliver(write(message_id="<warm@acme.test>"))  # warms the process's configuration copy
    with django_assert_max_num_queries(NEW_CONVERSATION_STATEMENTS):
        first = deliver(write(subject="Yeni", message_id="<first@acme.test>"))
    with django_assert_max_num_queries(REPLY_STATEMENTS):
        reply = deliver(write(in_reply_to="<first@acme.test>", message_id="<second@acme.test>"))
    assert reply.conversation == first.conversation
    assert reply.conversation.messages.count() == 2
