"""The merchant-facing side in five languages: the catalogues (complete, compiled, up to date),
which language a request gets, the agents' pages staying English, the pages, durations, dates
and numbers per language, the chat panel's strings and the e-mails merchants receive."""

from __future__ import annotations

import gettext
import json
import re
from datetime import date
from pathlib import Path

import pytest
from django.conf import settings
from django.core import mail
from django.urls import reverse
from django.utils import translation
from django.utils.translation import ngettext

from sellerdesk.accounts.models import User
from sellerdesk.conversations import services as conversation_services
from sellerdesk.conversations import workflow
from sellerdesk.core import errors as i18n_errors
from sellerdesk.core import i18n
from sellerdesk.core.countries import COUNTRY_NAMES, country_name
from sellerdesk.core.timeutil import format_duration
from sellerdesk.helpcenter import services as help_services
from sellerdesk.helpcenter.models import Article
from sellerdesk.outbox import delivery
from sellerdesk.portal.dates import day_in_words
from sellerdesk.portal.templatetags.portal_tags import CHAT_ERRORS
from sellerdesk.reports import services as report_services
from tests.conftest import REPO
from tests.pofile import read
from tests.test_editions import _create, _data, published  # noqa: F401

LOCALE = REPO / "sellerdesk" / "locale"
LOCALES = ("zh_Hans", "tr", "ko", "ru")
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")
#: Templates of the agents' side: marked for translation, left out of the catalogues.
AGENT_TEMPLATES = {
    "helpcenter/templates/helpcenter/manage.html",
    "helpcenter/templates/helpcenter/edit.html",
    "helpcenter/templates/helpcenter/moderation.html",
    "reports/templates/reports/editions.html",
    "reports/templates/reports/edition_new.html",
    "reports/templates/reports/edition_review.html",
    "reports/templates/reports/report.html",
    "reports/templates/reports/improvements.html",
    "reports/templates/reports/improvement_edit.html",
}


def _po(locale: str) -> Path:
    return LOCALE / locale / "LC_MESSAGES" / "django.po"


# --- The catalogues ---------------------------------------------------------------------------


def test_the_languages_are_english_chinese_turkish_korean_and_russian():
    assert [code for code, _ in settings.LANGUAGES] == ["en", "zh-hans", "tr", "ko", "ru"]
    for locale in LOCALES:
        assert _po(locale).exists()
        assert _po(locale).with_suffix(".mo").exists()


@pytest.mark.parametrize("locale", LOCALES)
def test_catalogue_has_every_entry_translated_and_none_fuzzy(locale):
    entries = read(_po(locale))
    header, rest = entries[0], entries[1:]
    assert header.msgid == ""
    assert "fuzzy" not in header.flags
    assert f"Language: {locale}\n" in header.msgstr
    assert len(rest) > 200
    untranslated = [e.msgid for e in rest if not e.translated]
    fuzzy = [e.msgid for e in rest if "fuzzy" in e.flags]
    assert untranslated == [], f"{locale}: untranslated {untranslated[:5]}"
    assert fuzzy == [], f"{locale}: fuzzy {fuzzy[:5]}"
    plural_forms = int(re.search(r"nplurals=(\d+)", header.msgstr).group(1))
    for e in rest:
        wanted = set(PLACEHOLDER.findall(e.msgid)) | set(PLACEHOLDER.findall(e.msgid_plural))
        texts = list(e.msgstr_plural.values()) if e.msgid_plural else [e.msgstr]
        if e.msgid_plural:
            assert len(texts) == plural_forms, f"{locale}: {e.msgid!r} needs {plural_forms} forms"
        for text in texts:
            # A plural form may leave the number out (Chinese and Korean have one form).
            assert set(PLACEHOLDER.findall(text)) <= wanted, f"{locale}: {e.msgid!r}"
            assert set(PLACEHOLDER.findall(text)) >= wanted - {"count", "days", "files"}, (
                f"{locale}: {e.msgid!r} drops a placeholder"
            )
            assert "\ufffd" not in text


def test_the_four_catalogues_hold_the_same_entries():
    """Every merchant-facing string is in all four languages (a .po merged by hand for one
    language only would leave the others in English)."""
    keys = {locale: {(e.key, e.msgid_plural) for e in read(_po(locale))[1:]} for locale in LOCALES}
    for locale in LOCALES[1:]:
        assert keys[locale] == keys[LOCALES[0]], locale


