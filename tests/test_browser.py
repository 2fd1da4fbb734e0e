"""The desk and the portal in a real browser: Debian's chromium, driven by Playwright.

Every test here is marked ``browser``; conftest skips them, loudly, where /usr/bin/chromium
is missing. Each person gets their own browser context (own cookies), signs in through the
sign-in form, and works only through the pages. Any console error or uncaught exception on
any page fails the test. Screenshots go to ``var/test-artifacts/``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    WebError,
    expect,
    sync_playwright,
)

from tests.conftest import CHROMIUM, PASSWORD, REPO

pytestmark = pytest.mark.browser

ARTIFACTS = REPO / "var" / "test-artifacts"
# Debian's chromium, quiet: no update checks, no sync, no first-run pages.
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
expect.set_options(timeout=10_000)

# Türkçe, 中文 and 한국어 in one conversation, plus markup that must show as text.
SUBJECT = "Ödeme gecikti · 货款未到账 · 정산 지연"
FIRST_MESSAGE = (
    "Siparişimin ödemesi 10 gündür gelmedi. 我的货款还没有到账。 정산이 아직 안 됐어요. "
    "Sipariş <ORD-1001> & iade"
)
AGENT_REPLY = "Merhaba Alice, ödemeniz yarın hesabınızda. 明天到账。 내일 입금됩니다."
MERCHANT_ANSWER = "Teşekkürler, İyi günler! 谢谢！ 감사합니다!"
SEEDED_TAG = "Ödeme gecikmesi"
NEW_TAG = "结算 정산"


class Browsing:
    """Browser contexts against the live server, one per person. Collects the console
    errors and uncaught exceptions of every page they open."""

    def __init__(self, browser: Browser, base_url: str) -> None:
        self.browser = browser
        self.base_url = base_url
        self.contexts: list[BrowserContext] = []
        self.problems: list[str] = []
        self.expected: list[re.Pattern[str]] = []

    def person(self, email: str, *, live: bool = False, language: str = "en") -> Page:
        """A fresh context for one person, signed in through the sign-in form.

        The pages are in ``language`` (the switcher's cookie; Acme and Globex write Turkish
        and Chinese, whose pages tests/test_browser_languages.py reads).

        Without ``live`` the pages have no WebSocket, as in a browser where it is blocked:
        the live chat stays off and every form posts (the WSGI live server has no sockets;
        tests/test_browser_chat.py runs the ASGI application for the live chat)."""
        context = self.browser.new_context(
            base_url=self.base_url, viewport={"width": 1280, "height": 900}
        )
        if not live:
            context.add_init_script(script="window.WebSocket = undefined;")
        context.add_cookies(
            [{"name": settings.LANGUAGE_COOKIE_NAME, "value": language, "url": self.base_url}]
        )
        context.set_default_timeout(10_000)
        context.on("console", self._console)
        context.on("weberror", self._web_error)
        self.contexts.append(context)
        page = context.new_page()
        page.goto("/accounts/login/")
        page.get_by_label("E-mail address").fill(email)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in", exact=True).click()
        expect(page.get_by_role("button", name="Sign out")).to_be_visible()
        # The deferred scripts (desk.js's shortcuts, chat.js) have run once "load" has fired:
        # a key pressed before then would go unheard on a busy machine.
        page.wait_for_load_state("load")
        return page

    def allow_console_error(self, pattern: str) -> None:
        """The next console error matching ``pattern`` is expected (a 409 page, say)."""
        self.expected.append(re.compile(pattern))

    def _console(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        for pattern in self.expected:
            if pattern.search(message.text):
                self.expected.remove(pattern)
                return
        where = message.page.url if message.page else "?"
        self.problems.append(f"console error on {where}: {message.text} ({message.location})")

    def _web_error(self, error: WebError) -> None:
        where = error.page.url if error.page else "?"
        self.problems.append(f"uncaught exception on {where}: {error.error}")

    def assert_clean(self) -> None:
        assert not self.problems, "the browser reported problems:\n" + "\n".join(self.problems)
        assert not self.expected, f"expected console errors that never came: {self.expected}"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # Playwright's sync API keeps an event loop running in this thread, and Django refuses
    # ORM calls from a thread with a running loop unless told they are safe. They are: the
    # loop only waits on the browser while the test's own code runs.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
            yield chromium
            chromium.close()


@pytest.fixture
def browsing(browser: Browser, live_server: Any) -> Iterator[Browsing]:
    session = Browsing(browser, live_server.url)
    yield session
    for context in session.contexts:
        context.close()


def screenshot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    path.unlink(missing_ok=True)
    page.screenshot(path=str(path), full_page=True)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return path


# Draws each character with the element's font stack and compares it with the "no glyph"
# box of a noncharacter: equal pixels mean the page shows tofu, not the script.
_MISSING_GLYPHS = """
(element) => {
  const canvas = document.createElement("canvas");
  canvas.width = 64; canvas.height = 64;
  const ctx = canvas.getContext("2d");
  ctx.font = "40px " + getComputedStyle(element).fontFamily;
  const draw = (ch) => { ctx.clearRect(0, 0, 64, 64); ctx.fillText(ch, 4, 48); return canvas.toDataURL(); };
  const tofu = draw("\\uFDD0");
  return [...new Set(element.innerText)].filter((ch) => ch.trim() && draw(ch) === tofu);
}
"""


def assert_glyphs_render(page: Page, selector: str) -> None:
    missing = page.locator(selector).first.evaluate(_MISSING_GLYPHS)
    assert not missing, (
        f"{selector} shows {missing} as empty boxes: no font for that script "
        "(.ci/run installs fonts-wqy-zenhei beside chromium)"
    )


_UNLABELLED = """
() => [...document.querySelectorAll("input, select, textarea")]
  .filter((el) => el.type !== "hidden" && el.type !== "submit")
  .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute("aria-label")
    && !el.getAttribute("aria-labelledby") && !el.title)
  .map((el) => el.outerHTML.slice(0, 120))
