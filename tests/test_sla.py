"""Service levels: the policy that applies, due times in business hours, the clock paused while
waiting on the merchant, breaches recorded once and notified, and the inbox's badges."""

from __future__ import annotations

import pytest
import time_machine
from django.core import mail

from sellerdesk.conversations import selectors, workflow
from sellerdesk.conversations.models import Activity, Conversation
from sellerdesk.outbox import delivery
from sellerdesk.sla import services, timers
from sellerdesk.sla.models import BusinessHours, SlaBreach, SlaPolicy

WEEKDAYS_9_TO_18 = {day: ["09:00-18:00"] for day in ("mon", "tue", "wed", "thu", "fri")}


def at(text):
    return time_machine.travel(text, tick=False)


@pytest.fixture
def istanbul_hours(db):
    """The default calendar: Istanbul (UTC+3, no DST), weekdays 09-18, 1 Jan a holiday."""
    return BusinessHours.objects.create(
        name="Default", zone="Europe/Istanbul", week=WEEKDAYS_9_TO_18, holidays=["2027-01-01"]
    )


@pytest.fixture
def policy(istanbul_hours):
    return SlaPolicy.objects.create(
        name="Standard",
        first_response_minutes=120,
        next_response_minutes=240,
        resolution_minutes=3 * 9 * 60,
    )


def filed(user, when, kind="question", subject="Ödeme"):
    with at(when):
        return workflow.merchant_conversation_open(
            user=user, kind=kind, subject=subject, body="Merhaba"
        )


def test_first_response_is_due_in_business_hours(policy, alice):
    # Friday 17:00 in Istanbul (14:00 UTC) + 2 working hours = Monday 10:00 (07:00 UTC).
    c = filed(alice, "2027-03-05 14:00:00+00:00")
    assert c.sla_policy == policy
    assert c.first_response_due_at.isoformat() == "2027-03-08T07:00:00+00:00"
    assert c.sla_due_at == c.first_response_due_at


def test_the_first_reply_meets_the_first_response_target(policy, alice, agent):
    c = filed(alice, "2027-03-08 07:00:00+00:00")
    with at("2027-03-08 08:00:00+00:00"):
        workflow.reply_post(conversation=c, author=agent, body="Bakıyoruz")
    row = Conversation.objects.get(pk=c.pk)
    assert row.first_response_due_at is None
    assert row.next_response_due_at is None  # nobody waits for support now


def test_the_merchants_next_message_starts_the_next_response_clock(policy, alice, agent):
    c = filed(alice, "2027-03-08 07:00:00+00:00")
    with at("2027-03-08 08:00:00+00:00"):
        workflow.reply_post(conversation=c, author=agent, body="Bakıyoruz")
    with at("2027-03-08 13:00:00+00:00"):  # 16:00 in Istanbul: 2 h left today
        workflow.reply_post(conversation=c, author=alice, body="Ne oldu?")
    row = Conversation.objects.get(pk=c.pk)
    # 4 working hours from 16:00 Monday: 2 h Monday, 2 h Tuesday → Tuesday 11:00 (08:00 UTC).
    assert row.next_response_due_at.isoformat() == "2027-03-09T08:00:00+00:00"


def test_resolution_pauses_while_waiting_on_the_merchant(policy, alice, agent):
    c = filed(alice, "2027-03-08 06:00:00+00:00")  # Monday 09:00 Istanbul
    first_due = Conversation.objects.get(pk=c.pk).resolution_due_at
    assert first_due.isoformat() == "2027-03-10T15:00:00+00:00"  # Wednesday 18:00
    with at("2027-03-08 07:00:00+00:00"):
        workflow.reply_post(conversation=c, author=agent, body="Sipariş no?", then_status="pending")
    assert Conversation.objects.get(pk=c.pk).resolution_due_at is None  # paused
    with at("2027-03-08 10:00:00+00:00"):  # three working hours later the merchant answers
        workflow.reply_post(conversation=c, author=alice, body="12345")
    row = Conversation.objects.get(pk=c.pk)
    assert row.status == "open"
    assert row.resolution_due_at.isoformat() == "2027-03-11T09:00:00+00:00"  # 3 h later


def test_the_first_matching_policy_by_position_wins(istanbul_hours, alice, eve):
    SlaPolicy.objects.create(name="Fallback", position=100, first_response_minutes=600)
    SlaPolicy.objects.create(
        name="Complaints in TR", position=1, kinds=["complaint"], segments=["TR"],
        first_response_minutes=60,
    )  # fmt: skip
    assert filed(alice, "2027-03-08 07:00:00+00:00", kind="complaint").sla_policy.name == (
        "Complaints in TR"
    )
    assert filed(alice, "2027-03-08 07:00:00+00:00").sla_policy.name == "Fallback"
    assert filed(eve, "2027-03-08 07:00:00+00:00", kind="complaint").sla_policy.name == ("Fallback")


