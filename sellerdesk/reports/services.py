"""Every change to report editions and improvements, with its audit row.

Figures are computed (by the report engine, outside any transaction so that PostgreSQL can
share the engine's snapshot) before the short transaction that stores them.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from sellerdesk.accounts.models import AuditAction, User
from sellerdesk.accounts.services import audit_record
from sellerdesk.core.errors import ValidationError
from sellerdesk.core.text import clean_text, normalize_tag
from sellerdesk.core.timeutil import format_rfc3339
from sellerdesk.reports.config import ReportConfigError, build_params, parse_config
from sellerdesk.reports.editions import compute_figures, edition_params, parse_config_text
from sellerdesk.reports.engine import compute_report
from sellerdesk.reports.models import Edition, EditionStatus, Improvement, ImprovementStatus

#: The windows before and after an improvement was done whose figures are compared.
EFFECT_WINDOW_DAYS = 90

#: The days an improvement can be done on: both of its windows must fit in the calendar
#: (years 1 to 9999), 0001-04-01 to 9999-10-02.
FIRST_DONE_ON = date.min + timedelta(days=EFFECT_WINDOW_DAYS)
LAST_DONE_ON = date.max - timedelta(days=EFFECT_WINDOW_DAYS)


#: The most characters a description or introduction holds.
LONG_TEXT = 20_000


def _need_lead(actor: User) -> None:
    if not actor.is_lead:
        raise PermissionDenied("only team leads and admins manage report editions")


def _editable(edition: Edition) -> None:
    if edition.is_published:
        raise ValidationError(
            "a published edition does not change; start a correction (a new version) instead"
        )


def edition_create(
    *,
    actor: User,
    series: str,
    title: str,
    start: str,
    end: str,
    as_of: str,
    config_text: str = "",
    intro: str = "",
) -> Edition:
    """A draft edition with the figures computed for review."""
    _need_lead(actor)
    series = series.strip().lower()
    if not re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)*", series) or len(series) > 80:
        raise ValidationError(
            f"{series!r} is not a usable address: lower-case letters, digits and dashes"
        )
    title = clean_text(title, "the title", required=True, limit=200)
    intro = clean_text(intro, "the introduction", required=False, limit=LONG_TEXT)
    try:
        config, data = parse_config_text(config_text)
        params = edition_params(config, start.strip(), end.strip(), as_of.strip())
    except ReportConfigError as exc:
        raise ValidationError(str(exc)) from None
    if Edition.objects.filter(series=series).exists():
        raise ValidationError(
            f"the series {series!r} exists; correct its published edition instead"
        )
    figures, monthly = compute_figures(params)
    try:
        with transaction.atomic():
            edition = _edition_insert(
                actor=actor, series=series, title=title, intro=intro, params=params, data=data,
                config_text=config_text, figures=figures, monthly=monthly,
            )  # fmt: skip
    except IntegrityError:
        # Another lead created the series while the figures were being computed.
        raise ValidationError(f"the series {series!r} exists") from None
    return edition


def _edition_insert(
    *,
    actor: User,
    series: str,
    title: str,
    intro: str,
    params: Any,
    data: dict[str, Any],
    config_text: str,
    figures: dict[str, Any],
    monthly: list[dict[str, Any]],
) -> Edition:
    """The draft row and its audit entry (call inside a transaction)."""
    edition = Edition.objects.create(
        series=series,
        version=1,
        title=title,
        intro=intro,
        period_start=params.start,
        period_end=params.end,
        as_of=params.as_of,
        config=data,
        config_text=config_text,
        figures=figures,
        monthly=monthly,
        computed_at=timezone.now(),
        created_by=actor,
    )
    audit_record(
        action=AuditAction.EDITION_CHANGED, actor=actor, target=str(edition), change="created"
    )
    return edition


def edition_update(
    *,
    actor: User,
    edition: Edition,
    title: str,
    intro: str,
    descriptions: dict[str, str],
    improvement_ids: list[int],
) -> Edition:
    """A draft's words: title, introduction, each topic's description, its improvements."""
    _need_lead(actor)
    topics = {t["name"] for t in edition.config.get("topic", [])}
    unknown = sorted(set(descriptions) - topics)
    if unknown:
        raise ValidationError(f"{unknown[0]!r} is not a topic of this edition")
    cleaned = {
        name: clean_text(text, f"the description of {name!r}", required=False, limit=LONG_TEXT)
        for name, text in descriptions.items()
        if text.strip()
    }
    improvements = list(Improvement.objects.filter(pk__in=improvement_ids))
    if len(improvements) != len(set(improvement_ids)):
        raise ValidationError("an improvement picked no longer exists")
    with transaction.atomic():
        row = Edition.objects.select_for_update().get(pk=edition.pk)
        _editable(row)
        row.title = clean_text(title, "the title", required=True, limit=200)
        row.intro = clean_text(intro, "the introduction", required=False, limit=LONG_TEXT)
        row.descriptions = cleaned
        row.save(update_fields=["title", "intro", "descriptions"])
        row.improvements.set(improvements)
        audit_record(
            action=AuditAction.EDITION_CHANGED, actor=actor, target=str(row), change="edited"
        )
    return row


def _params_of(edition: Edition) -> Any:
    """The stored edition's inputs, read again. Its instants are written in UTC: in the
    report's zone an instant before the zone kept standard time (Tokyo before 1888, so any
    in year 1) has a local mean time offset to the second, +09:18:59, which RFC 3339 does
    not write. A configuration a later rule refuses is said so, as when the edition was
    made."""
    try:
        return build_params(
            parse_config(edition.config),
            format_rfc3339(edition.period_start),
            format_rfc3339(edition.period_end),
            format_rfc3339(edition.as_of),
        )
    except ReportConfigError as exc:
        raise ValidationError(str(exc)) from None


def edition_recompute(*, actor: User, edition: Edition) -> Edition:
    """The draft's figures again (after late imports or re-tagging)."""
    _need_lead(actor)
    _editable(edition)
    figures, monthly = compute_figures(_params_of(edition))
    with transaction.atomic():
        row = Edition.objects.select_for_update().get(pk=edition.pk)
        _editable(row)
        row.figures, row.monthly, row.computed_at = figures, monthly, timezone.now()
        row.save(update_fields=["figures", "monthly", "computed_at"])
        audit_record(
            action=AuditAction.EDITION_CHANGED, actor=actor, target=str(row), change="recomputed"
        )
    return row


