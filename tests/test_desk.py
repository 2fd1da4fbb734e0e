"""The conversation page in the desk: replies and notes, the work fields, macros, collisions,
outreach and the audit trail."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from sellerdesk.conversations import workflow
from sellerdesk.conversations.models import Activity, Conversation, Macro, Message


def url(name, conversation, **kwargs):
    return reverse(f"desk:{name}", kwargs={"pk": conversation.pk, **kwargs})


@pytest.fixture
def desk(client_for, agent):
    return client_for(agent)


def test_the_page_shows_the_thread_notes_apart_and_the_merchant_card(
    desk, agent, acme_conversation
):
    workflow.reply_post(
        conversation=acme_conversation,
        author=agent,
        body="İç not: finans ekibine sor",
        public=False,
    )
    page = desk.get(url("conversation", acme_conversation))
    assert page.status_code == 200
    text = page.content.decode()
    assert "Siparişimin ödemesi 10 gündür gelmedi." in text
    assert 'class="message note"' in text
    assert "İç not: finans ekibine sor" in text
    assert "Acme Tekstil" in text  # the merchant card
    assert "ORD-1001" in text  # the marketplace reference


def test_a_public_reply_opens_a_new_conversation_and_counts_as_first_response(
    desk, acme_conversation
):
    seen = acme_conversation.messages.get().pk
    response = desk.post(
        url("reply", acme_conversation),
        {"body": "Merhaba, kontrol ediyoruz.", "mode": "reply", "seen_message_id": seen},
    )
    assert response.status_code == 302
    row = Conversation.objects.get(pk=acme_conversation.pk)
    assert row.status == "open"
    assert row.first_response_at is not None
    reply = row.messages.order_by("-id").first()
    assert reply.author_type == "agent"
    assert reply.public
    assert reply.author_user.email == "agent@desk.test"


def test_a_note_is_not_a_response(desk, acme_conversation):
    seen = acme_conversation.messages.get().pk
    desk.post(
        url("reply", acme_conversation),
        {"body": "only for us", "mode": "note", "seen_message_id": seen},
    )
    row = Conversation.objects.get(pk=acme_conversation.pk)
    assert row.first_response_at is None
    assert not row.messages.order_by("-id").first().public


def test_send_and_set_pending_starts_the_merchants_seven_days(desk, acme_conversation):
    seen = acme_conversation.messages.get().pk
    before = timezone.now()
    desk.post(
        url("reply", acme_conversation),
        {
            "body": "Sipariş numarasını gönderir misiniz?",
            "mode": "reply",
            "then_status": "pending",
            "seen_message_id": seen,
        },
    )
    row = Conversation.objects.get(pk=acme_conversation.pk)
    assert row.status == "pending"
    assert before + timedelta(days=7) <= row.merchant_due_at <= timezone.now() + timedelta(days=7)


def test_a_reply_does_not_go_out_on_top_of_a_merchant_message_written_since(
    desk, alice, acme_conversation
):
    seen = acme_conversation.messages.get().pk
    workflow.reply_post(conversation=acme_conversation, author=alice, body="Bir şey daha!")
    response = desk.post(
        url("reply", acme_conversation),
        {"body": "My draft", "mode": "reply", "seen_message_id": seen},
    )
    assert response.status_code == 409
    text = response.content.decode()
    assert "New messages arrived" in text
    assert "Bir şey daha!" in text  # shown, so the agent reads it
    assert "My draft" in text  # and the draft is kept
    assert "Send anyway" in text
    assert acme_conversation.messages.filter(author_type="agent").count() == 0
    response = desk.post(
        url("reply", acme_conversation),
        {"body": "My draft", "mode": "reply", "seen_message_id": seen, "confirm": "1"},
    )
    assert response.status_code == 302
    assert acme_conversation.messages.filter(author_type="agent").count() == 1


def test_another_agent_viewing_is_shown_and_holds_the_reply_once(
    desk, client_for, agent, cn_agent, acme_conversation
):
    workflow.viewer_touch(conversation=acme_conversation, user=cn_agent)
    presence = desk.post(url("presence", acme_conversation), {"seen_message_id": 0})
    assert "Li Wei" in presence.content.decode()
    assert "also has this conversation open" in presence.content.decode()
    seen = acme_conversation.messages.get().pk
    response = desk.post(
        url("reply", acme_conversation), {"body": "x", "mode": "reply", "seen_message_id": seen}
    )
    assert response.status_code == 409
    assert "Li Wei also has this conversation open" in response.content.decode()


def test_a_viewer_seen_long_ago_no_longer_counts(desk, cn_agent, acme_conversation):
    with time_machine.travel(timezone.now() - timedelta(minutes=5)):
        workflow.viewer_touch(conversation=acme_conversation, user=cn_agent)
    seen = acme_conversation.messages.get().pk
    response = desk.post(
        url("reply", acme_conversation), {"body": "x", "mode": "reply", "seen_message_id": seen}
    )
    assert response.status_code == 302


def test_status_assignee_team_kind_outcome_priority_and_references_leave_a_trail(
    desk, agent, cn_team, acme_conversation
):
    c = acme_conversation
    assert desk.post(url("status", c), {"status": "on_hold"}).status_code == 302
    desk.post(url("assign", c), {"assignee": "me"})
    desk.post(url("team", c), {"team": cn_team.pk})
    desk.post(url("kind", c), {"kind": "request"})
    desk.post(url("outcome", c), {"outcome": "upheld"})
    desk.post(url("priority", c), {"priority": "urgent"})
    desk.post(
        url("references", c), {"order_ref": "ORD-2", "product_ref": "SKU-9", "invoice_ref": ""}
    )
    row = Conversation.objects.get(pk=c.pk)
    assert (row.status, row.assignee, row.team, row.kind, row.outcome, row.priority) == (
        "on_hold",
        agent,
        cn_team,
        "request",
        "upheld",
        "urgent",
    )
    assert (row.order_ref, row.product_ref) == ("ORD-2", "SKU-9")
    verbs = list(Activity.objects.filter(conversation=c).values_list("verb", "actor__email"))
    assert verbs == [
        ("opened", "alice@acme.test"),
        ("status", "agent@desk.test"),
        ("assigned", "agent@desk.test"),
        ("team", "agent@desk.test"),
        ("kind", "agent@desk.test"),
        ("outcome", "agent@desk.test"),
        ("priority", "agent@desk.test"),
        ("references", "agent@desk.test"),
    ]
    assert row.status_changes.get().by == "agent@desk.test"


def test_a_bad_value_is_refused_with_the_reason_and_changes_nothing(desk, acme_conversation):
    response = desk.post(url("status", acme_conversation), {"status": "exploded"}, follow=True)
    assert "unknown status" in response.content.decode()
    assert Conversation.objects.get(pk=acme_conversation.pk).status == "new"
    response = desk.post(url("assign", acme_conversation), {"assignee": "999999"})
    assert response.status_code == 404


def test_tags_are_added_and_removed_case_insensitively(desk, acme_conversation):
    desk.post(url("tag_add", acme_conversation), {"tag": "Payment Delay"})
    desk.post(url("tag_add", acme_conversation), {"tag": "payment delay"})
    assert list(acme_conversation.tags.values_list("display_name", flat=True)) == ["Payment Delay"]
    desk.post(url("tag_remove", acme_conversation), {"tag": "PAYMENT DELAY"})
    assert not acme_conversation.tags.exists()
    verbs = Activity.objects.filter(conversation=acme_conversation, verb__startswith="tag")
    assert list(verbs.values_list("verb", flat=True)) == ["tag_added", "tag_removed"]


def test_tag_autocomplete_offers_matching_names(desk, agent, acme_conversation):
    workflow.conversation_add_tag(conversation=acme_conversation, name="payment_delay", actor=agent)
    workflow.conversation_add_tag(conversation=acme_conversation, name="order_cancel", actor=agent)
    response = desk.get(reverse("desk:tags"), {"q": "PAY"})
    assert response.status_code == 200
    text = response.content.decode()
    assert 'value="payment_delay"' in text
    assert "order_cancel" not in text


def test_a_macro_fills_the_reply_and_sends_with_its_tags_and_status(desk, agent, acme_conversation):
    macro = Macro.objects.create(
        name="Need details",
        body="Hello {{ merchant_name }}, please answer by {{ deadline }}. {{ unknown }}",
        add_tags="needs_info",
        set_status="pending",
    )
    page = desk.get(url("conversation", acme_conversation), {"macro": macro.pk})
    text = page.content.decode()
    assert "Hello Acme Tekstil, please answer by" in text
    assert "{{ unknown }}" in text  # not a placeholder: left as written
    preview = desk.get(url("macro_preview", acme_conversation), {"macro": macro.pk})
    assert "Hello Acme Tekstil" in preview.content.decode()
    seen = acme_conversation.messages.get().pk
    desk.post(
        url("reply", acme_conversation),
        {"body": "Hello Acme", "mode": "reply", "macro": macro.pk, "seen_message_id": seen},
    )
    row = Conversation.objects.get(pk=acme_conversation.pk)
    assert row.status == "pending"
    assert list(row.tags.values_list("name", flat=True)) == ["needs_info"]
    assert Activity.objects.filter(conversation=row, verb="macro").exists()


def test_a_team_macro_is_offered_only_to_that_teams_members(desk, cn_team, acme_conversation):
    macro = Macro.objects.create(name="CN only", body="你好", team=cn_team)
    response = desk.get(url("conversation", acme_conversation), {"macro": macro.pk})
    assert response.status_code == 404


def test_macros_are_managed_by_leads(client_for, lead, agent):
    response = client_for(lead).post(
        reverse("desk:macro_new"),
        {"name": "Thanks", "body": "Thank you, {{ merchant_name }}", "set_status": "solved"},
    )
    assert response.status_code == 302
    macro = Macro.objects.get(name="Thanks")
    assert macro.set_status == "solved"
    response = client_for(agent).post(reverse("desk:macro_new"), {"name": "x", "body": "y"})
    assert response.status_code == 403


@pytest.mark.parametrize("tags", ["refund, " + "\ufdfa" * 12, "ok, " + "x" * 201])
def test_a_macro_whose_tags_cannot_be_stored_is_refused_when_saved(client_for, lead, tags):
    """Not when an agent uses it: every reply with it would fail then."""
    response = client_for(lead).post(
        reverse("desk:macro_new"), {"name": "Refund", "body": "Done.", "add_tags": tags}
    )
    assert response.status_code in (200, 400)
    assert "add tags" in response.content.decode()
    assert not Macro.objects.exists()


def test_outreach_asks_the_merchant_to_answer_within_seven_days(desk, agent, acme):
    response = desk.post(
        reverse("desk:outreach"),
        {
            "merchant": "m-acme",
            "kind": "request",
            "subject": "Belgelerinizi yükleyin",
            "body": "Lütfen vergi levhanızı yükleyin.",
        },
    )
    assert response.status_code == 302
    row = Conversation.objects.get(subject="Belgelerinizi yükleyin")
    assert row.initiated_by == "support"
    assert row.status == "pending"
    assert row.assignee == agent
    assert row.merchant_due_at.date() == (timezone.now() + timedelta(days=7)).date()
    assert row.messages.get().author_type == "agent"


def test_outreach_to_an_unknown_merchant_says_so(desk):
    response = desk.post(
        reverse("desk:outreach"),
        {"merchant": "nobody", "kind": "request", "subject": "s", "body": "b"},
    )
    assert response.status_code == 400
    assert "No merchant has this id" in response.content.decode()
    assert not Conversation.objects.exists()


def test_attachments_download_with_safe_headers(desk, settings, tmp_path, alice, acme):
    settings.MEDIA_ROOT = tmp_path
    upload = SimpleUploadedFile("fatura <x>.html", b"<script>alert(1)</script>", "text/html")
    c = workflow.merchant_conversation_open(
        user=alice, kind="question", subject="s", body="see file", files=[upload]
    )
    attachment = c.attachments.get()
    response = desk.get(url("attachment", c, attachment_pk=attachment.pk))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert b"".join(response.streaming_content) == b"<script>alert(1)</script>"


def test_user_text_is_escaped_everywhere_on_the_page(desk, alice):
    payload = '<img src=x onerror="alert(1)">'
    c = workflow.merchant_conversation_open(
        user=alice, kind="question", subject=payload, body=payload
    )
    text = desk.get(url("conversation", c)).content.decode()
    assert payload not in text
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in text


def test_spam_can_be_marked_and_unmarked(desk, acme_conversation):
    desk.post(url("spam", acme_conversation), {"spam": "1"})
    assert Conversation.objects.get(pk=acme_conversation.pk).spam
    desk.post(url("spam", acme_conversation), {"spam": "0"})
    assert not Conversation.objects.get(pk=acme_conversation.pk).spam


def test_every_script_displays(desk, eve):
    c = workflow.merchant_conversation_open(
        user=eve, kind="question", subject="退款 환불 возврат", body="Ödeme 支付 결제 оплата"
    )
    text = desk.get(url("conversation", c)).content.decode()
    assert "退款 환불 возврат" in text
    assert "Ödeme 支付 결제 оплата" in text
    assert Message.objects.get(conversation=c).body == "Ödeme 支付 결제 оплата"


def test_the_merchants_answer_reopens_and_stops_the_clock(agent, alice, acme_conversation):
    workflow.conversation_change_status(
        conversation=acme_conversation, status="pending", actor=agent
    )
    assert acme_conversation.merchant_due_at is not None
    workflow.reply_post(conversation=acme_conversation, author=alice, body="İşte numara: 42")
    row = Conversation.objects.get(pk=acme_conversation.pk)
    assert row.status == "open"
    assert row.merchant_due_at is None
    trail = Activity.objects.filter(conversation=row, verb="status").order_by("id").last()
    assert (trail.detail["after"], trail.actor) == ("open", alice)


def test_a_merchant_cannot_choose_any_status_but_solved(alice, acme_conversation):
    with pytest.raises(workflow.PermissionDenied):
        workflow.conversation_change_status(
            conversation=acme_conversation, status="closed", actor=alice
        )
    workflow.conversation_change_status(
        conversation=acme_conversation, status="solved", actor=alice
    )
    assert acme_conversation.status == "solved"