def test_russian_has_three_plural_forms():
    """One (1, 21, 101), few (2-4, 22-24), many (5-20, 25-30, 11-14): Russian's CLDR forms for
    whole numbers, and every plural entry fills the three."""
    entries = read(_po("ru"))
    assert (
        "Plural-Forms: nplurals=3; plural=(n%10==1 && n%100!=11 ? 0 : n%10>=2 && "
        "n%10<=4 && (n%100<10 || n%100>=20) ? 1 : 2);\n" in entries[0].msgstr
    )
    plurals = [e for e in entries[1:] if e.msgid_plural]
    assert len(plurals) >= 10
    for e in plurals:
        assert sorted(e.msgstr_plural) == [0, 1, 2], e.msgid
        assert all(e.msgstr_plural.values()), e.msgid


@pytest.mark.parametrize(
    ("count", "effect", "states"),
    [
        (1, "Эффект: за 1 день до и после", "1 государство — член ЕС"),
        (3, "Эффект: за 3 дня до и после", "3 государства — члена ЕС"),
        (5, "Эффект: за 5 дней до и после", "5 государств — членов ЕС"),
        (11, "Эффект: за 11 дней до и после", "11 государств — членов ЕС"),
        (21, "Эффект: за 21 день до и после", "21 государство — член ЕС"),
        (22, "Эффект: за 22 дня до и после", "22 государства — члена ЕС"),
    ],
)
def test_russian_counts_take_the_right_form(count, effect, states):
    with translation.override("ru"):
        caption = ngettext(
            "Effect: %(d)s day before and after", "Effect: %(d)s days before and after", count
        )
        assert caption % {"d": count} == effect
        eu = ngettext("the EU's %(count)d member state", "the EU's %(count)d member states", count)
        assert eu % {"count": count} == states


def test_country_names_are_translated_in_every_catalogue():
    for locale in LOCALES:
        found = {e.msgid: e.msgstr for e in read(_po(locale))[1:] if not e.msgctxt}
        missing = [name for name in COUNTRY_NAMES.values() if not found.get(name)]
        assert missing == [], f"{locale}: {missing[:5]}"
        if locale != "tr":  # Turkish writes many names as English does (Kenya, Peru)
            same = [name for name in COUNTRY_NAMES.values() if found[name] == name]
            assert same == [], f"{locale}: {same[:5]}"


@pytest.mark.parametrize(
    ("language", "names"),
    [
        ("en", ("Türkiye", "China", "South Korea")),
        ("zh-hans", ("土耳其", "中国", "韩国")),
        ("tr", ("Türkiye", "Çin", "Güney Kore")),
        ("ko", ("튀르키예", "중국", "대한민국")),
        ("ru", ("Турция", "Китай", "Южная Корея")),
    ],
)
def test_country_names_in_the_active_language(language, names):
    with translation.override(language):
        assert tuple(country_name(code) for code in ("TR", "CN", "KR")) == names
    assert country_name("XX") == "XX"


@pytest.mark.parametrize("locale", LOCALES)
def test_the_committed_mo_is_the_po_compiled(locale):
    """The .mo files are committed (a fresh machine may lack msgfmt): they must say what the
    .po says. `make messages` compiles them again."""
    with _po(locale).with_suffix(".mo").open("rb") as handle:
        compiled = gettext.GNUTranslations(handle)._catalog  # type: ignore[attr-defined]
    expected: dict[object, str] = {}
    for e in read(_po(locale))[1:]:
        if e.msgid_plural:
            for index, text in e.msgstr_plural.items():
                expected[(e.key, index)] = text
        else:
            expected[e.key] = e.msgstr
    found = {key: value for key, value in compiled.items() if key != ""}
    assert found == expected, f"{locale}: the .mo is stale, run `make messages`"


def _marked_in_templates() -> set[str]:
    found: set[str] = set()
    root = REPO / "sellerdesk"
    for path in root.rglob("*.html"):
        relative = str(path.relative_to(root))
        if relative.startswith("desk/") or relative in AGENT_TEMPLATES:
            continue
        if "two_factor" in relative:
            continue
        text = path.read_text(encoding="utf-8")
        found |= set(re.findall(r"""\{% translate "([^"]+)"(?: as \w+)? %\}""", text))
        found |= set(re.findall(r"""\{% translate '([^']+)'(?: as \w+)? %\}""", text))
    return found


