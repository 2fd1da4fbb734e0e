"""The live chat in a real browser, against the ASGI application served by uvicorn (as
`sellerdesk serve` does): the merchant writes in the portal's chat, the agent's open page
shows it without a reload, the agent answers and the merchant sees it, also without one."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from playwright.sync_api import Browser, expect

from sellerdesk.conversations.models import Message
from tests.test_browser import Browsing, browser  # noqa: F401 (the module's browser fixture)

pytestmark = pytest.mark.browser

#: The ports this suite's servers may take (shared machine: one range per engineer).
PORTS = range(8101, 8110)


def _free_socket() -> socket.socket:
    for port in PORTS:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            sock.close()
            continue
        return sock
    raise RuntimeError(f"no free port in {PORTS}")


@pytest.fixture
def asgi_server(transactional_db: Any) -> Iterator[str]:
    """sellerdesk's ASGI application (pages and websockets) on uvicorn, in a thread, against
    the test database."""
    from sellerdesk.asgi import application

    sock = _free_socket()
    config = uvicorn.Config(
        application, lifespan="off", log_level="warning", ws="websockets-sansio"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()


@pytest.fixture
def live_browsing(browser: Browser, asgi_server: str) -> Iterator[Browsing]:  # noqa: F811
    session = Browsing(browser, asgi_server)
    yield session
    for context in session.contexts:
        context.close()


def test_a_chat_message_reaches_the_agents_open_page_and_the_answer_comes_back_live(
    live_browsing: Browsing, alice: Any, agent: Any, acme_conversation: Any
) -> None:
    merchant = live_browsing.person(alice.email, live=True)
    merchant.goto(f"/merchant/c/{acme_conversation.pk}/")
    desk = live_browsing.person(agent.email, live=True)
    desk.goto(f"/desk/c/{acme_conversation.pk}/")
    for page in (merchant, desk):
        expect(page.locator("[data-chat-live]")).to_have_count(1)
        # Set on the page now: still there later means the page was never reloaded.
        page.evaluate("window.sellerdeskNoReload = true")

    # Alice types (the agent sees it), then sends over the socket.
    text = "Ödeme hâlâ yok · 货款还没到 · 아직 입금 안 됨 <b>&</b>"
    merchant.get_by_label("Your reply").press_sequentially("Ö")
    expect(desk.locator("[data-chat-typing]")).to_have_text("Alice Acar is typing…")
    merchant.get_by_label("Your reply").fill(text)
    merchant.get_by_role("button", name="Send reply").click()
    expect(merchant.locator(".thread .message.merchant .body").last).to_have_text(text)
    expect(merchant.get_by_label("Your reply")).to_have_value("")
    expect(desk.locator(".thread .message.merchant .body").last).to_have_text(text)
    stored = Message.objects.get(body=text)
    assert stored.client_id  # sent over the socket, with the page's own id for it
    assert desk.locator(f"#m{stored.pk}").count() == 1
    assert merchant.locator(f"#m-{stored.pk}").count() == 1

    # The agent answers with the ordinary form: no "new messages arrived" hold, the page
    # already shows what arrived.
    answer = "Merhaba Alice, yarın hesabınızda · 明天到账 · 내일 입금"
    desk.locator("#body").fill(answer)
    desk.locator("#send").click()
    expect(desk.locator(".flash")).to_contain_text("Reply sent.")
    expect(merchant.locator(".thread .message.agent .body").last).to_have_text(answer)
    assert merchant.evaluate("window.sellerdeskNoReload") is True
    assert desk.evaluate("window.sellerdeskNoReload") is None  # the form posted: a new page
    assert Message.objects.filter(body=text).count() == 1
    live_browsing.assert_clean()


def test_another_agent_opening_the_conversation_shows_as_viewing(
    live_browsing: Browsing, agent: Any, lead: Any, acme_conversation: Any
) -> None:
    ada = live_browsing.person(agent.email, live=True)
    ada.goto(f"/desk/c/{acme_conversation.pk}/")
    expect(ada.locator("[data-chat-live]")).to_have_count(1)
    lena = live_browsing.person(lead.email, live=True)
    lena.goto(f"/desk/c/{acme_conversation.pk}/")
    expect(ada.locator("[data-chat-viewers]")).to_have_text("Viewing now: Lena Lead")
    expect(lena.locator("[data-chat-viewers]")).to_have_text("Viewing now: Ada Agent")
    lena.close()
    expect(ada.locator("[data-chat-viewers]")).to_be_hidden()
    live_browsing.assert_clean()


def test_the_inbox_offers_a_refresh_when_a_conversation_arrives(
    live_browsing: Browsing, alice: Any, agent: Any
) -> None:
    desk = live_browsing.person(agent.email, live=True)
    desk.goto("/desk/")
    expect(desk.locator("[data-chat-live]")).to_have_count(1)
    merchant = live_browsing.person(alice.email, live=True)
    merchant.goto("/merchant/chat/")
    merchant.get_by_label("Your message").fill("Hesabım askıya alındı, neden?")
    merchant.get_by_role("button", name="Start the chat").click()
    expect(merchant.locator(".thread .message.merchant .body")).to_have_text(
        "Hesabım askıya alındı, neden?"
    )
    banner = desk.locator("[data-chat-banner]")
    expect(banner).to_contain_text("1 conversation is new or changed")
    banner.get_by_role("button", name="refresh the list").click()
    expect(banner).to_be_hidden()
    expect(desk.locator("#inbox-rows")).to_contain_text("Hesabım askıya alındı, neden?")
    live_browsing.assert_clean()
