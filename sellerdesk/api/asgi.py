"""``/api/`` under the ASGI server: Django's handler with the one middleware the API needs.

The pages' stack (sessions, CSRF, authentication, OTP, language, htmx, messages, static files)
does nothing for a request authenticated by its ``Authorization`` header, and under ASGI it is
not free: each sync-only middleware hands the request between the event loop and a thread,
and each of Django's async-mode ``MiddlewareMixin`` runs its hooks through ``sync_to_async``.
Here one middleware, run on the loop, does what those pages' middleware do for an API answer:

- ``SecurityMiddleware``: the HTTPS redirect, HSTS, ``nosniff``, the referrer and
  cross-origin opener policies;
- ``CommonMiddleware``: the host checked against ``ALLOWED_HOSTS``, refused user agents,
  ``Content-Length``;
- ``XFrameOptionsMiddleware``: ``X-Frame-Options``;
- the language: the API is always in English (``core.i18n``: ``/api/`` is an agent path),
  said in ``Content-Language`` as the pages' stack says it.

The view then runs in the request's thread once, handed over with the loop's
``run_in_executor`` and a copy of the request's context. asgiref's ``sync_to_async`` (what
Django's handler uses) also copies the context back and keeps a thread-sensitive context, which
cost ~6 % of a post's CPU; nothing in the request's thread calls ``async_to_sync`` (its
real-time events go to the server's loop, ``conversations.events``). The WSGI entry and the
test client keep the full stack (``settings.MIDDLEWARE``); ``tests/test_api_asgi.py`` checks
that both answer alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

from asgiref.sync import (
    iscoroutinefunction,
    markcoroutinefunction,
    sync_to_async,
)
from django.conf import settings
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.core.handlers.exception import convert_exception_to_response, response_for_exception
from django.http import HttpRequest, HttpResponseBase
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.common import CommonMiddleware
from django.middleware.security import SecurityMiddleware
from django.urls import get_resolver, set_script_prefix

from sellerdesk.api import guard
from sellerdesk.core.i18n import ENGLISH

PREFIX = "/api/"


def _path_info(scope: dict[str, Any]) -> str:
    """The scope's path as Django computes ``path_info``: without the script prefix."""
    path: str = scope.get("path", "")
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root) :]
    return path


def is_api_scope(scope: dict[str, Any]) -> bool:
    """Whether an HTTP scope asks for a path under ``/api/``."""
    return _path_info(scope).startswith(PREFIX)


def warm() -> None:
    """Do before serving what the first API request would do otherwise, while the requests
    after it wait: import every URL pattern (the whole site's modules) and build the table
    of each operation's query parameters from the OpenAPI document (``guard``)."""
    get_resolver().url_patterns  # noqa: B018 - imported on first access
    guard.query_parameters()


def _unused(request: HttpRequest) -> HttpResponseBase:
    raise AssertionError("only the hooks of these middleware are called")  # pragma: no cover