def test_every_string_marked_on_a_merchant_facing_template_is_in_the_catalogues():
    marked = _marked_in_templates()
    assert len(marked) > 100
    for locale in LOCALES:
        ids = {e.msgid for e in read(_po(locale))}
        assert marked - ids == set(), f"{locale}: run `make messages`"


# --- Which language -------------------------------------------------------------------------


def _get(client, url, **headers):
    response = client.get(url, **headers)
    assert response.status_code == 200, url
    return response.content.decode()


def test_merchant_language_wins_over_the_browser(client_for, eve):
    page = _get(client_for(eve, None), reverse("portal:list"), HTTP_ACCEPT_LANGUAGE="tr,en")
    assert '<html lang="zh-hans">' in page
    assert "我的对话" in page


def test_without_a_merchant_language_the_browser_decides_then_english(client_for, eve):
    eve.merchant.language = ""
    eve.merchant.save()
    page = _get(client_for(eve, None), reverse("portal:list"), HTTP_ACCEPT_LANGUAGE="ko-KR,ko")
    assert "내 대화" in page
    page = _get(client_for(eve, None), reverse("portal:list"), HTTP_ACCEPT_LANGUAGE="xx, de")
    assert '<html lang="en">' in page
    assert "My conversations" in page


def test_a_merchant_language_written_as_a_region_tag_is_understood(client_for, eve):
    eve.merchant.language = "ru-RU"
    eve.merchant.save()
    assert "Мои диалоги" in _get(client_for(eve, None), reverse("portal:list"))


