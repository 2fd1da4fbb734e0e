"""The help center's pages: public reading (cacheable), merchants' comments, and the staff
pages that write articles and moderate comments (the desk's look)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from sellerdesk.accounts.models import User
from sellerdesk.core.access import lead_required, merchant_required, staff_required
from sellerdesk.core.errors import ValidationError
from sellerdesk.helpcenter import selectors, services
from sellerdesk.helpcenter.forms import ArticleForm, SectionForm
from sellerdesk.helpcenter.models import FALLBACK, LANGUAGES, ArticleTranslation
from sellerdesk.reports.selectors import editions_published_latest


def _me(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    return user


def _public(request: HttpRequest, template: str, language: str, **context: Any) -> HttpResponse:
    return render(
        request,
        template,
        {
            "language": language,
            "languages": LANGUAGES,
            "lang_query": f"?lang={language}",
            **context,
        },
    )


@require_GET
def index(request: HttpRequest) -> HttpResponse:
    language = selectors.language_for(request)
    # The editions listed are part of the page: publishing one (or its correction) changes
    # the ETag as an article's change does (help_version() does not see editions).
    editions = editions_published_latest()[:3]
    return selectors_cached(
        request,
        ("index", language, [(e.pk, e.version, e.published_at) for e in editions]),
        lambda: _public(
            request,
            "helpcenter/index.html",
            language,
            sections=selectors.sections_public(language=language),
            editions=editions,
        ),
    )


def selectors_cached(
    request: HttpRequest, parts: tuple[Any, ...], render_page: Any
) -> HttpResponse:
    from sellerdesk.helpcenter.caching import cached_page

    return cached_page(request, (*parts, selectors.help_version()), render_page)


@require_GET
def search(request: HttpRequest) -> HttpResponse:
    language = selectors.language_for(request)
    query = request.GET.get("q", "").strip()

    def build() -> HttpResponse:
        # A query over SEARCH_MAX_CHARS is refused with the reason, never cut: a cut would
        # drop words, or leave half of one, and the results would not hold every word.
        try:
            results, error = selectors.search(query=query, language=language), ""
        except ValidationError as exc:
            results, error = [], str(exc)
        return _public(
            request, "helpcenter/search.html", language, query=query, results=results, error=error
        )

    return selectors_cached(request, ("search", language, query), build)


@require_GET
def section(request: HttpRequest, slug: str) -> HttpResponse:
    language = selectors.language_for(request)
    row, texts = selectors.section_get_public(slug=slug, language=language)
    return selectors_cached(
        request,
        ("section", slug, language),
        lambda: _public(
            request,
            "helpcenter/section.html",
            language,
            section=row,
            title=row.title_in(language),
            articles=texts,
        ),
    )


@require_GET
def article(request: HttpRequest, slug: str) -> HttpResponse:
    language = selectors.language_for(request)
    text = selectors.article_get_public(slug=slug, language=language)
    # Read before the ETag: the comments' names are on the page, and an author who gives a
    # name later (or a merchant renamed) changes it without changing help_version().
    comments = list(selectors.comments_shown(article=text.article))
    shown = [(c.pk, c.author.full_name, getattr(c.author.merchant, "name", "")) for c in comments]
    return selectors_cached(
        request,
        ("article", slug, language, shown),
        lambda: _public(
            request,
            "helpcenter/article.html",
            language,
            text=text,
            section_title=text.article.section.title_in(language),
            comments=comments,
        ),
    )


@merchant_required
@require_POST
def comment(request: HttpRequest, slug: str) -> HttpResponse:
    language = selectors.language_for(request)
    text = selectors.article_get_public(slug=slug, language=language)
    try:
        services.comment_post(
            author=_me(request), article=text.article, body=request.POST.get("body", "")
        )
    except ValidationError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Thank you: your comment shows once support has read it."))
    return redirect(reverse("help:article", kwargs={"slug": slug}) + "#comments")


@require_GET
def contact(request: HttpRequest) -> HttpResponse:
    language = selectors.language_for(request)
    editions = editions_published_latest()
    return selectors_cached(
        request,
        ("contact", language, [e.pk for e in editions[:1]]),
        lambda: _public(
            request,
            "helpcenter/contact.html",
            language,
            support_email=settings.SELLERDESK_SUPPORT_EMAIL,
            reply_days=settings.SELLERDESK_MERCHANT_REPLY_DAYS,
            deadline_action=settings.SELLERDESK_MERCHANT_DEADLINE_ACTION,
            edition=editions[0] if editions else None,
        ),
    )


# --- Staff ------------------------------------------------------------------------------------


@lead_required
@require_GET
def manage(request: HttpRequest) -> HttpResponse:
    from sellerdesk.helpcenter.models import Article, Section

    articles = Article.objects.select_related("section").prefetch_related("translations")
    return render(
        request,
        "helpcenter/manage.html",
        {
            "sections": Section.objects.all(),
            "articles": articles,
            "pending": selectors.comments_pending().count(),
        },
    )


@lead_required
@require_http_methods(["GET", "POST"])
def section_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    row = selectors.section_get_for_staff(pk=pk) if pk is not None else None
    language = request.GET.get("lang", FALLBACK)
    initial = (
        {"slug": row.slug, "position": row.position, "language": language,
         "title": row.titles.get(language, "")}
        if row else {"language": FALLBACK}
    )  # fmt: skip
    form = SectionForm(request.POST or None, initial=initial)
    error = ""
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.section_save(
                actor=_me(request),
                slug=data["slug"],
                title=data["title"],
                language=data["language"],
                position=data["position"],
                section=row,
            )
        except ValidationError as exc:
            error = str(exc)
        else:
            messages.success(request, "Section saved.")
            return redirect("help:manage")
    return render(
        request,
        "helpcenter/edit.html",
        {"form": form, "error": error, "what": "section", "row": row},
    )


@lead_required
@require_http_methods(["GET", "POST"])
def article_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    row = selectors.article_get_for_staff(pk=pk) if pk is not None else None
    language = request.GET.get("lang", FALLBACK)
    initial: dict[str, Any] = {"language": language}
    if row:
        text = ArticleTranslation.objects.filter(article=row, language=language).first()
        initial.update(
            section=row.section_id,
            slug=row.slug,
            position=row.position,
            published=row.published,
            title=text.title if text else "",
            body=text.body if text else "",
        )
    form = ArticleForm(request.POST or None, initial=initial)
    error = ""
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            saved = services.article_save(
                actor=_me(request),
                section=data["section"],
                slug=data["slug"],
                language=data["language"],
                title=data["title"],
                body=data["body"],
                published=data["published"],
                position=data["position"],
                article=row,
            )
        except ValidationError as exc:
            error = str(exc)
        else:
            messages.success(request, "Article saved.")
            return redirect(
                reverse("help:article_edit", kwargs={"pk": saved.pk}) + f"?lang={data['language']}"
            )
    languages = (
        [(code, name, row.translations.filter(language=code).exists()) for code, name in LANGUAGES]
        if row
        else []
    )
    return render(
        request,
        "helpcenter/edit.html",
        {"form": form, "error": error, "what": "article", "row": row, "languages": languages},
    )


@staff_required
@require_GET
def moderation(request: HttpRequest) -> HttpResponse:
    return render(
        request, "helpcenter/moderation.html", {"comments": selectors.comments_pending()[:200]}
    )


@staff_required
@require_POST
def comment_moderate(request: HttpRequest, pk: int) -> HttpResponse:
    row = selectors.comment_get_for_staff(pk=pk)
    decision = request.POST.get("decision", "")
    if decision not in ("approve", "reject"):
        messages.error(request, "Choose approve or reject.")
    else:
        services.comment_moderate(actor=_me(request), comment=row, approve=decision == "approve")
        messages.success(
            request, "Comment approved." if decision == "approve" else "Comment rejected."
        )
    return redirect("help:moderation")
