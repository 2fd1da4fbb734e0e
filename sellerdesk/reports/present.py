"""A stored edition for readers: the page's context (from the stored figures only), the
P2B Art. 11(4) summary, the DSA-style complaints table, the charts, and the downloads."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from sellerdesk.core.countries import COUNTRY_NAMES
from sellerdesk.core.timeutil import format_duration
from sellerdesk.reports import charts
from sellerdesk.reports.config import ALL_MERCHANTS
from sellerdesk.reports.engine import KINDS, OUTCOMES
from sellerdesk.reports.models import Edition, ImprovementStatus
from sellerdesk.reports.render import (
    KIND_LABELS,
    OUTCOME_LABELS,
    describe_countries,
    figures_csv,
)

HOURS = 3600.0
DAYS = 86400.0


def segment_label(name: str) -> str:
    """A segment's name for readers: the default segment's ("All merchants", sellerdesk's
    own words) in the reader's language; the names staff wrote, as written."""
    return _("All merchants") if name == ALL_MERCHANTS else name


def _entries(edition: Edition) -> dict[str, tuple[str, ...]]:
    """Each segment's entries as written (``EU``, ``TR``, ``*``), by segment name."""
    found: dict[str, tuple[str, ...]] = {}
    for seg in edition.config.get("segment", [{"name": "All merchants", "countries": ["*"]}]):
        codes = [str(c).strip().upper() for c in seg.get("countries", [])]
        found[seg["name"]] = tuple(c for c in codes if c in ("*", "EU") or c in COUNTRY_NAMES)
    return found


def _timing(value: dict[str, float | None]) -> dict[str, str]:
    return {k: format_duration(v) for k, v in value.items()}


def _days(seconds: float | None) -> str:
    # Rounded first: number_format cuts the digits off (0.06 would read 0.0).
    return "—" if seconds is None else number_format(round(seconds / DAYS, 1), 1)


def dsa_row(complaints: dict[str, Any]) -> dict[str, Any]:
    """Complaints against the marketplace's decisions, as the DSA counts them: the decision
    upheld (the complaint rejected), reversed (upheld in whole or in part), or omitted (the
    complaint withdrawn, no action taken, or not decided yet)."""
    o = complaints["outcomes"]
    return {
        "received": complaints["count"],
        "upheld": o["rejected"],
        "reversed": o["upheld"] + o["partially_upheld"],
        "omitted": o["withdrawn"] + o["no_action"] + o["undecided"],
        "median_days": _days(complaints["resolution_seconds"]["median"]),
    }


def segment_context(
    segment: dict[str, Any], entries: tuple[str, ...], descriptions: dict[str, str]
) -> dict[str, Any]:
    complaints = segment["complaints"]
    return {
        "name": segment["name"],
        "label": segment_label(segment["name"]),
        "countries": describe_countries(entries) if entries else "",
        "conversations": segment["conversations"],
        "kinds": [(KIND_LABELS[k], segment["by_kind"][k]) for k in KINDS],
        "responded": segment["responded"],
        "first_response": _timing(segment["first_response_seconds"]),
        "resolved": segment["resolved"],
        "resolution": _timing(segment["resolution_seconds"]),
        "tags": segment["tags"],
        "tag_pairs": [(" + ".join(p["tags"]), p["conversations"]) for p in segment["tag_pairs"]],
        "topics": [
            {
                "name": t["name"],
                "conversations": t["conversations"],
                "description": descriptions.get(t["name"], ""),
            }
            for t in sorted(segment["topics"], key=lambda t: -t["conversations"])
        ],
        "complaints": complaints["count"],
        "outcomes": [
            (OUTCOME_LABELS[k], complaints["outcomes"][k]) for k in [*OUTCOMES, "undecided"]
        ],
        "complaint_resolution": _timing(complaints["resolution_seconds"]),
        "dsa": dsa_row(complaints),
    }


def p2b_summary(edition: Edition, segments: list[dict[str, Any]]) -> dict[str, Any] | None:
    """P2B Art. 11(4) for the widest segment (the one with ``*``, else the first): total
    complaints, the main types, the average processing time, the aggregated outcomes."""
    if not segments:
        return None
    entries = _entries(edition)
    widest = next((s for s in segments if "*" in entries.get(s["name"], ())), segments[0])
    figures = edition.figures or {"segments": []}
    data = next(s for s in figures["segments"] if s["name"] == widest["name"])
    main_types = [t for t in widest["topics"] if t["conversations"]][:5] or [
        {"name": t["tag"], "conversations": t["conversations"], "description": ""}
        for t in data["tags"][:5]
    ]
    return {
        "segment": widest["label"],
        "total_complaints": widest["complaints"],
        "main_types": main_types,
        "average_processing": widest["complaint_resolution"]["mean"],
        "outcomes": widest["outcomes"],
    }


