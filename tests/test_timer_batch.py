"""The timers' batch path writes exactly what the single path writes.

Twin sets of conversations with the same histories: one set goes through ``timers.remind`` /
``timers.deadline`` (one conversation per transaction, the services), the other through
``timers.remind_batch`` / ``timers.deadline_batch`` (``conversations.bulk``), at the same
frozen moment. Every row either path writes is compared, ids aside.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import time_machine
from channels.layers import channel_layers
from django.forms.models import model_to_dict

from sellerdesk.api.webhooks import webhook_subscribe
from sellerdesk.conversations import events, services, workflow
from sellerdesk.conversations.models import (
    Activity,
    Conversation,
    Message,
    ResolutionStretch,
    StatusChange,
)
from sellerdesk.outbox.models import OutboxItem
from sellerdesk.sla import timers
from sellerdesk.sla.models import BusinessHours, SlaPolicy
from tests.test_events import Listener

WEEKDAYS_9_TO_18 = {day: ["09:00-18:00"] for day in ("mon", "tue", "wed", "thu", "fri")}
ACT_AT = "2027-03-12 12:00:00+00:00"


def at(text):
    return time_machine.travel(text, tick=False)


def _histories(alice, eve, agent) -> list[Conversation]:
    """One of each history the sweep meets; created in the same order for each twin set."""
    made = []
    with at("2027-03-01 09:00:00+00:00"):
        # Plain: filed, asked, silent.
        plain = workflow.merchant_conversation_open(
            user=alice, kind="complaint", subject="Ödeme gecikti", body="Ödeme nerede?"
        )
        # Solved once, reopened by the merchant, later asked: two status stretches.
        reopened = workflow.merchant_conversation_open(
            user=eve, kind="question", subject="退款", body="我的退款在哪里？"
        )
        # An imported message already holds the next message number.
        clash = workflow.merchant_conversation_open(
            user=alice, kind="request", subject="Fatura", body="Fatura lazım"
        )
        services.message_add(conversation=clash, author_type="merchant", body="ek", external_id="3")
        # A reminder still ahead, and a conversation no longer pending with a stale clock.
        reminded = workflow.merchant_conversation_open(
            user=eve, kind="question", subject="Reminder", body="?"
        )
        stale = workflow.merchant_conversation_open(
            user=alice, kind="question", subject="Stale", body="?"
        )
        made += [plain, reopened, clash, reminded, stale]
    with at("2027-03-01 10:00:00+00:00"):
        workflow.reply_post(conversation=reopened, author=agent, body="Done", then_status="solved")
    with at("2027-03-01 11:00:00+00:00"):
        workflow.reply_post(conversation=reopened, author=eve, body="Not yet")
    with at("2027-03-02 10:00:00+00:00"):
        for row in (plain, reopened, clash, stale):
            workflow.reply_post(conversation=row, author=agent, body="Which order?")
            workflow.conversation_change_status(conversation=row, status="pending", actor=agent)
    with at("2027-03-09 10:00:00+00:00"):
        workflow.conversation_change_status(conversation=reminded, status="pending", actor=agent)
    # Set-up only: a clock left running on an open conversation (the sweep must stop it).
    Conversation.objects.filter(pk=stale.pk).update(status="open")
    return [Conversation.objects.get(pk=row.pk) for row in made]


def _snapshot(pk: int) -> dict[str, Any]:
    conversation = model_to_dict(Conversation.objects.get(pk=pk), exclude=["id", "external_id"])
    link = f"/c/{pk}/"

    def outbox(item: OutboxItem) -> Any:
        payload = json.loads(json.dumps(item.payload).replace(link, "/c/ID/"))
        if item.kind == "webhook":
            payload["body"].pop("id")
            payload["body"]["data"]["conversation"].pop("id")
            payload["body"]["data"]["conversation"].pop("external_id")
            payload.pop("subscription")
        return (item.kind, item.key.replace(f":{pk}:", ":ID:").split(":")[0], payload)

    items = [
        item
        for item in OutboxItem.objects.order_by("id")
        if (item.kind != "webhook" and f":{pk}:" in item.key)
        or (item.kind == "webhook" and item.payload["body"]["data"]["conversation"]["id"] == pk)
    ]
    return {
        "conversation": conversation,
        "messages": list(
            Message.objects.filter(conversation_id=pk)
            .order_by("id")
            .values_list(
                "external_id",
                "author_type",
                "author_id",
                "author_name",
                "public",
                "body",
                "created_at",
                "author_user_id",
            )
        ),
        "status_changes": list(
            StatusChange.objects.filter(conversation_id=pk)
            .order_by("seq")
            .values_list("status", "at", "seq", "by")
        ),
        "stretches": list(
            ResolutionStretch.objects.filter(conversation_id=pk)
            .order_by("started_at")
            .values_list("started_at", "ended_at", "started_seconds")
        ),
        "trail": list(
            Activity.objects.filter(conversation_id=pk)
            .order_by("id")
            .values_list("at", "actor_id", "verb", "detail", "automatic")
        ),
        "outbox": [outbox(item) for item in items],
    }


@pytest.fixture
def listening(acme, globex):
    """A webhook receiver for Acme's status changes, and one for every merchant's."""
    webhook_subscribe(
        url="https://hooks.acme.test/in", events=["conversation.status_changed"], merchant=acme
    )
    webhook_subscribe(url="https://hooks.desk.test/in", events=["conversation.created"])


@pytest.fixture
def service_levels(db):
    BusinessHours.objects.create(
        name="Default", zone="Europe/Istanbul", week=WEEKDAYS_9_TO_18, holidays=["2027-03-10"]
    )
    SlaPolicy.objects.create(
        name="Standard",
        first_response_minutes=120,
        next_response_minutes=240,
        resolution_minutes=3 * 9 * 60,
    )


def _act_single(rows: list[Conversation]) -> tuple[int, int, int]:
    reminded = sum(timers.remind(row.pk) for row in rows)
    outcomes = [timers.deadline(row.pk) for row in rows]
    return reminded, outcomes.count("closed"), outcomes.count("escalated")


def _act_batch(rows: list[Conversation]) -> tuple[int, int, int]:
    reminded = timers.remind_batch([row.pk for row in rows])
    closed, escalated = timers.deadline_batch([row.pk for row in rows])
    return reminded, closed, escalated


@pytest.mark.parametrize("action", ["close", "escalate"])
@pytest.mark.parametrize("extras", [(), ("listening", "service_levels")])
def test_the_batch_path_writes_exactly_what_the_single_path_writes(
    request, settings, alice, bob, eve, agent, lead, action, extras
):
    settings.SELLERDESK_MERCHANT_DEADLINE_ACTION = action
    for name in extras:
        request.getfixturevalue(name)
    single = _histories(alice, eve, agent)
    batch = _histories(alice, eve, agent)
    for one, other in zip(single, batch, strict=True):
        assert _snapshot(one.pk) == _snapshot(other.pk)  # twins before
    with at(ACT_AT):
        counts = _act_single(single)
        assert _act_batch(batch) == counts
    expected = (3, 3, 0) if action == "close" else (3, 0, 3)
    assert counts == expected
    for one, other in zip(single, batch, strict=True):
        assert _snapshot(one.pk) == _snapshot(other.pk)
    closed = Conversation.objects.get(pk=batch[0].pk)
    assert closed.merchant_due_at is None
    assert closed.status == ("closed" if action == "close" else "open")
    if "listening" in extras and action == "close":
        hooks = OutboxItem.objects.filter(payload__body__data__status__to="closed")
        assert hooks.count() == 2 * 2  # Acme's two closed conversations, in each twin set


def test_a_batch_acts_once(alice, eve, agent, lead):
    rows = _histories(alice, eve, agent)
    with at(ACT_AT):
        assert _act_batch(rows) == (3, 3, 0)
        assert _act_batch(rows) == (0, 0, 0)
        assert timers.sweep().closed == 0
    assert Message.objects.filter(author_type="system").count() == 3
    assert OutboxItem.objects.filter(key__startswith="reminder:").count() == 3


def test_the_sweep_goes_batch_by_batch(settings, alice, agent, monkeypatch):
    monkeypatch.setattr(timers, "BATCH", 2)
    with at("2027-03-01 09:00:00+00:00"):
        rows = [
            workflow.merchant_conversation_open(
                user=alice, kind="question", subject=f"{n}", body="?"
            )
            for n in range(5)
        ]
    with at("2027-03-02 10:00:00+00:00"):
        for row in rows:
            workflow.conversation_change_status(conversation=row, status="pending", actor=agent)
    with at("2027-03-07 10:00:00+00:00"):
        assert timers.sweep().reminded == 5
    with at("2027-03-09 10:00:00+00:00"):
        assert timers.sweep().closed == 5
    assert set(Conversation.objects.values_list("status", flat=True)) == {"closed"}
    assert StatusChange.objects.filter(status="closed").count() == 5


@pytest.mark.django_db(transaction=True)
def test_two_workers_sweeping_at_once_act_on_each_conversation_once(alice, agent):
    """SKIP LOCKED: each worker takes the rows the other does not hold; none twice."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("SQLite has one writer: concurrent sweeps are tested on PostgreSQL")
    import threading

    from django.db import connections

    with at("2027-03-01 09:00:00+00:00"):
        rows = [
            workflow.merchant_conversation_open(
                user=alice, kind="question", subject=f"{n}", body="?"
            )
            for n in range(40)
        ]
    with at("2027-03-02 10:00:00+00:00"):
        for row in rows:
            workflow.conversation_change_status(conversation=row, status="pending", actor=agent)
    Conversation.objects.update(merchant_remind_at=None)  # set-up: deadlines only
    start = threading.Barrier(2)
    closed: list[int] = []

    def worker() -> None:
        try:
            start.wait()
            closed.append(timers.sweep().closed)
        finally:
            connections.close_all()

    with at("2027-03-09 10:00:01+00:00"), pytest.MonkeyPatch.context() as patch:
        patch.setattr(timers, "BATCH", 5)
        threads = [threading.Thread(target=worker) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    assert len(closed) == 2  # both finished
    assert sum(closed) == 40
    assert StatusChange.objects.filter(status="closed").count() == 40
    assert Message.objects.filter(author_type="system").count() == 40
    assert set(Conversation.objects.values_list("status", flat=True)) == {"closed"}


def test_the_batch_path_tells_the_open_pages_what_the_single_path_tells_them(
    alice, eve, agent, django_capture_on_commit_callbacks
):
    single = _histories(alice, eve, agent)
    batch = _histories(alice, eve, agent)

    def heard(act, rows: list[Conversation]) -> list[list[tuple]]:
        channel_layers.backends.clear()
        # Listening from the moment the timers act: the layer ages its groups by the clock.
        with at(ACT_AT):
            desk = Listener(events.DESK_GROUP)
            with django_capture_on_commit_callbacks(execute=True):
                act(rows)
            told = desk.events()
        channel_layers.backends.clear()
        by_conversation: dict[int, list[tuple]] = {row.pk: [] for row in rows}
        for event in told:
            by_conversation[event["conversation"]].append(
                (event["type"], event.get("change"), event.get("status"), event.get("body"))
            )
        return list(by_conversation.values())

    told_single = heard(_act_single, single)
    told_batch = heard(_act_batch, batch)

    assert told_batch == told_single
    closing = ("conversation", "status", "closed", None)
    assert sum(closing in told for told in told_batch) == 3