def test_the_switcher_sets_the_cookie_and_saves_the_merchant_users_choice(client_for, eve):
    client = client_for(eve, None)
    response = client.post(
        reverse("set_language"), {"language": "ru", "next": reverse("portal:list")}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("portal:list")
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "ru"
    assert User.objects.get(pk=eve.pk).ui_language == "ru"
    assert "Мои диалоги" in _get(client, reverse("portal:list"))
    # Another browser, no cookie: the saved choice still beats the merchant's Chinese.
    other = client_for(eve, None)
    assert "Мои диалоги" in _get(other, reverse("portal:list"), HTTP_ACCEPT_LANGUAGE="ko")


def test_the_switcher_refuses_a_get_and_ignores_an_unknown_language(client_for, eve):
    client = client_for(eve, None)
    assert client.get(reverse("set_language"), {"language": "ru"}).status_code == 405
    client.post(reverse("set_language"), {"language": "xx", "next": "/merchant/"})
    assert User.objects.get(pk=eve.pk).ui_language == ""
    assert "我的对话" in _get(client, reverse("portal:list"))


def test_the_switcher_needs_the_csrf_token(eve):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(eve)
    assert client.post(reverse("set_language"), {"language": "ru"}).status_code == 403


def test_the_switcher_is_on_merchant_pages_and_keeps_the_page(client_for, eve):
    page = _get(client_for(eve, None), reverse("portal:list") + "?q=x")
    assert f'action="{reverse("set_language")}"' in page
    assert 'name="next" value="/merchant/?q=x"' in page
    for code, name in settings.LANGUAGES:
        assert f'value="{code}"' in page
        assert name in page


def test_an_anonymous_visitor_gets_the_browsers_language(client):
    page = _get(client, reverse("accounts:login"), HTTP_ACCEPT_LANGUAGE="tr-TR,tr;q=0.9")
    assert "sellerdesk'e giriş yapın" in page
    response = client.get(reverse("accounts:login"), HTTP_ACCEPT_LANGUAGE="ko")
    assert "Accept-Language" in response["Vary"]
    assert response["Content-Language"] == "ko"


def test_agents_pages_stay_english_with_a_chinese_browser(client_for, agent, cn_agent, lead):
    pages = {agent: ("desk:inbox", "home"), cn_agent: ("desk:inbox",), lead: ("reports:editions",)}
    for person, names in pages.items():
        client = client_for(person, "zh-hans")
        for url in map(reverse, names):
            response = client.get(url, HTTP_ACCEPT_LANGUAGE="zh-CN,zh", follow=True)
            page = response.content.decode()
            assert '<html lang="en">' in page, url
            assert "Inbox" in page
            assert "收件箱" not in page
            assert 'action="/language/"' not in page  # no switcher on the agents' side


def test_i18n_is_in_place_on_the_agents_side():
    """The desk's templates use the translation tags, though their strings stay English."""
    desk = REPO / "sellerdesk" / "desk" / "templates" / "desk" / "inbox.html"
    assert "{% translate" in desk.read_text(encoding="utf-8")
    assert i18n.is_agent_path("/desk/reports/")
    assert i18n.is_agent_path("/help/manage/")
    assert not i18n.is_agent_path("/help/")
    assert not i18n.is_agent_path("/merchant/")


# --- Pages in each language ----------------------------------------------------------------


PORTAL = {
    "zh-hans": ("我的对话", "与客服在线聊天", "搜索我的对话"),
    "tr": ("Yazışmalarım", "Destek ekibiyle sohbet edin", "Yazışmalarımda ara"),
    "ko": ("내 대화", "고객 지원팀과 채팅", "내 대화 검색"),
    "ru": ("Мои диалоги", "Чат с поддержкой", "Поиск по моим диалогам"),
}


@pytest.mark.parametrize("language", PORTAL)
def test_the_portal_in_each_language(client_for, alice, acme_conversation, language):
    client = client_for(alice, language)
    page = _get(client, reverse("portal:list"))
    for text in PORTAL[language]:
        assert text in page
    new = _get(client, reverse("portal:new"))
    labels = {
        "zh-hans": "订单号",
        "tr": "Sipariş numarası",
        "ko": "주문 번호",
        "ru": "Номер заказа",
    }
    assert labels[language] in new
    kinds = {"zh-hans": "投诉", "tr": "Şikâyet", "ko": "불만 제기", "ru": "Жалоба"}
    detail = _get(client, reverse("portal:detail", kwargs={"pk": acme_conversation.pk}))
    assert kinds[language] in detail  # the kind's badge
    strings = re.search(r'<script id="chat-strings" type="application/json">(.*?)</script>', detail)
    chat = json.loads(strings.group(1))
    typing = {"zh-hans": "正在输入", "tr": "yazıyor", "ko": "입력하고", "ru": "печатает"}
    assert typing[language] in chat["typing"]
    assert "{name}" in chat["typing"]
    assert chat["statuses"]["pending"] != "Waiting for your answer"


def test_a_refused_form_says_why_in_the_merchants_language(client_for, alice, acme_conversation):
    client = client_for(alice, "tr")
    response = client.post(
        reverse("portal:reply", kwargs={"pk": acme_conversation.pk}), {"body": ""}
    )
    assert "lütfen bir mesaj yazın" in response.content.decode()


def test_a_refused_comment_says_why_in_the_merchants_language(client_for, alice, lead):
    section = help_services.section_save(actor=lead, slug="orders", title="Orders")
    help_services.article_save(
        actor=lead, section=section, slug="cancel", language="en", title="Cancel an order",
        body="Open the order.", published=True,
    )  # fmt: skip
    client = client_for(alice, "ru")
    url = reverse("help:comment", kwargs={"slug": "cancel"})
    page = client.post(url, {"body": "   "}, follow=True).content.decode()
    assert "пожалуйста, напишите комментарий" in page
    page = client.post(url, {"body": "x" * 5001}, follow=True).content.decode()
    assert "комментарий может содержать не более 5000 символов" in page
    # A NUL never gets this far from a form (the request guard refuses it): the service's own
    # refusal, for any other caller, still reads in the merchant's language.
    article = Article.objects.get(slug="cancel")
    with translation.override("ru"), pytest.raises(i18n_errors.ValidationError) as refused:
        help_services.comment_post(author=alice, article=article, body="a\ud800b")
    assert str(refused.value).startswith("в комментарии есть символ, который нельзя сохранить")


def test_a_reply_the_database_cannot_store_is_refused_in_the_merchants_words(
    alice, acme_conversation
):
    with translation.override("ko"), pytest.raises(i18n_errors.ValidationError) as refused:
        workflow.reply_post(conversation=acme_conversation, author=alice, body="a\ud800b")
    assert (
        str(refused.value) == "메시지에 저장할 수 없는 문자가 있습니다. 해당 문자를 삭제해 주세요"
    )


def test_the_chat_panel_words_the_sockets_errors_in_the_page_language(
    client_for, alice, acme_conversation
):
    from sellerdesk.connectors.chat import consumers

    # Every code the socket sends a person, but the protocol's own (a page never sends a
    # binary or malformed frame) and a service's refusal, already in the merchant's words.
    sent = set(
        re.findall(r'(?:_error|FrameError)\(\s*"(\w+)"', Path(consumers.__file__).read_text())
    )
    sent |= {"sign_in", "forbidden"}
    assert sent - {"binary", "bad_frame", "invalid"} <= set(CHAT_ERRORS)
    detail = _get(
        client_for(alice, "tr"), reverse("portal:detail", kwargs={"pk": acme_conversation.pk})
    )
    strings = re.search(r'<script id="chat-strings" type="application/json">(.*?)</script>', detail)
    errors = json.loads(strings.group(1))["errors"]
    assert errors["too_big"] == (
        "Bu mesaj sohbet için çok uzun. Lütfen kısaltın ya da birkaç mesaja bölün."
    )
    assert errors["unavailable"].startswith("Sohbet şu anda kullanılamıyor.")


HELP = {
    "zh-hans": ("有什么可以帮您？", "搜索帮助中心", "联系客服"),
    "tr": ("Size nasıl yardımcı olabiliriz?", "Yardım merkezinde arayın", "Destek ekibine yazın"),
    "ko": ("무엇을 도와드릴까요?", "고객센터 검색", "고객 지원 문의"),
    "ru": ("Чем мы можем помочь?", "Поиск по справочному центру", "Написать в поддержку"),
}


@pytest.mark.parametrize("language", HELP)
def test_the_help_center_chrome_in_each_language(client, lead, language):
    section = help_services.section_save(actor=lead, slug="orders", title="Orders")
    help_services.article_save(
        actor=lead, section=section, slug="cancel", language="en", title="Cancel an order",
        body="Open the order.", published=True,
    )  # fmt: skip
    index = _get(client, reverse("help:index") + f"?lang={language}")
    for text in HELP[language]:
        assert text in index
    # The public pages are cached by shared caches: no CSRF token, links to switch instead.
    assert "csrfmiddlewaretoken" not in index
    assert '?lang=ko" lang="ko"' in index
    contact = _get(client, reverse("help:contact"), HTTP_ACCEPT_LANGUAGE=language)
    rule = {"zh-hans": "7 天规则", "tr": "7 gün kuralı", "ko": "7일 규칙", "ru": "Правило 7 дней"}
    assert rule[language] in contact


REPORT = {
    "zh-hans": ("针对我们决定的投诉", "摘要（P2B 条例 2019/1150 第 11(4) 条）", "各分组每月对话数",
                "1 小时 21 分钟", "2022年1月1日", "第 1 版"),
    "tr": ("Kararlarımıza yönelik şikâyetler", "Özet (P2B Tüzüğü 2019/1150, Madde 11(4))",
           "Segment başına aylık yazışma sayısı", "1 sa 21 dk", "1 Ocak 2022", "Sürüm 1"),
    "ko": ("당사 결정에 대한 불만", "요약(P2B 규정 2019/1150 제11조 제4항)", "세그먼트별 월간 대화 수",
           "1시간 21분", "2022년 1월 1일", "버전 1"),
    "ru": ("Жалобы на наши решения", "Сводка (Регламент P2B 2019/1150, ст. 11(4))",
           "Диалоги по месяцам и сегментам", "1 ч 21 мин", "1 января 2022 г.", "Версия 1"),
}  # fmt: skip


@pytest.mark.parametrize("language", REPORT)
def test_the_published_edition_in_each_language(client, published, language):  # noqa: F811
    url = reverse("help:report", kwargs={"series": "2022"})
    page = _get(client, url + f"?lang={language}")
    for text in REPORT[language]:
        assert text in page, text
    assert "Complaints about our decisions" not in page
    assert "Time taken" not in page
    svg = page[page.index("<svg") : page.index("</svg>")]
    assert REPORT[language][2] in svg  # the chart's title, in its language


COUNTRIES = {
    "en": "Merchants established in the EU&#x27;s 27 member states, China, South Korea.",
    "zh-hans": "注册地位于欧盟 27 个成员国、中国、韩国的商家。",
    "tr": "AB&#x27;nin 27 üye devleti, Çin, Güney Kore merkezli satıcılar.",
    "ko": "EU 27개 회원국, 중국, 대한민국에 설립된 판매자.",
    "ru": "Продавцы, зарегистрированные в: 27 государств — членов ЕС, Китай, Южная Корея.",
}


@pytest.mark.parametrize("language", COUNTRIES)
def test_the_published_report_names_countries_in_the_readers_language(client, lead, language):
    _data()
    config = '[[segment]]\nname = "Asia and the EU"\ncountries = ["EU", "CN", "KR"]\n'
    edition = _create(lead, series="2023", config_text=config)
    report_services.edition_publish(actor=lead, edition=edition)
    page = _get(client, reverse("help:report", kwargs={"series": "2023"}) + f"?lang={language}")
    assert COUNTRIES[language] in page
    if language != "en":
        assert "South Korea" not in page


@pytest.mark.parametrize(
    ("language", "everyone"),
    [
        ("zh-hans", "全部商家"),
        ("tr", "Tüm satıcılar"),
        ("ko", "전체 판매자"),
        ("ru", "Все продавцы"),
    ],
)
def test_the_default_segment_is_named_in_the_readers_language(
    client,
    published,  # noqa: F811
    language,
    everyone,
):
    """sellerdesk's own name for every merchant ("All merchants") reads in the page's language,
    in the headings, the tables and the charts' legends; names staff wrote stay as written."""
    page = _get(client, reverse("help:report", kwargs={"series": "2022"}) + f"?lang={language}")
    assert f'">{everyone}</h2>' in page
    svg = page[page.index("<svg") : page.index("</svg>")]
    assert everyone in svg
    assert "All merchants" not in page
    assert "TR merchants" in page


def test_the_downloads_do_not_change_with_the_language(client, published):  # noqa: F811
    for name in ("help:report_csv", "help:report_json"):
        url = reverse(name, kwargs={"series": "2022", "version": 1})
        english = client.get(url, HTTP_ACCEPT_LANGUAGE="en").content
        for language in ("zh-hans", "ru"):
            assert client.get(url + f"?lang={language}").content == english


def test_numbers_use_the_languages_decimal_sign(client, published):  # noqa: F811
    url = reverse("help:report", kwargs={"series": "2022"})
    english = _get(client, url + "?lang=en")
    russian = _get(client, url + "?lang=ru")
    assert re.search(r'<td class="n">\d+\.\d</td>', english)
    assert re.search(r'<td class="n">\d+,\d</td>', russian)


# --- Durations and dates ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "hours", "minutes", "days"),
    [
        ("en", "1 h 21 m", "47 m 21 s", "1 d"),
        ("zh-hans", "1 小时 21 分钟", "47 分钟 21 秒", "1 天"),
        ("tr", "1 sa 21 dk", "47 dk 21 sn", "1 g"),
        ("ko", "1시간 21분", "47분 21초", "1일"),
        ("ru", "1 ч 21 мин", "47 мин 21 с", "1 д"),
    ],
)
def test_durations_per_language(language, hours, minutes, days):
    with translation.override(language):
        assert format_duration(4860) == hours
        assert format_duration(2841) == minutes
        assert format_duration(86460) == days


