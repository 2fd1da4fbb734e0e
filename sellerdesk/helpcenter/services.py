"""Every change to the help center: sections, articles and their translations, comments."""

from __future__ import annotations

import re

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext, ngettext

from sellerdesk.accounts.models import AuditAction, User
from sellerdesk.accounts.services import audit_record
from sellerdesk.core.errors import ValidationError
from sellerdesk.core.text import clean_text, text_problem
from sellerdesk.helpcenter.markup import markdown_to_html
from sellerdesk.helpcenter.models import (
    FALLBACK,
    LANGUAGE_CODES,
    Article,
    ArticleTranslation,
    Comment,
    CommentStatus,
    Section,
)

_SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
COMMENT_MAX_CHARS = 5000


def _clean_slug(slug: str) -> str:
    value = slug.strip().lower()
    if not _SLUG.fullmatch(value) or len(value) > 80:
        raise ValidationError(
            f"{slug!r} is not a usable address: lower-case letters, digits and dashes"
        )
    return value


def _clean_language(language: str) -> str:
    if language not in LANGUAGE_CODES:
        raise ValidationError(
            f"{language!r} is not a help-center language ({', '.join(LANGUAGE_CODES)})"
        )
    return language


def _need_lead(actor: User) -> None:
    if not actor.is_lead:
        raise PermissionDenied("only team leads and admins edit the help center")


def section_save(
    *,
    actor: User,
    slug: str,
    title: str,
    language: str = FALLBACK,
    position: int = 100,
    section: Section | None = None,
) -> Section:
    """Create a section, or change its address, position or its title in one language."""
    _need_lead(actor)
    language = _clean_language(language)
    title = clean_text(title, "the title")
    slug = _clean_slug(slug)
    with transaction.atomic():
        row = section or Section()
        if row.pk is None and language != FALLBACK:
            raise ValidationError("a new section is written in English first (the fallback)")
        if Section.objects.filter(slug=slug).exclude(pk=row.pk).exists():
            raise ValidationError(f"a section at {slug!r} exists")
        row.slug = slug
        row.position = position
        row.titles = {**row.titles, language: title}
        row.updated_at = timezone.now()
        row.save()
        audit_record(
            action=AuditAction.HELP_CHANGED,
            actor=actor,
            target=f"section {slug}",
            language=language,
        )
    return row


def article_save(
    *,
    actor: User,
    section: Section,
    slug: str,
    language: str,
    title: str,
    body: str,
    published: bool,
    position: int = 100,
    article: Article | None = None,
) -> Article:
    """Create an article or change it, writing its text in one language (Markdown, stored
    with its sanitized HTML). A new article is written in English first: the fallback."""
    _need_lead(actor)
    language = _clean_language(language)
    title = clean_text(title, "the title")
    body = clean_text(body, "the text")
    slug = _clean_slug(slug)
    now = timezone.now()
    with transaction.atomic():
        row = article or Article()
        if row.pk is None and language != FALLBACK:
            raise ValidationError("a new article is written in English first (the fallback)")
        if Article.objects.filter(slug=slug).exclude(pk=row.pk).exists():
            raise ValidationError(f"an article at {slug!r} exists")
        row.section = section
        row.slug = slug
        row.position = position
        row.published = published
        row.updated_at = now
        row.save()
        ArticleTranslation.objects.update_or_create(
            article=row,
            language=language,
            defaults={
                "title": title,
                "body": body,
                "body_html": markdown_to_html(body),
                "updated_at": now,
            },
        )
        audit_record(
            action=AuditAction.HELP_CHANGED,
            actor=actor,
            target=f"article {slug}",
            language=language,
            published=published,
        )
    return row


def comment_post(*, author: User, article: Article, body: str) -> Comment:
    """A merchant user's comment; it waits for an agent before anyone else sees it."""
    if not author.is_merchant_user:
        raise PermissionDenied("only merchants' users comment on articles")
    if not article.published:
        raise ValidationError(gettext("this article is not published"))
    # The merchant reads these refusals: in their language, not clean_text's English.
    text = body.strip()
    if not text:
        raise ValidationError(gettext("please write your comment"))
    if text_problem(text):
        raise ValidationError(
            gettext("the comment contains a character that cannot be stored; please remove it")
        )
    if len(text) > COMMENT_MAX_CHARS:
        raise ValidationError(
            ngettext(
                "a comment holds at most %(count)d character",
                "a comment holds at most %(count)d characters",
                COMMENT_MAX_CHARS,
            )
            % {"count": COMMENT_MAX_CHARS}
        )
    return Comment.objects.create(article=article, author=author, body=text)


def comment_moderate(*, actor: User, comment: Comment, approve: bool) -> Comment:
    """An agent approves a comment (shown under the article) or rejects it (never shown)."""
    if not actor.is_agent:
        raise PermissionDenied("only agents moderate comments")
    with transaction.atomic():
        row = Comment.objects.select_for_update().get(pk=comment.pk)
        row.status = CommentStatus.APPROVED if approve else CommentStatus.REJECTED
        row.moderated_by = actor
        row.moderated_at = timezone.now()
        row.save(update_fields=["status", "moderated_by", "moderated_at"])
        # Approved comments show on the article: its cached copies must change.
        Article.objects.filter(pk=row.article_id).update(updated_at=row.moderated_at)
        audit_record(
            action=AuditAction.HELP_CHANGED,
            actor=actor,
            target=f"comment {row.pk}",
            status=row.status,
        )
    return row