def improvement_snapshot(improvement: Improvement) -> dict[str, Any]:
    return {
        "title": improvement.title,
        "description": improvement.description,
        "status": improvement.status,
        "planned_on": _iso(improvement.planned_on),
        "started_on": _iso(improvement.started_on),
        "done_on": _iso(improvement.done_on),
        "tags": list(improvement.tags),
        "topics": list(improvement.topics),
        "segments": list(improvement.segments),
        "effect": improvement.effect,
    }


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


def edition_publish(*, actor: User, edition: Edition) -> Edition:
    """Compute the figures at the edition's as_of once more, store them with the improvements
    as they stand, and publish: from now on the edition does not change."""
    _need_lead(actor)
    _editable(edition)
    if edition.as_of > timezone.now():
        raise ValidationError("the edition's as_of is in the future; its figures are not final")
    figures, monthly = compute_figures(_params_of(edition))
    with transaction.atomic():
        row = Edition.objects.select_for_update().get(pk=edition.pk)
        _editable(row)
        row.figures, row.monthly, row.computed_at = figures, monthly, timezone.now()
        row.published_improvements = [
            improvement_snapshot(i) for i in row.improvements.order_by("title", "pk")
        ]
        row.status = EditionStatus.PUBLISHED
        row.published_by = actor
        row.published_at = timezone.now()
        row.save()
        audit_record(action=AuditAction.EDITION_PUBLISHED, actor=actor, target=str(row))
    return row


def edition_correct(*, actor: User, edition: Edition) -> Edition:
    """A new draft version of a published edition, with its words and settings; the
    published version stays as it is."""
    _need_lead(actor)
    if not edition.is_published:
        raise ValidationError("only a published edition is corrected; edit the draft instead")
    with transaction.atomic():
        if Edition.objects.filter(series=edition.series, status=EditionStatus.DRAFT).exists():
            raise ValidationError("a correction of this edition is already being drafted")
        latest = Edition.objects.filter(series=edition.series).aggregate(v=Max("version"))["v"]
        row = Edition.objects.create(
            series=edition.series,
            version=int(latest or 0) + 1,
            title=edition.title,
            intro=edition.intro,
            period_start=edition.period_start,
            period_end=edition.period_end,
            as_of=edition.as_of,
            config=edition.config,
            config_text=edition.config_text,
            descriptions=edition.descriptions,
            figures=edition.figures,
            monthly=edition.monthly,
            computed_at=edition.computed_at,
            corrects=edition,
            created_by=actor,
        )
        row.improvements.set(edition.improvements.all())
        audit_record(
            action=AuditAction.EDITION_CHANGED,
            actor=actor,
            target=str(row),
            change="correction",
            corrects=edition.version,
        )
    return row


# --- Improvements ---------------------------------------------------------------------------


def _names(values: list[str], what: str) -> list[str]:
    names: list[str] = []
    for value in values:
        text = clean_text(value, what, limit=200, required=False)
        if text and text not in names:
            names.append(text)
    return names


