"""Attachment names sellerdesk's storage cannot take as they are: long names in scripts of two or
three bytes a character (the file system counts 255 bytes, not characters), names with no letter
or digit; and the desk's held reply, which cannot keep the files chosen with it."""

from __future__ import annotations

import os

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from sellerdesk.conversations.models import Attachment


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def _upload(name: str, content: bytes = b"%PDF-1.4", kind: str = "application/pdf"):
    return SimpleUploadedFile(name, content, content_type=kind)


def _stored(attachment: Attachment) -> str:
    """The name on disk: the last part of the path (the folders are names of their own)."""
    return os.path.basename(attachment.file.name)


def _portal_reply(client, conversation, *files):
    url = reverse("portal:reply", kwargs={"pk": conversation.pk})
    return client.post(url, {"body": "Ekte.", "attachments": list(files)})


def _desk_reply(client, conversation, *files, seen=None, **fields):
    url = reverse("desk:reply", kwargs={"pk": conversation.pk})
    if seen is None:
        seen = conversation.messages.order_by("-id").first().pk
    data = {"body": "Belge ekte.", "mode": "reply", "seen_message_id": seen, **fields}
    return client.post(url, {**data, "attachments": list(files)})


def test_a_long_chinese_name_is_stored_cut_to_the_file_systems_bytes(
    client_for, alice, acme_conversation
):
    name = "发票" * 50 + ".pdf"  # 104 characters, 304 bytes
    client = client_for(alice)
    # Twice: the second finds the name taken, and storage adds its suffix to it.
    for content in (b"%PDF-1.4 first", b"%PDF-1.4 second"):
        response = _portal_reply(client, acme_conversation, _upload(name, content))
        assert response.status_code == 302
    first, second = acme_conversation.attachments.order_by("id")
    for attachment, content in ((first, b"%PDF-1.4 first"), (second, b"%PDF-1.4 second")):
        assert attachment.filename == name  # shown as the merchant gave it
        stored = _stored(attachment)
        assert len(stored.encode()) <= 255
        assert stored.startswith("发票发票")
        assert stored.endswith(".pdf")
        with attachment.file.open("rb") as handle:
            assert handle.read() == content
    assert _stored(first) != _stored(second)

    detail = client.get(reverse("portal:detail", kwargs={"pk": acme_conversation.pk}))
    assert name in detail.content.decode()
    download = client.get(
        reverse("portal:attachment", kwargs={"pk": acme_conversation.pk, "attachment_pk": first.pk})
    )
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == b"%PDF-1.4 first"


def test_a_long_russian_and_turkish_name_from_the_desk_is_stored_and_shown(
    client_for, agent, acme_conversation
):
    name = "Счёт-фактура_İşlem_özeti_" * 8 + ".xlsx"  # 205 characters, 357 bytes
    kind = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    response = _desk_reply(client_for(agent), acme_conversation, _upload(name, b"PK\x03\x04", kind))
    assert response.status_code == 302
    attachment = acme_conversation.attachments.get()
    assert attachment.filename == name
    stored = _stored(attachment)
    assert len(stored.encode()) <= 255
    assert stored.startswith("Счёт-фактура_İşlem")
    assert stored.endswith(".xlsx")
    assert attachment.file.read() == b"PK\x03\x04"


def test_a_name_longer_than_its_column_is_shown_cut_with_its_extension(
    client_for, agent, acme_conversation
):
    name = "Ödeme_belgesi_" * 30 + ".pdf"  # 424 characters: the column holds 255
    response = _desk_reply(client_for(agent), acme_conversation, _upload(name))
    assert response.status_code == 302
    attachment = acme_conversation.attachments.get()
    assert len(attachment.filename) == 255
    assert attachment.filename.startswith("Ödeme_belgesi_Ödeme")
    assert attachment.filename.endswith(".pdf")
    assert len(_stored(attachment).encode()) <= 255
    assert attachment.file.read() == b"%PDF-1.4"


@pytest.mark.parametrize(
    ("name", "stored"),
    [("★★", "attachment"), ("★★.pdf", "attachment.pdf"), ("«…».tar.gz", "attachment.tar.gz")],
)
def test_a_name_with_no_letter_or_digit_is_stored_as_attachment(
    client_for, alice, acme_conversation, name, stored
):
    response = _portal_reply(client_for(alice), acme_conversation, _upload(name))
    assert response.status_code == 302
    attachment = acme_conversation.attachments.get()
    assert _stored(attachment) == stored
    assert attachment.file.read() == b"%PDF-1.4"
    assert acme_conversation.messages.filter(body="Ekte.").exists()


def test_a_held_desk_reply_asks_for_its_files_again(client_for, agent, alice, acme_conversation):
    seen = acme_conversation.messages.get().pk
    _portal_reply(client_for(alice), acme_conversation)  # the merchant writes meanwhile
    desk = client_for(agent)
    response = _desk_reply(desk, acme_conversation, _upload("dekont.pdf"), seen=seen)
    assert response.status_code == 409
    text = response.content.decode()
    assert "Send anyway" in text
    assert "Files are not kept when a reply comes back unsent: please choose them again." in text
    assert not Attachment.objects.exists()

    # Held with no file chosen: nothing to choose again.
    response = _desk_reply(desk, acme_conversation, seen=seen)
    assert response.status_code == 409
    assert "please choose them again" not in response.content.decode()


def test_a_refused_desk_reply_asks_for_its_files_again(
    client_for, agent, acme_conversation, settings
):
    settings.SELLERDESK_ATTACHMENTS_PER_MESSAGE = 1
    response = _desk_reply(client_for(agent), acme_conversation, _upload("a.pdf"), _upload("b.pdf"))
    assert response.status_code == 400
    text = response.content.decode()
    assert "at most 1 attachment a message" in text
    assert "Files are not kept when a reply comes back unsent: please choose them again." in text
