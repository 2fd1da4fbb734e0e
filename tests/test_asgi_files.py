"""Files answered under the ASGI server (``sellerdesk serve``) are streamed in blocks, not read
whole into memory first (``core.middleware.AsyncFileStreamMiddleware``); under WSGI they stay
Django's own file answers."""

from __future__ import annotations

import os
import warnings

import pytest
from asgiref.sync import async_to_sync
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import FileResponse
from django.test import AsyncClient, AsyncRequestFactory
from django.urls import reverse
from whitenoise.middleware import WhiteNoiseFileResponse

from sellerdesk.conversations import workflow
from sellerdesk.core.middleware import ASGI_FILE_BLOCK, AsyncFileStreamMiddleware

#: What Django's handler says when it has to read a synchronous iterator to its end first.
READ_WHOLE = "must consume synchronous iterators"


@pytest.fixture
def big_attachment(settings, tmp_path, alice):
    """A merchant's attachment of a little over three blocks."""
    settings.MEDIA_ROOT = tmp_path
    data = os.urandom(3 * ASGI_FILE_BLOCK + 123)
    conversation = workflow.merchant_conversation_open(
        user=alice,
        kind="question",
        subject="the statement",
        body="attached",
        files=[SimpleUploadedFile("statement.pdf", data, "application/pdf")],
    )
    return conversation, conversation.attachments.get(), data


def _get_over_asgi(client: AsyncClient, path: str) -> tuple[FileResponse, list[bytes], list]:
    """GET through Django's ASGI handler; the body read as the server reads it. The view runs
    in this thread (async_to_sync), so it sees the test's transaction."""

    async def fetch() -> tuple[FileResponse, list[bytes]]:
        response = await client.get(path)
        blocks = [block async for block in response.streaming_content]
        return response, blocks

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        response, blocks = async_to_sync(fetch)()
    return response, blocks, [str(w.message) for w in caught]


def _download(big_attachment, user, side: str):
    conversation, attachment, _ = big_attachment
    client = AsyncClient()
    client.force_login(user)
    path = reverse(
        f"{side}:attachment", kwargs={"pk": conversation.pk, "attachment_pk": attachment.pk}
    )
    return _get_over_asgi(client, path)


def test_an_attachment_is_streamed_in_blocks_under_asgi(big_attachment, agent):
    data = big_attachment[2]
    response, blocks, said = _download(big_attachment, agent, "desk")
    assert response.status_code == 200
    assert response.is_async
    assert [len(b) for b in blocks] == [ASGI_FILE_BLOCK] * 3 + [123]
    assert b"".join(blocks) == data
    # The headers set from the file are kept: length, type and the download's name.
    assert response["Content-Length"] == str(len(data))
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"] == 'attachment; filename="statement.pdf"'
    assert response["X-Content-Type-Options"] == "nosniff"
    assert not [m for m in said if READ_WHOLE in m]


def test_the_merchants_own_download_is_streamed_too(big_attachment, alice):
    response, blocks, said = _download(big_attachment, alice, "portal")
    assert response.status_code == 200
    assert response.is_async
    assert b"".join(blocks) == big_attachment[2]
    assert not [m for m in said if READ_WHOLE in m]


def test_a_static_file_from_whitenoise_is_streamed_under_asgi(db):
    response, blocks, said = _get_over_asgi(AsyncClient(), "/static/sellerdesk/app.css")
    assert response.status_code == 200
    assert response.is_async
    assert response["Content-Type"].startswith("text/css")
    body = b"".join(blocks)
    assert int(response["Content-Length"]) == len(body) > 0
    assert b"{" in body
    assert not [m for m in said if READ_WHOLE in m]


def test_a_file_answer_without_a_file_is_streamed_too():
    """WhiteNoise answers a revalidation (304) and a HEAD with a file answer holding no file,
    an empty body: Django's ASGI handler warned for each (the browser tests' static files).
    The test client empties such bodies itself, so the middleware is called directly."""
    request = AsyncRequestFactory().get("/static/sellerdesk/app.css")
    answer = WhiteNoiseFileResponse((), status=304)
    response = AsyncFileStreamMiddleware(lambda request: answer)(request)

    async def body() -> list[bytes]:
        return [part async for part in response]

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert async_to_sync(body)() == []
    assert response.is_async
    assert not [w for w in caught if READ_WHOLE in str(w.message)]


def test_under_wsgi_the_answer_is_djangos_own_file_answer(big_attachment, client_for, agent):
    conversation, attachment, data = big_attachment
    client = client_for(agent)
    path = reverse(
        "desk:attachment", kwargs={"pk": conversation.pk, "attachment_pk": attachment.pk}
    )
    response = client.get(path)
    assert response.status_code == 200
    assert not response.is_async
    assert b"".join(response.streaming_content) == data


def test_the_middleware_leaves_a_wsgi_answer_as_it_is(rf, tmp_path):
    """Under WSGI the file stays the answer's own, for ``wsgi.file_wrapper``."""
    path = tmp_path / "f.bin"
    path.write_bytes(b"x" * 10)
    with path.open("rb") as handle:
        answer = FileResponse(handle)
        middleware = AsyncFileStreamMiddleware(lambda request: answer)
        response = middleware(rf.get("/f.bin"))
        assert response is answer
        assert not response.is_async
        assert response.file_to_stream is handle
        assert b"".join(response.streaming_content) == b"x" * 10