@pytest.mark.parametrize(
    ("language", "this_year", "other_year"),
    [
        ("en", "3 December", "3 December 2025"),
        ("zh-hans", "12月3日", "2025年12月3日"),
        ("tr", "3 Aralık", "3 Aralık 2025"),
        ("ko", "12월 3일", "2025년 12월 3일"),
        ("ru", "3 декабря", "3 декабря 2025 г."),
    ],
)
def test_days_in_words_per_language(language, this_year, other_year):
    today = date(2026, 6, 1)
    with translation.override(language):
        assert day_in_words(date(2026, 12, 3), today=today) == this_year
        assert day_in_words(date(2025, 12, 3), today=today) == other_year


# --- E-mails ----------------------------------------------------------------------------------


def test_a_reply_without_a_subject_is_titled_in_the_merchants_language(eve, agent):
    row = conversation_services.conversation_open(
        merchant=eve.merchant, channel="email", subject="", body="我的货款还没有到账。",
        author_name="Eve",
    )  # fmt: skip
    workflow.reply_post(conversation=row, author=agent, body="明天到账。")
    delivery.deliver_due()
    assert mail.outbox[-1].subject.startswith("Re: 您与客服的对话 [")


def test_an_invitation_is_in_the_merchants_language_and_english_for_staff(globex):
    from sellerdesk.accounts.services import user_create

    user_create(
        email="wang@globex.test",
        password=None,
        role="merchant",
        merchant=globex,
        invite_base_url="http://desk.test",
    )
    delivery.deliver_due()
    assert mail.outbox[-1].subject == "您的 sellerdesk 账户"
    assert "请在此设置您的密码" in mail.outbox[-1].body
    with translation.override("ru"):
        user_create(
            email="ada2@desk.test", password=None, role="agent", invite_base_url="http://desk.test"
        )
    delivery.deliver_due()
    assert mail.outbox[-1].subject == "Your sellerdesk account"