"""


def assert_labelled(page: Page) -> None:
    """Every form control on the page has a label (or an aria-label) screen readers announce."""
    assert page.evaluate(_UNLABELLED) == [], f"controls without a label on {page.url}"


# WCAG contrast of an element's text against the first opaque background behind it.
_CONTRAST = """
(el) => {
  const rgb = (c) => c.match(/[\\d.]+/g).map(Number);
  const lum = (c) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]);
  };
  let back = [255, 255, 255];
  for (let node = el; node; node = node.parentElement) {
    const c = rgb(getComputedStyle(node).backgroundColor);
    if (c.length < 4 || c[3] > 0) { back = c; break; }
  }
  const [hi, lo] = [lum(rgb(getComputedStyle(el).color)), lum(back)].sort((a, b) => b - a);
  return (hi + 0.05) / (lo + 0.05);
}
"""


def flash(page: Page) -> Any:
    return expect(page.locator(".flash"))


def set_status(page: Page, status: str) -> None:
    form = page.locator("form").filter(has=page.locator("#status"))
    page.locator("#status").select_option(status)
    form.get_by_role("button", name="Set").click()


# --- The whole round trip -------------------------------------------------------------------


def test_merchant_and_agent_carry_a_multilingual_complaint_to_solved(
    browsing: Browsing, alice: Any, agent: Any, globex_conversation: Any
) -> None:
    from sellerdesk.conversations.models import Conversation
    from sellerdesk.conversations.workflow import conversation_add_tag

    # A tag already in use elsewhere, for the autocomplete to offer.
    conversation_add_tag(conversation=globex_conversation, name=SEEDED_TAG, actor=agent)

    # Alice files a complaint from the portal.
    merchant = browsing.person(alice.email)
    expect(merchant).to_have_url(re.compile(r"/merchant/$"))
    merchant.get_by_role("link", name="Contact support").first.click()
    expect(merchant).to_have_url(re.compile(r"/merchant/new/$"))
    assert_labelled(merchant)
    merchant.get_by_label("What is it about?").select_option("complaint")
    merchant.get_by_label("Subject").fill(SUBJECT)
    merchant.get_by_label("Message").fill(FIRST_MESSAGE)
    merchant.get_by_label("Order number").fill("ORD-1001")
    merchant.get_by_role("button", name="Send", exact=True).click()
    flash(merchant).to_contain_text("Your message has been sent to support.")
    expect(merchant.locator("#conversation-heading")).to_have_text(SUBJECT)
    expect(merchant.locator(".thread .message.merchant .body")).to_have_text(FIRST_MESSAGE)
    conversation = Conversation.objects.get(subject=SUBJECT)
    expect(merchant).to_have_url(re.compile(rf"/merchant/c/{conversation.pk}/$"))

    # The agent finds it among the unassigned and opens it.
    desk = browsing.person(agent.email)
    expect(desk).to_have_url(re.compile(r"/desk/$"))
    queues = desk.get_by_role("navigation", name="Queues")
    queues.get_by_role("link", name=re.compile(r"^Unassigned")).click()
    expect(desk.locator("#inbox-title")).to_have_text("Unassigned")
    row = desk.locator("tr[data-row]").filter(has_text=SUBJECT)
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Acme Tekstil")
    expect(row).to_contain_text("Complaint")
    expect(desk.locator("tr[data-row]")).to_have_count(2)
    assert_labelled(desk)
    screenshot(desk, "inbox")
    row.get_by_role("link", name=SUBJECT).click()
    expect(desk).to_have_url(re.compile(rf"/desk/c/{conversation.pk}/$"))
    expect(desk.locator("#conv-title")).to_contain_text(SUBJECT)
    expect(desk.locator(".thread .message.merchant .body")).to_have_text(FIRST_MESSAGE)
    expect(desk.locator("#order_ref")).to_have_value("ORD-1001")
    assert_labelled(desk)

    # A tag through the autocomplete: typing a prefix fills the datalist from the server.
    tag_input = desk.get_by_label("Add a tag")
    tag_input.press_sequentially("öde")
    expect(desk.locator("#tag-options option")).to_have_count(1)
    expect(desk.locator("#tag-options option")).to_have_attribute("value", SEEDED_TAG)
    tag_input.fill(SEEDED_TAG)
    tag_input.press("Enter")
    flash(desk).to_contain_text("Tag added.")
    # And one nobody used before, in two scripts.
    desk.get_by_label("Add a tag").fill(NEW_TAG)
    desk.get_by_role("button", name="Add", exact=True).click()
    flash(desk).to_contain_text("Tag added.")
    tags = desk.get_by_role("list", name="Tags")
    expect(tags).to_contain_text(SEEDED_TAG)
    expect(tags).to_contain_text(NEW_TAG)

    # The agent replies.
    desk.locator("#body").fill(AGENT_REPLY)
    expect(desk.get_by_label("Public reply to the merchant")).to_be_checked()
    desk.locator("#send").click()
    flash(desk).to_contain_text("Reply sent.")
    expect(desk.locator(".thread .message.agent .body")).to_have_text(AGENT_REPLY)
    expect(desk.locator("#conv-title + p .badge").first).to_have_text("Open")
    assert_glyphs_render(desk, "#conv-title")
    screenshot(desk, "conversation")

    # Alice reads the reply in the portal and answers.
    merchant.reload()
    answer = merchant.locator(".thread .message.agent")
    expect(answer.locator(".body")).to_have_text(AGENT_REPLY)
    expect(answer.locator("header")).to_contain_text("Ada Agent")
    assert_labelled(merchant)
    merchant.get_by_label("Your reply").fill(MERCHANT_ANSWER)
    merchant.get_by_role("button", name="Send reply").click()
    flash(merchant).to_contain_text("Your reply has been sent.")
    expect(merchant).to_have_url(re.compile(r"#m-\d+$"))
    bodies = merchant.locator(".thread .message .body")
    expect(bodies).to_have_text([FIRST_MESSAGE, AGENT_REPLY, MERCHANT_ANSWER])
    for selector in ("#conversation-heading", ".thread"):
        assert_glyphs_render(merchant, selector)
    screenshot(merchant, "portal")

    # The agent sees the answer and solves the conversation.
    desk.reload()
    expect(desk.locator(".thread .message .body")).to_have_text(
        [FIRST_MESSAGE, AGENT_REPLY, MERCHANT_ANSWER]
    )
    set_status(desk, "solved")
    flash(desk).to_contain_text("Status changed.")
    expect(desk.locator("#conv-title + p .badge").first).to_have_text("Solved")
    expect(desk.locator("#status")).to_have_value("solved")

    # Alice finds it among the past conversations, solved.
    merchant.get_by_role("link", name="My conversations").first.click()
    past = merchant.locator("section", has=merchant.locator("#past-heading"))
    expect(past.get_by_role("link", name=SUBJECT)).to_be_visible()
    expect(past).to_contain_text("Solved")

    conversation.refresh_from_db()
    assert conversation.status == "solved"
    assert sorted(conversation.tags.values_list("display_name", flat=True)) == sorted(
        [SEEDED_TAG, NEW_TAG]
    )
    browsing.assert_clean()


# --- Keyboard -------------------------------------------------------------------------------


def test_keyboard_shortcuts_open_help_move_open_reply_and_go_back(
    browsing: Browsing, agent: Any, acme_conversation: Any, globex_conversation: Any
) -> None:
    desk = browsing.person(agent.email)
    expect(desk.locator("tr[data-row]")).to_have_count(2)

    help_dialog = desk.locator("dialog#shortcuts")
    expect(help_dialog).to_be_hidden()
    desk.keyboard.press("?")
    expect(help_dialog).to_be_visible()
    expect(help_dialog.get_by_role("heading")).to_have_text("Keyboard shortcuts")
    desk.keyboard.press("Escape")
    expect(help_dialog).to_be_hidden()

    first = desk.locator("tr[data-row]").first
    first_href = first.get_attribute("data-href")
    first_subject = first.get_by_role("link").inner_text()
    desk.keyboard.press("j")
    expect(first).to_have_class(re.compile(r"\bselected\b"))
    expect(first.get_by_role("link")).to_be_focused()
    desk.keyboard.press("o")
    expect(desk).to_have_url(re.compile(re.escape(str(first_href)) + "$"))
    expect(desk.locator("#conv-title")).to_contain_text(first_subject)

    # r: reply box, Ctrl+Enter: send.
    desk.get_by_label("Internal note (staff only)").check()
    desk.locator("main").focus()
    desk.keyboard.press("r")
    expect(desk.locator("#body")).to_be_focused()
    expect(desk.get_by_label("Public reply to the merchant")).to_be_checked()
    desk.keyboard.type("Klavyeyle yazıldı · 键盘 · 키보드")
    desk.keyboard.press("Control+Enter")
    flash(desk).to_contain_text("Reply sent.")
    expect(desk.locator(".thread .message.agent .body")).to_have_text(
        "Klavyeyle yazıldı · 键盘 · 키보드"
    )

    # g i: back to the inbox.
    desk.locator("main").focus()
    desk.keyboard.press("g")
    desk.keyboard.press("i")
    expect(desk).to_have_url(re.compile(r"/desk/$"))
    browsing.assert_clean()


# --- Two agents on one conversation ---------------------------------------------------------


def test_second_agent_and_new_merchant_message_hold_a_reply_until_send_anyway(
    browsing: Browsing, alice: Any, agent: Any, lead: Any, acme_conversation: Any
) -> None:
    url = f"/desk/c/{acme_conversation.pk}/"

    # Ada opens it first; her page's clock is ours to move, for the 15-second presence poll.
    ada = browsing.person(agent.email)
    ada.clock.install()
    with ada.expect_response(lambda r: r.url.endswith(f"{url}presence/")):
        ada.goto(url)
    expect(ada.locator("#presence")).to_have_text("")

    # Lena opens it: the page says Ada is there. Her first poll records her; until it is
    # answered, Ada's poll could not see her (this raced once in CI).
    lena = browsing.person(lead.email)
    with lena.expect_response(lambda r: r.url.endswith(f"{url}presence/")):
        lena.goto(url)
    expect(lena.locator("#presence")).to_have_text("Ada Agent also has this conversation open.")

    # Ada's next poll says Lena is there.
    with ada.expect_response(lambda r: r.url.endswith(f"{url}presence/")):
        ada.clock.fast_forward("00:16")
    expect(ada.locator("#presence")).to_have_text("Lena Lead also has this conversation open.")

    # Alice writes in the portal meanwhile; Ada's next poll notices.
    merchant = browsing.person(alice.email)
    merchant.goto(f"/merchant/c/{acme_conversation.pk}/")
    merchant.get_by_label("Your reply").fill("Bir şey daha: 还有一件事 · 하나 더")
    merchant.get_by_role("button", name="Send reply").click()
    flash(merchant).to_contain_text("Your reply has been sent.")
    with ada.expect_response(lambda r: r.url.endswith(f"{url}presence/")):
        ada.clock.fast_forward("00:16")
    expect(ada.locator("#presence")).to_contain_text("New messages arrived.")
    expect(ada.get_by_role("link", name="Reload to read them")).to_be_visible()

    # Ada's reply is held back, shown with what arrived, and kept as a draft.
    draft = "Kontrol ediyorum · 正在检查 · 확인 중입니다"
    ada.locator("#body").fill(draft)
    browsing.allow_console_error(r"status of 409")
    ada.locator("#send").click()
    warning = ada.locator("p.warning[role=alert]")
    expect(warning).to_contain_text("New messages arrived since you opened this conversation.")
    expect(warning).to_contain_text("Lena Lead also has this conversation open.")
    expect(ada.locator(".thread .message.merchant .body").last).to_have_text(
        "Bir şey daha: 还有一件事 · 하나 더"
    )
    expect(ada.locator("#body")).to_have_value(draft)
    expect(ada.locator("#send")).to_have_text("Send anyway")

    ada.locator("#send").click()
    flash(ada).to_contain_text("Reply sent.")
    expect(ada.locator(".thread .message.agent .body")).to_have_text([draft])
    expect(ada.locator("#send")).to_have_text("Send")
    browsing.assert_clean()


# --- Readable link buttons and a site icon (both were once missing) ---------------------


def test_link_buttons_on_the_conversation_page_are_readable(
    browsing: Browsing, agent: Any, acme_conversation: Any
) -> None:
    from sellerdesk.conversations.workflow import conversation_add_tag

    conversation_add_tag(conversation=acme_conversation, name=SEEDED_TAG, actor=agent)
    desk = browsing.person(agent.email)
    desk.goto(f"/desk/c/{acme_conversation.pk}/")
    names = ("Assign to me", "Mark as spam", f"Remove tag {SEEDED_TAG}")
    ratios = {
        name: round(desk.get_by_role("button", name=name).evaluate(_CONTRAST), 2) for name in names
    }
    browsing.assert_clean()
    # app.css promises at least 4.5:1 for text.
    assert all(ratio >= 4.5 for ratio in ratios.values()), ratios


def test_pages_name_an_icon_so_browsers_do_not_ask_for_a_missing_one(
    browsing: Browsing, alice: Any
) -> None:
    page = browsing.person(alice.email)
    named = page.locator("link[rel~='icon']").count() > 0
    assert named or page.request.get("/favicon.ico").status == 200