def improvement_save(
    *,
    actor: User,
    title: str,
    description: str,
    status: str,
    planned_on: date | None = None,
    started_on: date | None = None,
    done_on: date | None = None,
    tags: list[str] | None = None,
    topics: list[str] | None = None,
    segments: list[str] | None = None,
    improvement: Improvement | None = None,
) -> Improvement:
    _need_lead(actor)
    if status not in ImprovementStatus.values:
        raise ValidationError(f"unknown status {status!r}")
    if status == ImprovementStatus.DONE and done_on is None:
        raise ValidationError("a done improvement needs the date it was done")
    if started_on and done_on and done_on < started_on:
        raise ValidationError("an improvement is done after it started")
    if done_on is not None and not FIRST_DONE_ON <= done_on <= LAST_DONE_ON:
        raise ValidationError(
            f"the day it was done (Done on, {done_on.isoformat()}) leaves no "
            f"{EFFECT_WINDOW_DAYS} days before and after it in the calendar to measure the "
            f"effect over: give a day from {FIRST_DONE_ON.isoformat()} to "
            f"{LAST_DONE_ON.isoformat()}"
        )
    with transaction.atomic():
        row = improvement or Improvement()
        row.title = clean_text(title, "the title", required=True, limit=200)
        row.description = clean_text(
            description, "the description", required=False, limit=LONG_TEXT
        )
        row.status = status
        row.planned_on, row.started_on, row.done_on = planned_on, started_on, done_on
        row.tags = [t for t in (normalize_tag(x) for x in tags or []) if t]
        row.topics = _names(topics or [], "a topic")
        row.segments = _names(segments or [], "a segment")
        row.updated_at = timezone.now()
        row.save()
        audit_record(action=AuditAction.IMPROVEMENT_CHANGED, actor=actor, target=row.title)
    return row


def _effect_config(improvement: Improvement) -> dict[str, Any]:
    """Segments and topics by name from the newest edition that defines them; each linked
    tag is a topic of its own."""
    segments: dict[str, Any] = {}
    topics: dict[str, Any] = {}
    for edition in Edition.objects.order_by("-period_start", "-version")[:50]:
        for seg in edition.config.get("segment", []):
            segments.setdefault(seg["name"], seg)
        for topic in edition.config.get("topic", []):
            topics.setdefault(topic["name"], topic)
    wanted_segments = [segments[n] for n in improvement.segments if n in segments]
    config: dict[str, Any] = {
        "segment": wanted_segments or [{"name": "All merchants", "countries": ["*"]}],
        "top": 1,
    }
    wanted_topics = [topics[n] for n in improvement.topics if n in topics]
    names = {t["name"] for t in wanted_topics}
    for tag in improvement.tags:
        if f"#{tag}" not in names:
            wanted_topics.append({"name": f"#{tag}", "any": [[tag]]})
    if wanted_topics:
        config["topic"] = wanted_topics
    return config


def improvement_measure(*, actor: User, improvement: Improvement) -> Improvement:
    """The linked topics' volume and the linked segments' times in the 90 days before the
    improvement was done and the 90 days after (up to now), by the report engine."""
    _need_lead(actor)
    if improvement.done_on is None:
        raise ValidationError("an improvement's effect is measured once it is done")
    now = timezone.now().replace(microsecond=0)
    try:
        config = parse_config(_effect_config(improvement))
    except ReportConfigError as exc:
        raise ValidationError(str(exc)) from None
    done = improvement.done_on
    # Compared before any arithmetic: a row stored before improvement_save checked the day it
    # was done may hold a day whose windows run past the calendar's first or last day.
    if done > now.date():
        raise ValidationError("the improvement was done today or later: nothing to compare yet")
    if done < FIRST_DONE_ON:
        raise ValidationError(
            f"the improvement was done on {done.isoformat()}: the {EFFECT_WINDOW_DAYS} days "
            f"before it are outside the calendar; correct the day it was done (from "
            f"{FIRST_DONE_ON.isoformat()})"
        )
    before = (done - timedelta(days=EFFECT_WINDOW_DAYS), done)
    after_end = min(done + timedelta(days=EFFECT_WINDOW_DAYS), now.date() + timedelta(days=1))
    effect: dict[str, Any] = {"window_days": EFFECT_WINDOW_DAYS}
    for label, (start, end) in (("before", before), ("after", (done, after_end))):
        params = build_params(config, start.isoformat(), end.isoformat(), now.isoformat())
        report = compute_report(params).as_dict()
        effect[label] = {
            "period": report["period"],
            "segments": [
                {
                    "name": s["name"],
                    "conversations": s["conversations"],
                    "first_response_seconds": s["first_response_seconds"],
                    "resolution_seconds": s["resolution_seconds"],
                    "topics": s["topics"],
                }
                for s in report["segments"]
            ],
        }
    with transaction.atomic():
        row = Improvement.objects.select_for_update().get(pk=improvement.pk)
        row.effect, row.effect_measured_at = effect, now
        row.save(update_fields=["effect", "effect_measured_at"])
        audit_record(
            action=AuditAction.IMPROVEMENT_CHANGED, actor=actor, target=row.title, change="measured"
        )
    return row