def chart_context(edition: Edition) -> dict[str, Any]:
    monthly = edition.monthly or []
    months = [m["month"] for m in monthly]
    names = [s["name"] for s in (edition.figures or {}).get("segments", [])]

    def series(pick: Any) -> list[tuple[str, list[float | None]]]:
        out = []
        for index, name in enumerate(names):
            values: list[float | None] = []
            for m in monthly:
                seg = m["segments"][index] if index < len(m["segments"]) else None
                values.append(pick(seg) if seg else None)
            out.append((segment_label(name), values))
        return out

    def hours(key: str) -> Any:
        def pick(seg: dict[str, Any]) -> float | None:
            value = seg[key]["median"]
            return None if value is None else round(value / HOURS, 2)

        return pick

    rows = []
    for m in monthly:
        for seg in m["segments"]:
            rows.append(
                {
                    "month": m["month"],
                    "segment": segment_label(seg["name"]),
                    "conversations": seg["conversations"],
                    "first_response": _timing(seg["first_response_seconds"]),
                    "resolution": _timing(seg["resolution_seconds"]),
                }
            )
    return {
        "months": months,
        "rows": rows,
        "volume": charts.bar_chart(
            "chart-volume",
            _("Conversations per month, per segment"),
            _(
                "Bars: conversations merchants filed each month, one bar per segment. "
                "The table below the charts gives the same numbers."
            ),
            months,
            series(lambda seg: seg["conversations"]),
            _("conversations"),
        ),
        "response": charts.line_chart(
            "chart-response",
            _("Median time to first response per month, in hours"),
            _("Lines: median hours from filing to the first response, per segment and month."),
            months,
            series(hours("first_response_seconds")),
            _("hours"),
        ),
        "resolution": charts.line_chart(
            "chart-resolution",
            _("Median time to resolution per month, in hours"),
            _("Lines: median hours from filing to resolution, per segment and month."),
            months,
            series(hours("resolution_seconds")),
            _("hours"),
        ),
    }


def edition_context(edition: Edition) -> dict[str, Any]:
    """Everything the public page shows, read from the stored edition alone."""
    figures = edition.figures or {"segments": []}
    entries = _entries(edition)
    segments = [
        segment_context(s, entries.get(s["name"], ()), edition.descriptions)
        for s in figures["segments"]
    ]
    zone = edition.config.get("timezone", "UTC")
    improvements = (
        edition.published_improvements
        if edition.is_published
        else [_live_improvement(i) for i in edition.improvements.all()]
    )
    improvements = [
        {
            **i,
            **{key: _day(i.get(key)) for key in ("planned_on", "started_on", "done_on")},
            "status_label": _status_label(i.get("status")),
            "effect_rows": effect_rows(i.get("effect")),
        }
        for i in improvements or []
    ]
    return {
        "edition": edition,
        "timezone": zone,
        "segments": segments,
        "p2b": p2b_summary(edition, segments),
        "charts": chart_context(edition),
        "improvements": improvements,
    }


def _day(value: Any) -> date | None:
    """A stored improvement's day (ISO text in a published edition), for the page's words."""
    if not value or isinstance(value, date):
        return value or None
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        return None


def _status_label(status: Any) -> str:
    try:
        return str(ImprovementStatus(status).label)
    except ValueError:
        return str(status or "")


def _live_improvement(improvement: Any) -> dict[str, Any]:
    from sellerdesk.reports.services import improvement_snapshot

    return improvement_snapshot(improvement)


def _timing_in_order(value: dict[str, Any]) -> dict[str, Any]:
    return {"mean": value["mean"], "median": value["median"]}


