"""The help center: sections, articles with a translation per language, merchants' comments."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

#: The languages articles are written in; the first is the fallback.
LANGUAGES = (
    ("en", "English"),
    ("zh", "简体中文"),
    ("tr", "Türkçe"),
    ("ko", "한국어"),
    ("ru", "Русский"),
)
LANGUAGE_CODES = tuple(code for code, _ in LANGUAGES)
FALLBACK = LANGUAGE_CODES[0]


class Section(models.Model):
    slug = models.SlugField(max_length=80, unique=True)
    position = models.PositiveIntegerField(default=100)
    #: Titles by language code; ``en`` is always there (the fallback).
    titles = models.JSONField(default=dict)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["position", "slug"]

    def __str__(self) -> str:
        return self.title_in(FALLBACK)

    def title_in(self, language: str) -> str:
        return str(self.titles.get(language) or self.titles.get(FALLBACK) or self.slug)


class Article(models.Model):
    section = models.ForeignKey(Section, on_delete=models.PROTECT, related_name="articles")
    slug = models.SlugField(max_length=120, unique=True)
    position = models.PositiveIntegerField(default=100)
    published = models.BooleanField(default=False)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["position", "slug"]

    def __str__(self) -> str:
        return self.slug


class ArticleTranslation(models.Model):
    """An article in one language: Markdown as written, and the sanitized HTML made from it
    when it was saved (pages never render Markdown)."""

    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="translations")
    language = models.CharField(max_length=8, choices=LANGUAGES)
    title = models.CharField(max_length=200)
    body = models.TextField()
    body_html = models.TextField()
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["article", "language"], name="help_translation_unique")
        ]
        indexes = [models.Index(fields=["language"], name="help_translation_lang_idx")]

    def __str__(self) -> str:
        return f"{self.article.slug} [{self.language}]"


class CommentStatus(models.TextChoices):
    PENDING = "pending", "Waiting for moderation"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"


class Comment(models.Model):
    """A merchant user's comment on an article: shown once an agent approved it."""

    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="help_comments"
    )
    body = models.TextField()
    status = models.CharField(
        max_length=16, choices=CommentStatus.choices, default=CommentStatus.PENDING
    )
    created_at = models.DateTimeField(default=timezone.now)
    moderated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    moderated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "pk"]
        indexes = [models.Index(fields=["status", "created_at"], name="help_comment_status_idx")]

    def __str__(self) -> str:
        return f"comment {self.pk} on {self.article_id}"
