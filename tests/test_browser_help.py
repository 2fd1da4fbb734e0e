"""The published report and an article in Chromium: figures, charts without JavaScript,
Chinese, Turkish and Korean text drawn with real glyphs; screenshots in var/test-artifacts/."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Browser, expect

from sellerdesk.accounts.services import user_create
from sellerdesk.helpcenter import services as help_services
from sellerdesk.reports import services as report_services
from tests.builders import import_ok, responded, solved
from tests.test_browser import assert_glyphs_render, browser, screenshot  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CONFIG = """
[[segment]]
name = "Türkiye satıcıları"
countries = ["TR"]
[[segment]]
name = "中国商家"
countries = ["CN", "HK"]
[[segment]]
name = "한국 판매자"
countries = ["KR"]
[[segment]]
name = "All merchants"
countries = ["*"]
[[topic]]
name = "订单取消 / Sipariş iptali"
any = [["order_cancel"]]
"""


@pytest.fixture
def published() -> Any:
    lead = user_create(email="lead@desk.test", password=None, role="lead", full_name="Lena")
    import_ok(
        responded("c-1", after=4860, tags=["order_cancel"], kind="complaint", outcome="upheld"),
        solved("c-2", after=2841, country="CN", merchant_id="m-2", tags=["order_cancel"]),
        responded("c-3", after=90061, country="KR", merchant_id="m-3", kind="request",
                  created_at="2022-04-02T10:00:00+00:00"),
    )  # fmt: skip
    edition = report_services.edition_create(
        actor=lead, series="2022", title="Complaint-handling system data 2022",
        start="2022-01-01", end="2023-01-01", as_of="2025-01-01T00:00:00Z", config_text=CONFIG,
    )  # fmt: skip
    report_services.edition_update(
        actor=lead, edition=edition, title=edition.title, intro="",
        descriptions={"订单取消 / Sipariş iptali": "商家询问如何取消订单。 Satıcılar iptali sordu."},
        improvement_ids=[],
    )  # fmt: skip
    section = help_services.section_save(actor=lead, slug="orders", title="Orders")
    article = help_services.article_save(
        actor=lead, section=section, slug="cancel", language="en", title="Cancel an order",
        body="Open the order and press **Cancel**.", published=True,
    )  # fmt: skip
    help_services.article_save(
        actor=lead, section=section, slug="cancel", language="ko", title="주문 취소",
        body="주문을 열고 **취소**를 누르세요.", published=True, article=article,
    )  # fmt: skip
    return report_services.edition_publish(actor=lead, edition=edition)


def test_the_published_report_reads_without_javascript(browser: Browser, live_server, published):  # noqa: F811
    context = browser.new_context(
        base_url=live_server.url, viewport={"width": 1280, "height": 900}, java_script_enabled=False
    )
    page = context.new_page()
    page.goto("/help/report/2022/")
    expect(page.get_by_role("heading", name="Complaint-handling system data 2022")).to_be_visible()
    for name in ("Türkiye satıcıları", "中国商家", "한국 판매자"):
        expect(page.get_by_role("heading", name=name, exact=True)).to_be_visible()
    body = page.locator("main").inner_text()
    assert "1 h 21 m" in body  # c-1's response, TR
    assert "1 d 1 h" in body  # c-3's response, KR
    assert "商家询问如何取消订单。 Satıcılar iptali sordu." in body
    assert "Summary (P2B Regulation 2019/1150, Art. 11(4))" in body
    charts = page.locator("svg[role=img]")
    expect(charts).to_have_count(3)
    assert charts.first.bounding_box()["height"] > 100
    assert_glyphs_render(page, "#seg-2")
    assert_glyphs_render(page, "#seg-3")
    assert_glyphs_render(page, "#seg-1")
    screenshot(page, "help-report-2022")
    with page.expect_download() as download:
        page.get_by_role("link", name="CSV").click()
    assert download.value.suggested_filename == "2022-v1.csv"
    context.close()


def test_an_article_in_korean_renders(browser: Browser, live_server, published):  # noqa: F811
    context = browser.new_context(base_url=live_server.url, locale="ko-KR")
    page = context.new_page()
    page.goto("/help/a/cancel/")
    expect(page.get_by_role("heading", name="주문 취소")).to_be_visible()
    assert_glyphs_render(page, ".article-body")
    screenshot(page, "help-article-ko")
    context.close()
