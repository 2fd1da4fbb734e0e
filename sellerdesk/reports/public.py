"""The published report in the help center: the page, its versions, CSV and JSON, and the
improvements. Every figure comes from the stored edition (no computing on a reader's request)."""

from __future__ import annotations

from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.utils.safestring import mark_safe
from django.utils.translation import get_language
from django.views.decorators.http import require_GET

from sellerdesk.helpcenter.caching import cached_page
from sellerdesk.helpcenter.models import LANGUAGES
from sellerdesk.helpcenter.selectors import language_for
from sellerdesk.reports import present, selectors
from sellerdesk.reports.models import Edition

#: How long a published edition's rendered figures are kept in the cache (it never changes).
BODY_CACHE_SECONDS = 24 * 3600
#: How long a shared cache may keep a version's downloads without asking (they never change:
#: the stored figures and words of one published version).
DOWNLOAD_MAX_AGE = 24 * 3600


def body_cache_key(edition: Edition, language: str) -> str:
    """The cache key of a published version's rendered figures in one language: the series,
    version and publication name the text (a published version never changes), the help
    center's language and the active translation (``get_language()``) its words."""
    published = edition.published_at.timestamp() if edition.published_at else 0
    return (
        f"help:edition-body:v2:{edition.pk}:{edition.series}:{edition.version}:{published}:"
        f"{language}:{get_language()}"
    )


def _body(edition: Edition, language: str) -> str:
    """The edition's figures rendered once and kept (its stored figures only: nothing is
    computed for a reader)."""
    key = body_cache_key(edition, language)
    body = cache.get(key)
    if body is None:
        full = Edition.objects.select_related("corrects").get(pk=edition.pk)
        body = render_to_string("reports/_edition_body.html", present.edition_context(full))
        cache.set(key, body, BODY_CACHE_SECONDS)
    return str(body)


def _page(request: HttpRequest, edition: Edition) -> HttpResponse:
    """Two reads (the version without its figures, the series' versions) and the cached
    figures; a 304 when the reader's copy is still the page. The page changes only when a
    correction is published (the list of versions), so that is its date."""
    language = language_for(request)
    versions = list(selectors.edition_versions(series=edition.series))
    listed = [(v.version, v.published_at) for v in versions]
    changed = max([v.published_at for v in versions if v.published_at], default=None)

    def build() -> HttpResponse:
        return render(
            request,
            "reports/edition_public.html",
            {
                "edition": edition,
                "body": mark_safe(_body(edition, language)),  # noqa: S308 - rendered by a template
                "versions": versions,
                "language": language,
                "languages": LANGUAGES,
                "lang_query": f"?lang={language}",
            },
        )

    return cached_page(
        request,
        ("edition", edition.pk, edition.version, edition.published_at, language, listed),
        build,
        last_modified=changed,
    )


@require_GET
def report_list(request: HttpRequest) -> HttpResponse:
    language = language_for(request)
    editions = selectors.editions_published_latest()
    return cached_page(
        request,
        ("editions", language, [(e.pk, e.published_at) for e in editions]),
        lambda: render(
            request,
            "reports/editions_public.html",
            {
                "editions": editions,
                "language": language,
                "languages": LANGUAGES,
                "lang_query": f"?lang={language}",
            },
        ),
    )


@require_GET
def report(request: HttpRequest, series: str) -> HttpResponse:
    return _page(request, selectors.edition_published(series=series, light=True))


@require_GET
def report_version(request: HttpRequest, series: str, version: int) -> HttpResponse:
    return _page(request, selectors.edition_published(series=series, version=version, light=True))


def _download(request: HttpRequest, edition: Edition, fmt: str) -> HttpResponse:
    def build() -> HttpResponse:
        if fmt == "csv":
            body, content_type = present.edition_csv(edition), "text/csv; charset=utf-8"
        else:
            body, content_type = present.edition_json(edition), "application/json"
        response = HttpResponse(body, content_type=content_type)
        name = f"{edition.series}-v{edition.version}.{fmt}"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response

    return cached_page(
        request,
        (fmt, edition.pk, edition.version, edition.published_at),
        build,
        last_modified=edition.published_at,
        max_age=DOWNLOAD_MAX_AGE,
    )


@require_GET
def report_csv(request: HttpRequest, series: str, version: int) -> HttpResponse:
    return _download(request, selectors.edition_published(series=series, version=version), "csv")


@require_GET
def report_json(request: HttpRequest, series: str, version: int) -> HttpResponse:
    return _download(request, selectors.edition_published(series=series, version=version), "json")


@require_GET
def improvements(request: HttpRequest) -> HttpResponse:
    language = language_for(request)
    rows = list(selectors.improvements_all())
    return cached_page(
        request,
        ("improvements", language, [(i.pk, i.updated_at, i.effect_measured_at) for i in rows]),
        lambda: render(
            request,
            "reports/improvements_public.html",
            {
                "improvements": [(i, present.effect_rows(i.effect)) for i in rows],
                "language": language,
                "languages": LANGUAGES,
                "lang_query": f"?lang={language}",
            },
        ),
    )
