"""Shared fixtures. Personas live here: merchant Acme (TR) and merchant Globex (CN)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("SELLERDESK_SHARED", REPO.parent / "shared"))
FIXTURES = REPO / "tests" / "fixtures"
CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture
def acme(db):
    from sellerdesk.conversations.services import merchant_upsert

    return merchant_upsert(external_id="m-acme", name="Acme Tekstil", country="TR", language="tr")


@pytest.fixture
def globex(db):
    from sellerdesk.conversations.services import merchant_upsert

    return merchant_upsert(external_id="m-globex", name="Globex 贸易", country="CN", language="zh")


def pytest_collection_modifyitems(config, items):
    if CHROMIUM.exists() and shutil.which("chromium"):
        return
    skip = pytest.mark.skip(reason="Debian's chromium is not installed (/usr/bin/chromium)")
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)
            config._sellerdesk_browser_skipped = (
                getattr(config, "_sellerdesk_browser_skipped", 0) + 1
            )


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    skipped = getattr(config, "_sellerdesk_browser_skipped", 0)
    if skipped:
        terminalreporter.write_sep("!", "BROWSER TESTS SKIPPED", red=True, bold=True)
        terminalreporter.write_line(
            f"{skipped} browser test(s) did not run: /usr/bin/chromium is missing. "
            "Install it with `apt-get install chromium` (.ci/run does) and run `make test` again.",
            red=True,
        )
