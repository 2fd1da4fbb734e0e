"""The outbox: written with the change that causes it, delivered once per key, retried with
backoff, failed after the last attempt, and taken again when a worker's lease runs out."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.db import transaction
from django.utils import timezone

from sellerdesk.outbox import delivery
from sellerdesk.outbox.models import OutboxItem
from sellerdesk.outbox.services import email_enqueue, message_id_for, outbox_add, outbox_retry

pytestmark = pytest.mark.django_db


def enqueue(key="k1", to=("alice@acme.test",)):
    with transaction.atomic():
        return email_enqueue(key=key, to=list(to), subject="Merhaba", body="Gövde 正文")


@pytest.mark.django_db(transaction=True)
def test_an_item_is_written_only_inside_the_changes_transaction():
    with pytest.raises(RuntimeError, match="inside the transaction"):
        email_enqueue(key="x", to=["a@b.test"], subject="s", body="b")
    assert not OutboxItem.objects.exists()


def test_a_rolled_back_change_leaves_no_message():
    def change_that_fails():
        with transaction.atomic():
            email_enqueue(key="x", to=["a@b.test"], subject="s", body="b")
            raise ZeroDivisionError  # the change fails after its message was queued

    with pytest.raises(ZeroDivisionError):
        change_that_fails()
    assert not OutboxItem.objects.exists()


def test_one_item_per_key():
    assert enqueue("same")
    assert not enqueue("same")
    assert OutboxItem.objects.count() == 1


def test_delivery_sends_once_with_a_message_id_from_the_key(settings):
    enqueue("reminder:1")
    run = delivery.deliver_due()
    assert (run.delivered, run.retried, run.failed) == (1, 0, 0)
    assert len(mail.outbox) == 1
    sent = mail.outbox[0]
    assert sent.to == ["alice@acme.test"]
    assert sent.body == "Gövde 正文"
    assert sent.extra_headers["Message-ID"] == message_id_for(
        "reminder:1", settings.SELLERDESK_MAIL_DOMAIN
    )
    assert OutboxItem.objects.get().status == "delivered"
    delivery.deliver_due()
    assert len(mail.outbox) == 1


class Broken(Exception):
    pass


def broken_transport(monkeypatch, failures):
    """The SMTP transport is the one seam patched: it fails ``failures`` times, then works."""
    real = delivery._HANDLERS["email"]
    state = {"left": failures}

    def flaky(item):
        if state["left"] > 0:
            state["left"] -= 1
            raise Broken("421 try again later")
        real(item)

    monkeypatch.setitem(delivery._HANDLERS, "email", flaky)


def test_a_failure_is_retried_later_with_growing_backoff(monkeypatch):
    broken_transport(monkeypatch, failures=2)
    enqueue()
    run = delivery.deliver_due()
    assert run.retried == 1
    item = OutboxItem.objects.get()
    assert item.status == "pending"
    assert item.attempts == 1
    assert "421 try again later" in item.last_error
    first_wait = item.next_attempt_at - timezone.now()
    assert timedelta(seconds=20) < first_wait < timedelta(seconds=40)
    assert delivery.deliver_due().claimed == 0  # not due yet
    with time_machine.travel(timezone.now() + timedelta(minutes=1)):
        assert delivery.deliver_due().retried == 1
        item.refresh_from_db()
        second_wait = item.next_attempt_at - timezone.now()
        assert second_wait > first_wait
    with time_machine.travel(timezone.now() + timedelta(minutes=5)):
        assert delivery.deliver_due().delivered == 1
    assert len(mail.outbox) == 1
    assert OutboxItem.objects.get().attempts == 3


def test_after_the_last_attempt_it_fails_and_an_admin_can_resend(monkeypatch, settings):
    settings.SELLERDESK_OUTBOX_MAX_ATTEMPTS = 2
    broken_transport(monkeypatch, failures=2)
    enqueue()
    delivery.deliver_due()
    with time_machine.travel(timezone.now() + timedelta(minutes=2)):
        assert delivery.deliver_due().failed == 1
    item = OutboxItem.objects.get()
    assert item.status == "failed"
    outbox_retry(item=item)
    assert delivery.deliver_due().delivered == 1
    assert len(mail.outbox) == 1


def test_a_claimed_item_waits_for_its_lease_then_is_taken_again():
    enqueue()
    claimed = delivery.claim(limit=10, lease=timedelta(minutes=2))
    assert len(claimed) == 1
    # The worker that claimed it is killed here. Nobody else takes it during the lease...
    assert delivery.claim(limit=10, lease=timedelta(minutes=2)) == []
    # ...and once the lease is over, another worker delivers it.
    with time_machine.travel(timezone.now() + timedelta(minutes=3)):
        assert delivery.deliver_due().delivered == 1
    assert len(mail.outbox) == 1


def test_an_unknown_kind_is_refused_at_the_door():
    with pytest.raises(ValueError, match="unknown outbox kind"), transaction.atomic():
        outbox_add(kind="carrier-pigeon", key="k", payload={})


def test_no_recipient_no_item():
    with transaction.atomic():
        assert not email_enqueue(key="k", to=["  "], subject="s", body="b")
    assert not OutboxItem.objects.exists()