class ApiMiddleware:
    """Django's security, host and frame middleware as one, without thread hops."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)
        # Django's own, for their request and response hooks (pure: no I/O).
        self.security = SecurityMiddleware(_unused)
        self.common = CommonMiddleware(_unused)
        self.frame = XFrameOptionsMiddleware(_unused)

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self.__acall__(request)
        try:
            response = self._before(request)
        except Exception as error:
            response = response_for_exception(request, error)
        if response is None:
            response = self.get_response(request)
        return self._after(request, response)

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        try:
            response = self._before(request)
        except Exception as error:
            # A refused host or user agent: Django's answer for it, as its middleware give.
            response = await sync_to_async(response_for_exception, thread_sensitive=False)(
                request, error
            )
        if response is None:
            response = await self.get_response(request)
        return self._after(request, response)

    def _before(self, request: HttpRequest) -> HttpResponseBase | None:
        return self.security.process_request(request) or self.common.process_request(request)

    def _after(self, request: HttpRequest, response: Any) -> HttpResponseBase:
        # In the order the pages' stack applies them (the innermost first).
        response = self.frame.process_response(request, response)
        response.headers.setdefault("Content-Language", ENGLISH)
        response = self.common.process_response(request, response)
        return self.security.process_response(request, response)


#: Paths whose requests take no turn (``ApiHandler._turn``): a report or a search spends its
#: time waiting for the database, with the GIL released, and may take long; in a turn it would
#: hold up the short requests behind it.
UNCAPPED_PREFIXES = ("/api/v1/reports", "/api/v1/search")

#: Request threads kept for reuse by one API handler; more at once start and end their own.
IDLE_THREADS_KEPT = 64


class ApiHandler(ASGIHandler):
    """Django's ASGI handler with ``ApiMiddleware`` as its whole middleware stack, whose
    requests run their sync code in threads kept for the next requests (Django's handler
    starts a thread for each request and joins it after)."""

    def __init__(self) -> None:
        super().__init__()
        self._idle: list[ThreadPoolExecutor] = []
        # The turns of each event loop serving this handler (one in a server's process).
        self._turns: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore]
        self._turns = weakref.WeakKeyDictionary()
        warm()

    def _turn(self, scope: dict[str, Any]) -> contextlib.AbstractAsyncContextManager[Any]:
        """A turn to run a request's sync code: at most ``SELLERDESK_API_CONCURRENCY`` at once
        in this process, the others waiting in the order they came (asyncio's semaphore
        wakes its waiters first come, first served). Reports and searches take none
        (``UNCAPPED_PREFIXES``).

        More at once only make each dearer: they take turns at the GIL (and at the database
        pool), and each hand-over costs CPU and lets a late request overtake an early one."""
        cap = settings.SELLERDESK_API_CONCURRENCY
        if cap <= 0 or _path_info(scope).startswith(UNCAPPED_PREFIXES):
            return contextlib.nullcontext()
        loop = asyncio.get_running_loop()
        turns = self._turns.get(loop)
        if turns is None:
            turns = self._turns[loop] = asyncio.Semaphore(cap)
        return turns

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise ValueError(f"the API serves HTTP only, not {scope['type']}")
        # One thread for the request's sync work, as Django's handler gives it (the database
        # connection is the thread's), taken from the idle ones. A thread still busy with a
        # request abandoned by its client only delays the next one.
        executor = (
            self._idle.pop()
            if self._idle
            else ThreadPoolExecutor(max_workers=1, thread_name_prefix="sellerdesk-api")
        )
        try:
            await self._serve(scope, receive, send, executor)
        finally:
            if len(self._idle) < IDLE_THREADS_KEPT:
                self._idle.append(executor)
            else:
                executor.shutdown(wait=False)

    def load_middleware(self, is_async: bool = False) -> None:
        # The stack runs in the request's thread (``_respond``), in sync mode whatever asked.
        self._view_middleware: list[Any] = []
        self._template_response_middleware: list[Any] = []
        self._exception_middleware: list[Any] = []
        base = cast(Any, self)  # Django's BaseHandler; its stubs omit this one
        handler = convert_exception_to_response(base._get_response)
        self._middleware_chain = convert_exception_to_response(ApiMiddleware(handler))

    async def _serve(
        self, scope: dict[str, Any], receive: Any, send: Any, executor: ThreadPoolExecutor
    ) -> None:
        """Django's ``handle`` with one trip to the request's thread instead of four (the
        request started, the view, the request finished, the answer closed): the answer is
        made and, unless streamed, closed there, and sent from the loop.

        Django's handler also listens for the client going away, to cancel an async view;
        the API's views are sync and run to their end either way."""
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        set_script_prefix(get_script_prefix(scope))
        try:
            # The body is read before the turn is taken: a slow client holds no turn.
            loop = asyncio.get_running_loop()
            context = contextvars.copy_context()
            async with self._turn(scope):
                response = await loop.run_in_executor(
                    executor, context.run, self._respond, scope, body_file
                )
            try:
                await self.send_response(response, send)
            finally:
                if response.streaming:
                    await loop.run_in_executor(executor, context.run, response.close)
        finally:
            body_file.close()

    def _respond(self, scope: dict[str, Any], body_file: Any) -> HttpResponseBase:
        """In the request's thread: the request, its answer, and the request finished (the
        database connection back to the pool) before the answer is sent."""
        signals.request_started.send(sender=self.__class__, scope=scope)
        request, error_response = self.create_request(scope, body_file)
        response = self.get_response(request) if request is not None else error_response
        assert response is not None  # create_request gives a request or an answer
        cast(Any, response)._handler_class = self.__class__
        if not response.streaming:
            response.close()  # sends request_finished
        return response
