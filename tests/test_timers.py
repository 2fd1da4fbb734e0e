"""The 7-day rule: the reminder on day 5, the action at the deadline, the merchant's answer
stopping the clock; each timer fires once."""

from __future__ import annotations

import pytest
import time_machine
from django.core import mail

from sellerdesk.conversations import workflow
from sellerdesk.conversations.models import Activity, Conversation
from sellerdesk.outbox import delivery
from sellerdesk.outbox.models import OutboxItem
from sellerdesk.sla import timers


@pytest.fixture
def acme_conversation(alice):
    """Alice's complaint, filed on 2027-03-01 at 09:00 UTC (the clock is fixed in this module)."""
    with time_machine.travel("2027-03-01 09:00:00+00:00", tick=False):
        return workflow.merchant_conversation_open(
            user=alice, kind="complaint", subject="Ödeme gecikti", body="Ödeme nerede?"
        )


@pytest.fixture
def pending(agent, acme_conversation):
    """Support asked Alice something on 2027-03-02 at 10:00 UTC."""
    with time_machine.travel("2027-03-02 10:00:00+00:00", tick=False):
        workflow.conversation_change_status(
            conversation=acme_conversation, status="pending", actor=agent
        )
    return Conversation.objects.get(pk=acme_conversation.pk)


def at(text):
    return time_machine.travel(text, tick=False)


def test_pending_sets_the_deadline_seven_days_on_and_the_reminder_on_day_five(pending):
    assert pending.merchant_due_at.isoformat() == "2027-03-09T10:00:00+00:00"
    assert pending.merchant_remind_at.isoformat() == "2027-03-07T10:00:00+00:00"


def test_nothing_fires_early(pending):
    with at("2027-03-07 09:59:59+00:00"):
        run = timers.sweep()
    assert (run.reminded, run.closed) == (0, 0)
    assert not OutboxItem.objects.exists()


def test_the_reminder_goes_to_the_merchants_users_once(pending, bob):
    with at("2027-03-07 10:00:00+00:00"):
        assert timers.sweep().reminded == 1
        assert timers.sweep().reminded == 0
        delivery.deliver_due()
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert sorted(message.to) == ["alice@acme.test", "bob@acme.test"]
    # Acme writes Turkish: the reminder is in Turkish, the day in Turkish words.
    assert message.subject.startswith("Hatırlatma: destek ekibi yanıtınızı bekliyor")
    assert "Lütfen 9 Mart 2027 tarihine kadar yanıtlayın" in message.body
    assert f"/merchant/c/{pending.pk}/" in message.body
    trail = Activity.objects.filter(conversation=pending, verb="deadline").last()
    assert trail.automatic
    assert trail.detail["rule"] == "7-day rule"


def test_at_the_deadline_the_conversation_is_closed_with_a_note_once(pending):
    with at("2027-03-09 10:00:01+00:00"):
        run = timers.sweep()
        assert run.closed == 1
        assert timers.sweep().closed == 0
    row = Conversation.objects.get(pk=pending.pk)
    assert row.status == "closed"
    assert row.merchant_due_at is None
    note = row.messages.order_by("-id").first()
    assert note.author_type == "system"
    assert "7 gün içinde sizden yanıt alamadığımız için" in note.body  # Acme writes Turkish
    status = Activity.objects.filter(conversation=row, verb="status").last()
    assert (status.automatic, status.detail["rule"], status.actor) == (True, "7-day rule", None)


def test_the_merchants_answer_stops_the_clock(pending, alice):
    with at("2027-03-05 12:00:00+00:00"):
        workflow.reply_post(conversation=pending, author=alice, body="Cevap burada")
    with at("2027-03-20 00:00:00+00:00"):
        run = timers.sweep()
    assert (run.reminded, run.closed) == (0, 0)
    assert Conversation.objects.get(pk=pending.pk).status == "open"


def test_escalation_hands_it_to_the_team_lead(pending, settings, lead, eu_team, agent):
    settings.SELLERDESK_MERCHANT_DEADLINE_ACTION = "escalate"
    workflow.conversation_set_team(conversation=pending, team=eu_team, actor=agent)
    with at("2027-03-09 10:00:00+00:00"):
        assert timers.sweep().escalated == 1
        delivery.deliver_due()
    row = Conversation.objects.get(pk=pending.pk)
    assert (row.status, row.priority, row.assignee) == ("open", "urgent", lead)
    assert row.merchant_due_at is None
    assert [m.to for m in mail.outbox if "Escalated" in m.subject] == [["lead@desk.test"]]


def test_days_can_differ_by_kind(settings, agent, acme_conversation):
    settings.SELLERDESK_MERCHANT_REPLY_DAYS_BY_KIND = {"complaint": 10}
    with at("2027-03-02 10:00:00+00:00"):
        workflow.conversation_change_status(
            conversation=acme_conversation, status="pending", actor=agent
        )
    row = Conversation.objects.get(pk=acme_conversation.pk)
    assert row.merchant_due_at.isoformat() == "2027-03-12T10:00:00+00:00"


def test_the_deadline_is_exact_across_a_dst_change(settings, agent, acme_conversation):
    """Seven days are seven times 24 hours of real time, whatever the clocks in Europe do."""
    with at("2027-03-26 09:00:00+00:00"):  # the EU moves clocks forward on 28 March
        workflow.conversation_change_status(
            conversation=acme_conversation, status="pending", actor=agent
        )
    row = Conversation.objects.get(pk=acme_conversation.pk)
    assert row.merchant_due_at.isoformat() == "2027-04-02T09:00:00+00:00"  # 168 hours later
    with at("2027-04-02 08:59:59+00:00"):
        assert timers.sweep().closed == 0
    with at("2027-04-02 09:00:00+00:00"):
        assert timers.sweep().closed == 1


def test_outreach_gets_the_same_clock(agent, acme, alice):
    with at("2027-03-02 10:00:00+00:00"):
        row = workflow.outreach_open(
            agent=agent, merchant=acme, kind="request", subject="Belgeler", body="Lütfen yükleyin"
        )
    row.refresh_from_db()
    assert row.merchant_due_at.isoformat() == "2027-03-09T10:00:00+00:00"
    with at("2027-03-07 10:00:00+00:00"):
        assert timers.sweep().reminded == 1
