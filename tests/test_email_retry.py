"""Mail the surroundings failed to process (attachment storage full, the database away) is not
quarantined for an admin to find: it stays received and the worker's ``email.retry`` processes
it once the storage has room. Found by ``make bench-load``: with the media disk full, accepted
mail sat in quarantine and never reached its conversation."""

from __future__ import annotations

import errno
from datetime import timedelta

import pytest
import time_machine
from django.core.files.storage import FileSystemStorage
from django.db import OperationalError
from django.utils import timezone

from sellerdesk.connectors.email import services, tasks
from sellerdesk.connectors.email.models import InboundEmail, InboundState
from sellerdesk.conversations.models import Attachment
from sellerdesk.outbox.schedule import jobs
from tests.emails import deliver, fixture, write


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    settings.SELLERDESK_ATTACHMENT_MAX_BYTES = 64 * 1024


@pytest.fixture
def disk_full(monkeypatch):
    def full(self, name, content):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(FileSystemStorage, "_save", full)
    return monkeypatch


def test_a_mail_met_by_a_full_disk_waits_and_is_processed_when_there_is_room(alice, disk_full):
    row = deliver(fixture("attachments.eml"))
    assert row.state == InboundState.RECEIVED
    assert "No space left on device" in row.error
    assert row.attempts == 1
    assert row.conversation is None
    assert not tasks.has_waiting_mail()  # the receiver may still be at it: a minute's grace

    disk_full.undo()
    with time_machine.travel(timezone.now() + timedelta(minutes=2)):
        assert tasks.has_waiting_mail()
        assert tasks.process_waiting_mail.call() == 1
    row.refresh_from_db()
    assert row.state == InboundState.PROCESSED
    assert row.error == ""
    names = sorted(
        Attachment.objects.filter(message=row.message).values_list("filename", flat=True)
    )
    assert names == ["attachment-4.png", "fatura.pdf", "ürünler listesi.csv"]
    assert not tasks.has_waiting_mail()


def test_the_database_away_mid_processing_also_leaves_the_mail_to_be_tried_again(
    alice, monkeypatch
):
    def away(*_args):
        raise OperationalError("terminating connection due to administrator command")

    monkeypatch.setattr(services, "_process", away)
    row = deliver(write(subject="Ödeme gecikti"))
    assert row.state == InboundState.RECEIVED
    assert "administrator command" in row.error


def test_a_mail_that_keeps_failing_is_quarantined_after_the_last_attempt(alice, disk_full):
    row = deliver(fixture("attachments.eml"))
    for _ in range(services.TRANSIENT_ATTEMPTS - 2):
        row = services.inbound_process(inbound=row)
        assert row.state == InboundState.RECEIVED
    row = services.inbound_process(inbound=row)
    assert row.state == InboundState.QUARANTINED
    assert row.attempts == services.TRANSIENT_ATTEMPTS
    assert "No space left on device" in row.error


def test_a_mail_at_fault_is_still_quarantined_at_once(db):
    row = deliver(write(sender="", subject="Kimden?"), mail_from="")
    assert row.state == InboundState.QUARANTINED
    assert InboundEmail.objects.get(pk=row.pk).attempts == 1


def test_the_worker_runs_the_retry_every_minute_when_mail_waits():
    job = next(j for j in jobs() if j.name == "email.retry")
    assert job.every == timedelta(minutes=1)
    assert job.task is tasks.process_waiting_mail
    assert job.wanted is tasks.has_waiting_mail
