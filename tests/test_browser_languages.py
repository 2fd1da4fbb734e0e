"""The merchant-facing pages in Chinese, Turkish and Korean in Chromium: the translated text is
there, drawn with real glyphs, with no replacement character (mojibake); the switcher changes
the portal's language. Screenshots in var/test-artifacts/."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from sellerdesk.accounts.models import User
from tests.test_browser import (  # noqa: F401
    Browsing,
    assert_glyphs_render,
    browser,
    browsing,
    screenshot,
)
from tests.test_browser_help import published  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

#: (browser locale, what the report page says in that language)
REPORT = {
    "zh-hans": ("zh-CN", ["针对我们决定的投诉", "摘要（P2B 条例 2019/1150 第 11(4) 条）",
                          "1 小时 21 分钟", "投诉处理结果"]),
    "tr": ("tr-TR", ["Kararlarımıza yönelik şikâyetler", "Özet (P2B Tüzüğü 2019/1150, Madde 11(4))",
                     "1 sa 21 dk", "Şikâyet sonuçları"]),
    "ko": ("ko-KR", ["당사 결정에 대한 불만", "요약(P2B 규정 2019/1150 제11조 제4항)",
                     "1시간 21분", "불만 처리 결과"]),
}  # fmt: skip


def _assert_readable(page: Page, texts: list[str]) -> None:
    body = page.locator("body").inner_text()
    for text in texts:
        assert text in body, text
    assert "\ufffd" not in body, "a replacement character: text was decoded wrongly"
    for sign in ("Ã", "â€", "ì\x9d"):
        assert sign not in body, "UTF-8 read as Latin-1 (mojibake)"


@pytest.mark.parametrize("language", REPORT)
def test_the_report_and_help_center_render_in_the_browsers_language(
    browser: Browser,  # noqa: F811
    live_server: Any,
    published: Any,  # noqa: F811
    language: str,
) -> None:
    locale, texts = REPORT[language]
    context = browser.new_context(
        base_url=live_server.url, locale=locale, viewport={"width": 1280, "height": 900}
    )
    page = context.new_page()
    page.goto("/help/report/2022/")
    assert page.locator("html").get_attribute("lang") == language.split("-")[0]
    _assert_readable(page, texts)
    expect(page.get_by_role("heading", name=texts[0])).to_be_visible()
    assert_glyphs_render(page, "#dsa-h")
    assert_glyphs_render(page, ".p2b dl")
    screenshot(page, f"languages-report-{language}")
    page.goto("/help/")
    index = {
        "zh-hans": "有什么可以帮您？",
        "tr": "Size nasıl yardımcı olabiliriz?",
        "ko": "무엇을 도와드릴까요?",
    }
    _assert_readable(page, [index[language]])
    assert_glyphs_render(page, "main h1")
    screenshot(page, f"languages-help-{language}")
    context.close()


PORTAL = [
    ("简体中文", "zh-hans", "我的对话", "与客服在线聊天"),
    ("Türkçe", "tr", "Yazışmalarım", "Destek ekibiyle sohbet edin"),
    ("한국어", "ko", "내 대화", "고객 지원팀과 채팅"),
]


def test_a_merchant_switches_the_portal_between_languages(browsing: Browsing, eve: User) -> None:  # noqa: F811
    page = browsing.person(eve.email)  # the pages in English first
    expect(page.get_by_role("heading", name="My conversations")).to_be_visible()
    for button, code, heading, chat in PORTAL:
        page.get_by_role("button", name=button, exact=True).click()
        expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
        assert page.locator("html").get_attribute("lang") == code
        _assert_readable(page, [heading, chat])
        assert_glyphs_render(page, "main h1")
        assert_glyphs_render(page, ".portal-head a.button")
        screenshot(page, f"languages-portal-{code}")
    assert User.objects.get(pk=eve.pk).ui_language == "ko"
    browsing.assert_clean()
