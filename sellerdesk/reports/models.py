"""Report editions (the published complaint-handling report) and the improvements tracker.

A published edition is never changed: its figures were computed by the report engine at its
as_of and stored with it, as were the improvements it lists. A correction is a new version of
the same series; the old versions stay readable.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class EditionStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    PUBLISHED = "published", "Published"


class ImprovementStatus(models.TextChoices):
    PLANNED = "planned", _("Planned")
    IN_PROGRESS = "in_progress", _("In progress")
    DONE = "done", _("Done")


class Improvement(models.Model):
    """Something the marketplace changed because of what merchants asked or complained about."""

    title = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    status = models.CharField(
        max_length=16, choices=ImprovementStatus.choices, default=ImprovementStatus.PLANNED
    )
    planned_on = models.DateField(null=True, blank=True)
    started_on = models.DateField(null=True, blank=True)
    done_on = models.DateField(null=True, blank=True)
    #: Normalized tag names, topic names and segment names it is about.
    tags = models.JSONField(default=list, blank=True)
    topics = models.JSONField(default=list, blank=True)
    segments = models.JSONField(default=list, blank=True)
    #: The linked topics' volume and times before and after ``done_on``, as last measured.
    effect = models.JSONField(null=True, blank=True)
    effect_measured_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-updated_at", "-pk"]

    def __str__(self) -> str:
        return self.title


class Edition(models.Model):
    series = models.SlugField(max_length=80)
    version = models.PositiveIntegerField(default=1)
    title = models.CharField(max_length=200)
    intro = models.TextField(blank=True, default="")
    status = models.CharField(
        max_length=16, choices=EditionStatus.choices, default=EditionStatus.DRAFT
    )
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    as_of = models.DateTimeField()
    #: The report configuration (report.md: timezone, top, segments, topics) as parsed TOML.
    config = models.JSONField(default=dict)
    config_text = models.TextField(blank=True, default="")
    #: What merchants asked, for each configured topic: {topic name: text}.
    descriptions = models.JSONField(default=dict, blank=True)
    improvements = models.ManyToManyField(Improvement, blank=True, related_name="editions")
    #: The report engine's output (report.md's JSON) and the same figures month by month.
    figures = models.JSONField(null=True, blank=True)
    monthly = models.JSONField(null=True, blank=True)
    computed_at = models.DateTimeField(null=True, blank=True)
    #: The improvements as they stood when the edition was published.
    published_improvements = models.JSONField(null=True, blank=True)
    corrects = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="corrections"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-period_start", "series", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["series", "version"], name="edition_version_unique"),
            models.CheckConstraint(
                condition=models.Q(period_end__gt=models.F("period_start")),
                name="edition_period_order",
            ),
        ]
        indexes = [models.Index(fields=["status", "series", "version"], name="edition_pub_idx")]

    def __str__(self) -> str:
        return f"{self.series} v{self.version}"

    @property
    def is_published(self) -> bool:
        return self.status == EditionStatus.PUBLISHED
