"""Reads of report editions and improvements. The public sees published editions only."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from sellerdesk.reports.models import Edition, EditionStatus, Improvement


def edition_published(*, series: str, version: int | None = None, light: bool = False) -> Edition:
    """A published version of a series; without a version, the newest published one.
    ``light``: without the stored figures (the page's cached text stands for them)."""
    rows = Edition.objects.filter(series=series, status=EditionStatus.PUBLISHED).select_related(
        "corrects"
    )
    if light:
        rows = rows.defer(
            "figures", "monthly", "published_improvements", "config", "config_text",
            "descriptions", "intro", "corrects__figures", "corrects__monthly",
            "corrects__published_improvements", "corrects__config", "corrects__config_text",
        )  # fmt: skip
    row = rows.filter(version=version).first() if version else rows.order_by("-version").first()
    if row is None:
        raise Http404("no such published edition")
    return row


def editions_published_latest() -> list[Edition]:
    """The newest published version of every series, newest period first."""
    seen: set[str] = set()
    latest: list[Edition] = []
    rows = Edition.objects.filter(status=EditionStatus.PUBLISHED).only(
        "series", "version", "title", "period_start", "period_end", "published_at", "status"
    )
    for row in rows.order_by("-period_start", "series", "-version"):
        if row.series not in seen:
            seen.add(row.series)
            latest.append(row)
    return latest


def edition_versions(*, series: str) -> QuerySet[Edition]:
    return (
        Edition.objects.filter(series=series, status=EditionStatus.PUBLISHED)
        .order_by("-version")
        .only("series", "version", "published_at", "status")
    )


def edition_get_for_staff(*, pk: int) -> Edition:
    row = Edition.objects.filter(pk=pk).select_related("corrects").first()
    if row is None:
        raise Http404("no such edition")
    return row


def editions_for_staff() -> QuerySet[Edition]:
    return Edition.objects.defer("figures", "monthly", "published_improvements").order_by(
        "-period_start", "series", "-version"
    )


def previous_edition(*, edition: Edition) -> Edition | None:
    """The published edition of another series whose period started last before this one's."""
    rows = (
        Edition.objects.filter(
            status=EditionStatus.PUBLISHED, period_start__lt=edition.period_start
        )
        .exclude(series=edition.series)
        .order_by("-period_start", "-version")
    )
    return rows.first()


def improvements_all() -> QuerySet[Improvement]:
    return Improvement.objects.order_by("-updated_at", "-pk")


def improvement_get_for_staff(*, pk: int) -> Improvement:
    row = Improvement.objects.filter(pk=pk).first()
    if row is None:
        raise Http404("no such improvement")
    return row