def test_a_teams_own_hours_apply_once_it_has_the_conversation(policy, alice, agent, cn_team):
    BusinessHours.objects.create(
        name="CN", team=cn_team, zone="Asia/Shanghai", week=WEEKDAYS_9_TO_18
    )
    c = filed(alice, "2027-03-08 07:00:00+00:00")
    with at("2027-03-08 07:00:00+00:00"):
        workflow.conversation_set_team(conversation=c, team=cn_team, actor=agent)
    # 07:00 UTC is 15:00 in Shanghai: 2 working hours end at 17:00 there, 09:00 UTC.
    assert Conversation.objects.get(pk=c.pk).first_response_due_at.isoformat() == (
        "2027-03-08T09:00:00+00:00"
    )


def test_holidays_are_skipped(policy, alice):
    c = filed(alice, "2026-12-31 14:00:00+00:00")  # Thursday 17:00; Friday 1 Jan is a holiday
    assert c.first_response_due_at.isoformat() == "2027-01-04T07:00:00+00:00"


def test_calendar_time_when_the_policy_says_so(istanbul_hours, alice):
    SlaPolicy.objects.create(name="24/7", first_response_minutes=120, business_hours=False)
    c = filed(alice, "2027-03-06 20:00:00+00:00")  # Saturday night
    assert c.first_response_due_at.isoformat() == "2027-03-06T22:00:00+00:00"


def test_outreach_has_no_targets(policy, agent, acme):
    with at("2027-03-08 07:00:00+00:00"):
        c = workflow.outreach_open(
            agent=agent, merchant=acme, kind="request", subject="Belgeler", body="Lütfen"
        )
    row = Conversation.objects.get(pk=c.pk)
    assert (row.sla_policy, row.sla_due_at) == (None, None)


def test_a_breach_is_recorded_once_and_told_to_the_assignee(policy, alice, agent):
    c = filed(alice, "2027-03-08 06:00:00+00:00")  # first response due 08:00 UTC
    with at("2027-03-08 06:10:00+00:00"):
        workflow.conversation_assign(conversation=c, assignee=agent, actor=agent)
    with at("2027-03-08 07:59:59+00:00"):
        assert timers.sweep().breached == 0
    with at("2027-03-08 08:00:00+00:00"):
        assert timers.sweep().breached == 1
        assert timers.sweep().breached == 0
        delivery.deliver_due()
    breach = SlaBreach.objects.get()
    assert (breach.metric, breach.policy) == ("first_response", policy)
    assert [m.to for m in mail.outbox] == [["agent@desk.test"]]
    assert "SLA missed (first response)" in mail.outbox[0].subject
    row = Conversation.objects.get(pk=c.pk)
    assert row.sla_check_at > row.first_response_due_at  # the sweep moved on
    trail = Activity.objects.get(conversation=c, verb="sla_breached")
    assert trail.automatic


def test_the_inbox_marks_breached_and_due_soon(policy, alice, client_for, agent):
    late = filed(alice, "2027-03-08 06:00:00+00:00", subject="Geç")
    soon = filed(alice, "2027-03-08 06:30:00+00:00", subject="Yakında")
    with at("2027-03-08 08:10:00+00:00"):
        assert late.sla_state() == "breached"
        assert Conversation.objects.get(pk=soon.pk).sla_state() == "due_soon"
        page = client_for(agent).get("/desk/", {"queue": "unassigned", "sort": "due"})
    text = page.content.decode()
    assert "Breached" in text
    assert "Due soon" in text
    assert [c.pk for c in page.context["page"].rows] == [late.pk, soon.pk]


def test_due_first_sorts_by_the_service_level_due_time(policy, alice, agent):
    early = filed(alice, "2027-03-08 07:00:00+00:00")
    earlier = filed(alice, "2027-03-08 06:00:00+00:00")
    rows = selectors.inbox(user=agent, queue="open", sort="due").rows
    assert [c.pk for c in rows] == [earlier.pk, early.pk]


def test_changing_the_priority_can_change_the_policy(istanbul_hours, alice, agent):
    SlaPolicy.objects.create(
        name="Urgent", position=1, priorities=["urgent"], first_response_minutes=30
    )
    SlaPolicy.objects.create(name="Normal", position=2, first_response_minutes=240)
    c = filed(alice, "2027-03-08 06:00:00+00:00")
    assert c.sla_policy.name == "Normal"
    with at("2027-03-08 06:05:00+00:00"):
        workflow.conversation_change_priority(conversation=c, priority="urgent", actor=agent)
    row = Conversation.objects.get(pk=c.pk)
    assert row.sla_policy.name == "Urgent"
    assert row.first_response_due_at.isoformat() == "2027-03-08T06:30:00+00:00"


def test_no_policy_no_targets_and_no_writes(alice, django_assert_max_num_queries):
    c = filed(alice, "2027-03-08 06:00:00+00:00")
    assert c.sla_due_at is None
    with django_assert_max_num_queries(2):
        services.sla_refresh(conversation=c)
