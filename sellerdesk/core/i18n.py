"""Which language a page speaks.

The merchant-facing side (portal, chat panel, help center, published reports, sign-in) speaks
the languages in ``settings.LANGUAGES``. For a request the first of these that names one wins:

1. ``?lang=`` on a help-center page (its links carry it, so a cached page names its language);
2. the switcher's cookie (``settings.LANGUAGE_COOKIE_NAME``): the latest explicit choice here;
3. the signed-in merchant user's saved choice (``User.ui_language``, set by the switcher);
4. their merchant's language (``Merchant.language``);
5. the browser's ``Accept-Language``;
6. English.

The agents' side (the desk, its reports, the help center's staff pages, Django's admin) and
anything a signed-in agent opens outside the help center stay English whatever the browser
says: its templates are marked for translation, but nobody translates them yet.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, datetime

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import translation
from django.utils.cache import patch_vary_headers
from django.utils.formats import date_format
from django.utils.translation.trans_real import parse_accept_lang_header

ENGLISH = "en"

#: Paths that belong to the agents (their pages stay English).
AGENT_PREFIXES = ("/desk/", "/admin/", "/help/manage/", "/api/")
#: The help center's public pages: every reader, agents too, may read them in any language.
HELP_PREFIX = "/help/"


def supported(code: str | None) -> str | None:
    """The UI language for a tag (``zh-CN``, ``zh``, ``tr-TR``, ``ko``), or None."""
    code = (code or "").strip().replace("_", "-").lower()
    if not code or len(code) > 35:
        return None
    try:
        return translation.get_supported_language_variant(code)
    except LookupError:
        return None


def content_language(ui_code: str) -> str:
    """The help center's article language for a UI language (``zh-hans`` → ``zh``)."""
    return ui_code.split("-")[0]


def browser_language(accept_language: str) -> str | None:
    for code, _quality in parse_accept_lang_header(accept_language):
        found = supported(code)
        if found:
            return found
    return None


def first_supported(codes: Iterable[str | None]) -> str | None:
    for code in codes:
        found = supported(code)
        if found:
            return found
    return None


def is_agent_path(path: str) -> bool:
    return path.startswith(AGENT_PREFIXES)


def language_for_request(request: HttpRequest) -> str:
    """The UI language for this request (the order is in the module's docstring)."""
    path = request.path_info
    if is_agent_path(path):
        return ENGLISH
    user = getattr(request, "user", None)
    signed_in = bool(user is not None and user.is_authenticated)
    if signed_in and getattr(user, "is_agent", False) and not path.startswith(HELP_PREFIX):
        return ENGLISH
    asked = request.GET.get("lang", "") if path.startswith(HELP_PREFIX) else ""
    chosen = first_supported(
        [asked, request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME)]
        + (user_languages(user) if signed_in else [])
    )
    if chosen:
        return chosen
    return browser_language(request.headers.get("Accept-Language", "")) or ENGLISH


def user_languages(user: object) -> list[str | None]:
    """A signed-in person's own choices, most specific first: their saved one, their
    merchant's (the merchant row is the one the portal loads anyway)."""
    found: list[str | None] = [getattr(user, "ui_language", "")]
    if getattr(user, "is_merchant_user", False) and getattr(user, "merchant_id", None):
        found.append(user.merchant.language)  # type: ignore[attr-defined]
    return found


#: Dates in words per language: (day and month, with the year, with the time). Django's own
#: catalogues give the month names (``E``: the form used in dates, e.g. Russian «декабря»).
DATE_FORMATS = {
    "en": ("j F", "j F Y", "j F Y, H:i"),
    "zh-hans": ("n月j日", "Y年n月j日", "Y年n月j日 H:i"),
    "ko": ("n월 j일", "Y년 n월 j일", "Y년 n월 j일 H:i"),
    "tr": ("j F", "j F Y", "j F Y, H:i"),
    "ru": ("j E", "j E Y г.", "j E Y г., H:i"),  # noqa: RUF001 - the Russian abbreviation of the word for year
}


def date_words(value: date | datetime | None, *, year: bool = True, time: bool = False) -> str:
    """``3 December 2026`` / ``2026年12月3日`` / ``3 декабря 2026 г.`` in the active language."""  # noqa: RUF002
    if value is None:
        return ""
    formats = DATE_FORMATS.get(translation.get_language() or ENGLISH, DATE_FORMATS[ENGLISH])
    return date_format(value, formats[2] if time else formats[1] if year else formats[0])


def merchant_language(merchant: object | None) -> str:
    """The language to write to a merchant in (e-mails, automatic messages)."""
    return first_supported([getattr(merchant, "language", "")]) or ENGLISH


class LanguageMiddleware:
    """Activates the request's language (after authentication, so it knows the merchant)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        language = language_for_request(request)
        translation.activate(language)
        request.LANGUAGE_CODE = language
        try:
            response = self.get_response(request)
        finally:
            translation.deactivate()
        if not is_agent_path(request.path_info):
            patch_vary_headers(response, ("Accept-Language", "Cookie"))
        response.headers.setdefault("Content-Language", language)
        return response
