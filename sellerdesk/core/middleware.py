"""Request checks that hold for every page and endpoint, before any view runs; files streamed
under the ASGI server without being read whole."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from typing import IO

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponseBase

#: Read at a time from a file streamed under the ASGI server (Django's ``FileResponse`` reads
#: 4 KiB; each read here is one trip to a thread and one body message to the server).
ASGI_FILE_BLOCK = 64 * 1024


class AsyncFileStreamMiddleware:
    """Under the ASGI server, stream a file's answer (an attachment, a static file from
    WhiteNoise) in blocks read in a thread, instead of reading it whole first.

    Django's ``FileResponse`` gives a synchronous iterator; the ASGI handler can only
    consume one by reading it to the end into a list in a thread (and warns each time), so a
    10 MB attachment was held in memory whole, in 2,560 pieces of 4 KiB, before its first
    byte left. Here such a response gets an asynchronous iterator over the same file, read
    ``ASGI_FILE_BLOCK`` at a time; its headers (length, type, disposition) are the ones
    already set, and the file is closed with the response as before. Under WSGI (the test
    client, ``manage.py runserver``) nothing changes: the server may hand the file to
    ``wsgi.file_wrapper``. Outermost in ``MIDDLEWARE``, so it sees WhiteNoise's answers too.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        if (
            isinstance(request, ASGIRequest)
            and isinstance(response, FileResponse)
            and not response.is_async
        ):
            filelike = response.file_to_stream
            # A file-like value sets the headers from the file; these only stream. Without a
            # file (WhiteNoise's 304 and HEAD answers carry an empty body), its items.
            response.streaming_content = (
                _blocks(filelike) if filelike is not None else _items(iter(response))
            )
        return response


async def _blocks(filelike: IO[bytes]) -> AsyncIterator[bytes]:
    read = sync_to_async(filelike.read, thread_sensitive=False)
    while block := await read(ASGI_FILE_BLOCK):
        yield block


def _next(iterator: Iterator[bytes]) -> bytes | None:
    return next(iterator, None)


async def _items(iterator: Iterator[bytes]) -> AsyncIterator[bytes]:
    step = sync_to_async(_next, thread_sensitive=False)
    while (item := await step(iterator)) is not None:
        yield item


class RefuseNulCharactersMiddleware:
    """Answer 400 to a query string or form with a NUL character, whatever the view.

    No text a person types holds one, and PostgreSQL refuses it in any text value, so a view
    that filters or stores it would fail with a 500. The answer is a problem detail (RFC 9457),
    the shape the API answers every client mistake with. The API itself (``/api/``) is left
    to its schemas, which answer 422 naming the parameter or field.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info.startswith("/api/"):
            return self.get_response(request)
        for where, data in (("query string", request.GET), ("form", request.POST)):
            if any("\x00" in key or any("\x00" in v for v in data.getlist(key)) for key in data):
                return _bad_request(f"the {where} contains a NUL character")
        return self.get_response(request)


def _bad_request(detail: str) -> HttpResponse:
    body = {"type": "about:blank", "title": "Bad Request", "status": 400, "detail": detail}
    return HttpResponse(json.dumps(body), status=400, content_type="application/problem+json")