def canonical_figures(data: dict[str, Any]) -> dict[str, Any]:
    """Stored figures with their keys in report.md's order again (PostgreSQL's jsonb keeps
    keys sorted its own way): the downloads read exactly as ``sellerdesk report`` writes."""
    segments = []
    for seg in data.get("segments", []):
        complaints = seg["complaints"]
        segments.append(
            {
                "name": seg["name"],
                "conversations": seg["conversations"],
                "by_kind": {k: seg["by_kind"][k] for k in KINDS},
                "responded": seg["responded"],
                "first_response_seconds": _timing_in_order(seg["first_response_seconds"]),
                "resolved": seg["resolved"],
                "resolution_seconds": _timing_in_order(seg["resolution_seconds"]),
                "tags": [
                    {"tag": t["tag"], "conversations": t["conversations"]} for t in seg["tags"]
                ],
                "tag_pairs": [
                    {"tags": p["tags"], "conversations": p["conversations"]}
                    for p in seg["tag_pairs"]
                ],
                "topics": [
                    {"name": t["name"], "conversations": t["conversations"]} for t in seg["topics"]
                ],
                "complaints": {
                    "count": complaints["count"],
                    "outcomes": {o: complaints["outcomes"][o] for o in [*OUTCOMES, "undecided"]},
                    "resolution_seconds": _timing_in_order(complaints["resolution_seconds"]),
                },
            }
        )
    return {
        "schema": data.get("schema"),
        "period": {"start": data["period"]["start"], "end": data["period"]["end"]},
        "as_of": data.get("as_of"),
        "segments": segments,
    }


def edition_json(edition: Edition) -> str:
    """report.md's JSON of the stored figures, with the edition's own facts beside them."""
    data = canonical_figures(edition.figures or {"period": {"start": None, "end": None}})
    data["edition"] = {
        "series": edition.series,
        "version": edition.version,
        "title": edition.title,
        "published_at": edition.published_at.isoformat() if edition.published_at else None,
        "corrects_version": edition.corrects.version if edition.corrects_id else None,  # type: ignore[union-attr]
        "topic_descriptions": edition.descriptions,
        "monthly": edition.monthly,
        "improvements": edition.published_improvements or [],
    }
    return json.dumps(data, ensure_ascii=False, indent=1) + "\n"


def edition_csv(edition: Edition) -> str:
    return figures_csv(canonical_figures(edition.figures) if edition.figures else {"segments": []})


def comparison(edition: Edition, previous: Edition | None) -> list[dict[str, Any]]:
    """For the review page: each segment's main figures beside the previous edition's."""
    if not edition.figures:
        return []
    before = (
        {s["name"]: s for s in (previous.figures or {}).get("segments", [])} if previous else {}
    )
    rows = []
    for seg in edition.figures["segments"]:
        old = before.get(seg["name"])
        lines = [("Conversations", seg["conversations"], old and old["conversations"])]
        lines += [
            (str(KIND_LABELS[k]), seg["by_kind"][k], old and old["by_kind"][k]) for k in KINDS
        ]
        for label, key in (
            ("first response", "first_response_seconds"),
            ("resolution", "resolution_seconds"),
        ):
            for stat in ("mean", "median"):
                lines.append(
                    (
                        f"Time to {label} ({stat})",
                        format_duration(seg[key][stat]),
                        format_duration(old[key][stat]) if old else None,
                    )
                )
        lines.append(("Complaints", seg["complaints"]["count"], old and old["complaints"]["count"]))
        rows.append({"name": seg["name"], "lines": lines, "has_previous": old is not None})
    return rows


def effect_rows(effect: dict[str, Any] | None) -> list[tuple[str, str, Any, Any]]:
    """An improvement's measured effect as (segment, figure, before, after) rows."""
    if not effect:
        return []
    rows: list[tuple[str, str, Any, Any]] = []
    after = {s["name"]: s for s in effect["after"]["segments"]}
    for seg in effect["before"]["segments"]:
        then = after.get(seg["name"])
        if then is None:
            continue
        name = segment_label(seg["name"])
        rows.append((name, _("Conversations"), seg["conversations"], then["conversations"]))
        for label, key in (
            (gettext_noop("Response (%(stat)s)"), "first_response_seconds"),
            (gettext_noop("Resolution (%(stat)s)"), "resolution_seconds"),
        ):
            for stat, stat_label in (("mean", _("mean")), ("median", _("median"))):
                rows.append(
                    (
                        name,
                        _(label) % {"stat": stat_label},
                        format_duration(seg[key][stat]),
                        format_duration(then[key][stat]),
                    )
                )
        topics_after = {t["name"]: t["conversations"] for t in then["topics"]}
        for topic in seg["topics"]:
            rows.append(
                (
                    name,
                    _("Topic: %(name)s") % {"name": topic["name"]},
                    topic["conversations"],
                    topics_after.get(topic["name"], 0),
                )
            )
    return rows
