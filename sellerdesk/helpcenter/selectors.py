"""Reads for the help center. Public pages see published articles only; the language a page
is in is the one ``core.i18n`` chose for the request (``?lang=``, the switcher, the merchant's
language, the browser's, English)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Max, Q, QuerySet
from django.http import Http404, HttpRequest
from django.utils.translation import get_language, ngettext

from sellerdesk.core.errors import ValidationError
from sellerdesk.core.i18n import content_language
from sellerdesk.helpcenter.models import (
    FALLBACK,
    LANGUAGE_CODES,
    Article,
    ArticleTranslation,
    Comment,
    CommentStatus,
    Section,
)

SEARCH_MAX_RESULTS = 50
#: The longest search the help center runs (spaces included); a longer one is refused with
#: the reason. Every word of a search is looked for: at most 100 of them, then.
SEARCH_MAX_CHARS = 200


def language_for(request: HttpRequest) -> str:
    """The language of the help center's pages for this request: the one the page speaks
    (``core.i18n`` chose it: ``?lang=``, the switcher, the merchant, the browser, English)."""
    code = content_language(getattr(request, "LANGUAGE_CODE", "") or get_language() or FALLBACK)
    return code if code in LANGUAGE_CODES else FALLBACK


@dataclass(frozen=True)
class ArticleText:
    article: Article
    translation: ArticleTranslation
    #: False when the article has no text in the asked language and shows the fallback.
    in_language: bool


def _pick(article: Article, language: str) -> ArticleText | None:
    by_language = {t.language: t for t in article.translations.all()}
    if language in by_language:
        return ArticleText(article, by_language[language], True)
    fallback = by_language.get(FALLBACK) or next(iter(by_language.values()), None)
    return ArticleText(article, fallback, False) if fallback else None


def sections_public(*, language: str) -> list[tuple[Section, str, list[ArticleText]]]:
    """Every section with its published articles, each in the language or its fallback."""
    articles = (
        Article.objects.filter(published=True)
        .prefetch_related("translations")
        .order_by("position", "slug")
    )
    by_section: dict[int, list[ArticleText]] = {}
    for article in articles:
        text = _pick(article, language)
        if text:
            by_section.setdefault(article.section_id, []).append(text)
    return [(s, s.title_in(language), by_section.get(s.pk, [])) for s in Section.objects.all()]


def section_get_public(*, slug: str, language: str) -> tuple[Section, list[ArticleText]]:
    section = Section.objects.filter(slug=slug).first()
    if section is None:
        raise Http404("no such section")
    articles = section.articles.filter(published=True).prefetch_related("translations")
    texts = [t for t in (_pick(a, language) for a in articles) if t]
    return section, texts


def article_get_public(*, slug: str, language: str) -> ArticleText:
    article = (
        Article.objects.filter(slug=slug, published=True)
        .select_related("section")
        .prefetch_related("translations")
        .first()
    )
    text = _pick(article, language) if article else None
    if text is None:
        raise Http404("no such article")
    return text


def article_get_for_staff(*, pk: int) -> Article:
    article = Article.objects.filter(pk=pk).select_related("section").first()
    if article is None:
        raise Http404("no such article")
    return article


def section_get_for_staff(*, pk: int) -> Section:
    section = Section.objects.filter(pk=pk).first()
    if section is None:
        raise Http404("no such section")
    return section


def comments_shown(*, article: Article) -> QuerySet[Comment]:
    """Approved comments, with their authors' names (no addresses) for the page."""
    return (
        Comment.objects.filter(article=article, status=CommentStatus.APPROVED)
        .select_related("author", "author__merchant")
        .order_by("created_at", "pk")
    )


def comments_pending() -> QuerySet[Comment]:
    return (
        Comment.objects.filter(status=CommentStatus.PENDING)
        .select_related("author", "author__merchant", "article")
        .order_by("created_at", "pk")
    )


def comment_get_for_staff(*, pk: int) -> Comment:
    comment = Comment.objects.filter(pk=pk).select_related("article").first()
    if comment is None:
        raise Http404("no such comment")
    return comment


def search(*, query: str, language: str) -> list[ArticleText]:
    """Published articles whose title or text (in the language, or the fallback) holds every
    word of the query, case-insensitively; titles that match first.

    ValidationError (a message for the reader) when the query is longer than
    ``SEARCH_MAX_CHARS``: it is refused rather than cut, so no word is ever left out."""
    query = query.strip()
    if len(query) > SEARCH_MAX_CHARS:
        raise ValidationError(
            ngettext(
                "A search may be at most %(count)d character long.",
                "A search may be at most %(count)d characters long.",
                SEARCH_MAX_CHARS,
            )
            % {"count": SEARCH_MAX_CHARS}
        )
    # Each word once (a repeated word asks nothing more of the article), as it was typed.
    words = list({w.casefold(): w for w in query.split()}.values())
    if not words:
        return []
    condition = Q()
    for word in words:
        condition &= Q(title__icontains=word) | Q(body__icontains=word)
    hits = (
        ArticleTranslation.objects.filter(
            condition, article__published=True, language__in={language, FALLBACK}
        )
        .values_list("article_id", flat=True)
        .distinct()[:SEARCH_MAX_RESULTS]
    )
    articles = Article.objects.filter(pk__in=list(hits)).prefetch_related("translations")
    texts = [t for t in (_pick(a, language) for a in articles) if t]

    def rank(text: ArticleText) -> tuple[int, str]:
        title = text.translation.title.casefold()
        return (0 if all(w.casefold() in title for w in words) else 1, title)

    return sorted(texts, key=rank)


def help_version() -> Any:
    """The newest change anywhere in the help center: part of the public pages' ETag."""
    return (
        Article.objects.aggregate(m=Max("updated_at"))["m"],
        Section.objects.aggregate(m=Max("updated_at"))["m"],
    )
