"""``/api/`` as the ASGI server serves it (``sellerdesk.asgi``, ``api/asgi.py``): its own short
middleware stack answers with the headers the pages' full stack gives an API answer, checks
the host, reuses its request threads, and hands real-time events to the server's loop."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from asgiref.sync import async_to_sync

from sellerdesk.api import asgi as api_asgi
from sellerdesk.api import auth
from sellerdesk.conversations import events, workflow
from sellerdesk.conversations.models import Message

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_rate_counts")]

#: Headers that differ between two answers for reasons other than the middleware.
_PER_ANSWER = {"date", "server"}


@pytest.fixture(scope="module")
def application():
    from sellerdesk.asgi import application

    return application


def _serve(app: Any, method: str, path: str, **options: Any) -> tuple[int, dict[str, str], bytes]:
    """One HTTP request through the ASGI application, as uvicorn hands it over."""
    return async_to_sync(_call)(app, method, path, **options)


async def _call(
    app: Any,
    method: str,
    path: str,
    *,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    host: str = "testserver",
) -> tuple[int, dict[str, str], bytes]:
    path, _, query = path.partition("?")
    sent: list[dict[str, Any]] = []
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> dict[str, Any]:
        if pending:
            return pending.pop()
        await asyncio.Event().wait()  # the client stays connected
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [
            (b"host", host.encode()),
            *((k.lower().encode(), v.encode()) for k, v in (headers or {}).items()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    answer = {k.decode().lower(): v.decode() for k, v in start["headers"]}
    content = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], answer, content


def _bearer(world, caller: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {world.tokens[caller]}"}


def test_an_api_answer_has_the_headers_the_full_stack_gives_it(world, application):
    full = world.client("read").get("/api/v1/tags")
    status, headers, content = _serve(
        application, "GET", "/api/v1/tags", headers=_bearer(world, "read")
    )
    assert status == full.status_code == 200
    assert json.loads(content) == full.json()
    expected = {k.lower(): v for k, v in full.headers.items()}
    # Security headers, the language, the length: as the pages' stack gives them.
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == expected["referrer-policy"]
    assert headers["cross-origin-opener-policy"] == expected["cross-origin-opener-policy"]
    assert headers["content-language"] == "en"
    assert headers["content-length"] == str(len(content))
    assert {k: v for k, v in headers.items() if k not in _PER_ANSWER} == expected


def test_a_problem_answer_has_the_same_headers_too(world, application):
    full = world.client("anonymous").get("/api/v1/tags")
    status, headers, content = _serve(application, "GET", "/api/v1/tags")
    assert status == full.status_code == 401
    assert headers["content-type"] == "application/problem+json"
    assert json.loads(content)["status"] == 401
    expected = {k.lower(): v for k, v in full.headers.items()}
    assert {k: v for k, v in headers.items() if k not in _PER_ANSWER} == expected
    assert _serve(application, "GET", "/api/v1/nothing-here")[0] == 404


def test_a_host_not_allowed_is_refused(world, application, settings):
    settings.ALLOWED_HOSTS = ["desk.example.com"]
    status, headers, _ = _serve(
        application, "GET", "/api/v1/tags", headers=_bearer(world, "read"), host="evil.test"
    )
    assert status == 400
    assert headers["x-frame-options"] == "DENY"  # the refusal passes the security headers too
    assert (
        _serve(
            application,
            "GET",
            "/api/v1/tags",
            headers=_bearer(world, "read"),
            host="desk.example.com",
        )[0]
        == 200
    )


def test_the_https_redirect_applies_to_the_api(world, settings):
    settings.SECURE_SSL_REDIRECT = True  # read when the middleware is made
    status, headers, _ = _serve(
        api_asgi.ApiHandler(), "GET", "/api/v1/tags", headers=_bearer(world, "read")
    )
    assert status == 301
    assert headers["location"] == "https://testserver/api/v1/tags"


def test_a_message_posted_over_asgi_is_stored_once_and_its_event_leaves_from_the_loop(
    world, application, acme_conversation, agent, monkeypatch
):
    workflow.reply_post(conversation=acme_conversation, author=agent, body="We are looking.")
    sent: list[list[str]] = []

    async def group_send(layer, sends, together=False):
        asyncio.get_running_loop()  # on the server's loop, not in the request's thread
        sent.append(sorted({g for groups, _ in sends for g in groups}))

    monkeypatch.setattr(events, "_group_send", group_send)
    # A desk socket listens (the in-memory layer sends only to groups with members).
    monkeypatch.setattr(events.get_channel_layer(), "groups", {"desk": {"listener": 0}})
    body = json.dumps({"body": "Paid today.", "author_email": agent.email}).encode()
    headers = {
        **_bearer(world, "write"),
        "Content-Type": "application/json",
        "Idempotency-Key": "asgi-1",
    }
    path = f"/api/v1/conversations/{acme_conversation.pk}/messages"

    async def post_twice() -> list[tuple[int, bytes]]:
        answers = []
        for _ in range(2):  # the retry gets the stored answer and publishes nothing
            status, _, content = await _call(application, "POST", path, headers=headers, body=body)
            answers.append((status, content))
        for _ in range(500):  # the loop's sender runs between requests
            if sent:
                break
            await asyncio.sleep(0.01)
        return answers

    answers = async_to_sync(post_twice)()
    assert [status for status, _ in answers] == [201, 201]
    assert answers[0][1] == answers[1][1]
    assert Message.objects.filter(body="Paid today.").count() == 1
    # One event, the message (public: to the desk and the merchant's sockets).
    assert sent == [["desk", f"merchant.{acme_conversation.merchant_id}"]]


def test_the_request_threads_are_reused(world):
    handler = api_asgi.ApiHandler()
    for _ in range(3):
        assert _serve(handler, "GET", "/api/v1/tags", headers=_bearer(world, "read"))[0] == 200
    assert len(handler._idle) == 1


def test_the_rate_counts_are_one_cache_for_the_process(world):
    assert auth._counts() is auth._counts()
    key_counts = [auth._count(424242)[0] for _ in range(3)]
    assert key_counts == [1, 2, 3]


def _five_at_once(world: Any, monkeypatch: Any, path: str) -> tuple[list[int], int, list[str]]:
    """Five requests for ``path`` arriving in order, each 50 ms in its sync code: their
    statuses, the most that ran at once, and the order they started in."""
    import threading
    import time

    handler = api_asgi.ApiHandler()
    respond = handler._respond
    lock = threading.Lock()
    running = [0]
    most = [0]
    started: list[str] = []

    def slow_respond(scope: dict[str, Any], body_file: Any) -> Any:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
            started.append(dict(scope["headers"])[b"x-order"].decode())
        time.sleep(0.05)
        try:
            return respond(scope, body_file)
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setattr(handler, "_respond", slow_respond)
    headers = _bearer(world, "read")

    async def five() -> list[int]:
        calls = []
        for n in range(5):
            call = _call(handler, "GET", path, headers={**headers, "X-Order": str(n)})
            calls.append(asyncio.ensure_future(call))
            await asyncio.sleep(0.005)  # they arrive in this order
        return [status for status, _, _ in await asyncio.gather(*calls)]

    statuses = async_to_sync(five)()
    return statuses, most[0], started


@pytest.mark.parametrize(("cap", "at_once"), [(2, 2), (1, 1), (0, 5)])
def test_a_process_runs_at_most_its_cap_of_requests_at_once_in_arrival_order(
    world, settings, monkeypatch, cap, at_once
):
    """SELLERDESK_API_CONCURRENCY requests run their sync code at once; the others wait their
    turn, first come first served (0: no cap)."""
    settings.SELLERDESK_API_CONCURRENCY = cap
    statuses, most, started = _five_at_once(world, monkeypatch, "/api/v1/tags")
    assert statuses == [200] * 5
    assert most == at_once
    if cap:
        assert started == [str(n) for n in range(5)]


def test_searches_and_reports_take_no_turn(world, settings, monkeypatch):
    """They wait for the database, and may take long: they would hold up the short ones."""
    settings.SELLERDESK_API_CONCURRENCY = 1
    statuses, most, _ = _five_at_once(world, monkeypatch, "/api/v1/search?q=payout")
    assert statuses == [200] * 5
    assert most == 5
