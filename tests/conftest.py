"""Shared fixtures. Personas live here: merchant Acme (TR) and merchant Globex (CN)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

#: The REST API's fixtures (``world``: its callers' keys; each test's rate counts fresh).
pytest_plugins = ["tests.api_support"]

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


PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Argon2 is the product's hasher (tested in test_accounts); tests sign in hundreds of
    times, so they hash with MD5 unless a test asks for the real list."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def eu_team(db):
    from sellerdesk.accounts.services import team_get_or_create

    return team_get_or_create(name="EU team", languages="en,de,fr,tr")


@pytest.fixture
def cn_team(db):
    from sellerdesk.accounts.services import team_get_or_create

    return team_get_or_create(name="CN team", languages="zh,en")


def _user(**fields):
    from sellerdesk.accounts.services import user_create

    return user_create(password=PASSWORD, **fields)


@pytest.fixture
def alice(acme):
    """Acme's first merchant user."""
    return _user(email="alice@acme.test", role="merchant", merchant=acme, full_name="Alice Acar")


@pytest.fixture
def bob(acme):
    """Acme's second merchant user."""
    return _user(email="bob@acme.test", role="merchant", merchant=acme, full_name="Bob Bulut")


@pytest.fixture
def eve(globex):
    """Globex's merchant user: must never see Acme's conversations."""
    return _user(email="eve@globex.test", role="merchant", merchant=globex, full_name="Eve 王")


@pytest.fixture
def agent(eu_team):
    """An agent in the EU team."""
    return _user(email="agent@desk.test", role="agent", teams=[eu_team], full_name="Ada Agent")


@pytest.fixture
def cn_agent(cn_team):
    return _user(email="li@desk.test", role="agent", teams=[cn_team], full_name="Li Wei")


@pytest.fixture
def lead(eu_team):
    return _user(email="lead@desk.test", role="lead", teams=[eu_team], full_name="Lena Lead")


@pytest.fixture
def admin_user(db):
    return _user(email="admin@desk.test", role="admin", full_name="Arda Admin")


@pytest.fixture
def client_for(client):
    """``client_for(user)``: the test client signed in as that person (or anonymous).

    Pages come in English (the switcher's cookie says so) unless ``language`` names another
    or is None: then the person's own choice, their merchant's language and the browser's
    decide, as for a real visitor (see core.i18n)."""

    def sign_in(user, language="en"):
        from django.conf import settings

        client.logout()
        if user is not None:
            client.force_login(user)
        if language:
            client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
        return client

    return sign_in


@pytest.fixture
def acme_conversation(alice):
    """A complaint Alice filed from the portal."""
    from sellerdesk.conversations.workflow import merchant_conversation_open

    return merchant_conversation_open(
        user=alice,
        kind="complaint",
        subject="Ödeme gecikti — payment late",
        body="Siparişimin ödemesi 10 gündür gelmedi.",
        order_ref="ORD-1001",
    )


@pytest.fixture
def globex_conversation(eve):
    from sellerdesk.conversations.workflow import merchant_conversation_open

    return merchant_conversation_open(
        user=eve, kind="question", subject="商品审核太慢", body="我的商品审核已经三天了。"
    )


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
