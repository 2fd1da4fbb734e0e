"""Attachment files left by a rolled-back transaction are swept; every file a row names stays."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.utils import timezone

from sellerdesk.conversations import workflow
from sellerdesk.conversations.models import Attachment
from sellerdesk.conversations.storage import attachment_orphans_remove
from sellerdesk.outbox.schedule import jobs


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


class Boom(Exception):
    pass


def _files(conversation) -> list[str]:
    folder = f"attachments/{timezone.now():%Y/%m}/{conversation.pk}"
    return sorted(default_storage.listdir(folder)[1])


def test_a_rolled_back_reply_leaves_a_file_the_sweep_removes_and_the_kept_ones_stay(alice):
    conversation = workflow.merchant_conversation_open(
        user=alice, kind="complaint", subject="Fatura", body="Ekte.",
        files=[SimpleUploadedFile("fatura.pdf", b"%PDF-1.4 kept", "application/pdf")],
    )  # fmt: skip

    def reply_then_fail() -> None:
        with transaction.atomic():
            workflow.reply_post(
                conversation=conversation, author=alice, body="Bir tane daha.",
                files=[SimpleUploadedFile("lost.pdf", b"%PDF-1.4 lost", "application/pdf")],
            )  # fmt: skip
            raise Boom

    with pytest.raises(Boom):
        reply_then_fail()
    assert _files(conversation) == ["fatura.pdf", "lost.pdf"]
    assert Attachment.objects.count() == 1

    # Too young: its transaction might still be open.
    assert attachment_orphans_remove() == 0
    assert attachment_orphans_remove(now=timezone.now() + timedelta(hours=2)) == 1

    assert _files(conversation) == ["fatura.pdf"]
    kept = Attachment.objects.get()
    assert kept.file.read() == b"%PDF-1.4 kept"


def test_an_empty_storage_is_swept_without_error(db):
    assert attachment_orphans_remove() == 0


def test_the_worker_sweeps_once_a_day():
    (job,) = [j for j in jobs() if j.name == "attachments.orphans"]
    assert job.every == timedelta(hours=24)
