"""The report for machines (JSON, CSV) and for people (Markdown, HTML).

All four render the same computed ``Report``; JSON is exactly docs/report.md's schema.
"""

from __future__ import annotations

import io
import json
from datetime import datetime
from typing import Any

from django.template.loader import render_to_string
from django.utils.translation import gettext, ngettext, pgettext
from django.utils.translation import gettext_lazy as _

from sellerdesk.core.countries import EU_MEMBERS, country_name
from sellerdesk.core.spreadsheet import csv_writer
from sellerdesk.core.timeutil import format_duration
from sellerdesk.reports.engine import KINDS, OUTCOMES, Report, SegmentFigures

FORMATS = ("json", "csv", "md", "html")

# Lazy: the published page shows them in the reader's language; JSON and CSV use the keys.
KIND_LABELS = {
    "question": _("Questions"),
    "request": _("Requests"),
    "proposal": _("Proposals"),
    "complaint": _("Complaints"),
}
OUTCOME_LABELS = {
    "upheld": _("Upheld"),
    "partially_upheld": _("Partially upheld"),
    "rejected": _("Rejected"),
    "withdrawn": _("Withdrawn"),
    "no_action": _("No action"),
    "undecided": _("Undecided"),
}


def render(report: Report, fmt: str) -> str:
    if fmt == "json":
        return render_json(report)
    if fmt == "csv":
        return render_csv(report)
    if fmt == "md":
        return render_markdown(report)
    if fmt == "html":
        return render_html(report)
    raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")


def render_json(report: Report) -> str:
    return json.dumps(report.as_dict(), ensure_ascii=False, indent=1) + "\n"


def render_csv(report: Report) -> str:
    """One figure a row: segment, figure, item, value (seconds as numbers)."""
    return figures_csv(report.as_dict())


def figures_csv(data: dict[str, Any]) -> str:
    """``render_csv`` of a report already turned into report.md's JSON (a stored edition).
    Names that a spreadsheet would take for a formula start with an apostrophe
    (``core.spreadsheet``)."""
    out = io.StringIO()
    writer = csv_writer(out, lineterminator="\n")
    writer.writerow(["segment", "figure", "item", "value"])
    for segment in data["segments"]:
        name = segment["name"]
        writer.writerow([name, "conversations", "", segment["conversations"]])
        for kind in KINDS:
            writer.writerow([name, "by_kind", kind, segment["by_kind"][kind]])
        writer.writerow([name, "responded", "", segment["responded"]])
        for stat in ("mean", "median"):
            writer.writerow(
                [
                    name,
                    "first_response_seconds",
                    stat,
                    _blank(segment["first_response_seconds"][stat]),
                ]
            )
        writer.writerow([name, "resolved", "", segment["resolved"]])
        for stat in ("mean", "median"):
            writer.writerow(
                [name, "resolution_seconds", stat, _blank(segment["resolution_seconds"][stat])]
            )
        for item in segment["tags"]:
            writer.writerow([name, "tags", item["tag"], item["conversations"]])
        for item in segment["tag_pairs"]:
            writer.writerow([name, "tag_pairs", " + ".join(item["tags"]), item["conversations"]])
        for item in segment["topics"]:
            writer.writerow([name, "topics", item["name"], item["conversations"]])
        complaints = segment["complaints"]
        writer.writerow([name, "complaints", "count", complaints["count"]])
        for outcome, count in complaints["outcomes"].items():
            writer.writerow([name, "complaints.outcomes", outcome, count])
        for stat in ("mean", "median"):
            writer.writerow(
                [
                    name,
                    "complaints.resolution_seconds",
                    stat,
                    _blank(complaints["resolution_seconds"][stat]),
                ]
            )
    return out.getvalue()


def _blank(value: float | None) -> Any:
    return "" if value is None else value


def describe_countries(entries: tuple[str, ...]) -> str:
    """``EU`` → "the EU's 27 member states", ``TR`` → "Türkiye", ``*`` → "every country"."""
    if "*" in entries:
        return gettext("every country")
    names = []
    for code in entries:
        if code == "EU":
            count = len(EU_MEMBERS)
            names.append(
                ngettext(
                    "the EU's %(count)d member state", "the EU's %(count)d member states", count
                )
                % {"count": count}
            )
        else:
            names.append(country_name(code))
    # Chinese lists with an enumeration comma (、), not a comma and a space.
    return pgettext("between the countries of a list", ", ").join(names)


def _context(report: Report) -> dict[str, Any]:
    data = report.as_dict()
    zone = report.params.config.zone
    segments = []
    for figures, segment in zip(report.segments, data["segments"], strict=True):
        segments.append(_segment_context(figures, segment))
    return {
        "report": data,
        "start": report.params.start.astimezone(zone),
        "end": report.params.end.astimezone(zone),
        "as_of": report.params.as_of.astimezone(zone),
        "timezone": report.params.config.timezone,
        "segments": segments,
        "kind_labels": KIND_LABELS,
    }


def _segment_context(figures: SegmentFigures, segment: dict[str, Any]) -> dict[str, Any]:
    complaints = segment["complaints"]
    return {
        "name": segment["name"],
        "countries": describe_countries(figures.entries),
        "conversations": segment["conversations"],
        "kinds": [(KIND_LABELS[k], segment["by_kind"][k]) for k in KINDS],
        "responded": segment["responded"],
        "first_response": {
            k: format_duration(v) for k, v in segment["first_response_seconds"].items()
        },
        "resolved": segment["resolved"],
        "resolution": {k: format_duration(v) for k, v in segment["resolution_seconds"].items()},
        "tags": segment["tags"],
        "tag_pairs": [(" + ".join(p["tags"]), p["conversations"]) for p in segment["tag_pairs"]],
        "topics": segment["topics"],
        "complaints": complaints["count"],
        "outcomes": [
            (OUTCOME_LABELS[k], complaints["outcomes"][k]) for k in [*OUTCOMES, "undecided"]
        ],
        "complaint_resolution": {
            k: format_duration(v) for k, v in complaints["resolution_seconds"].items()
        },
    }


def render_html(report: Report) -> str:
    return render_to_string("reports/report.html", _context(report))


def _md_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _when(moment: datetime, *, seconds: bool = False) -> str:
    """``1 November 2025 00:00`` (no leading zero on the day)."""
    return f"{moment.day} {moment:%B %Y %H:%M{':%S' if seconds else ''}}"


def render_markdown(report: Report) -> str:
    ctx = _context(report)
    lines = [
        "# Complaint-handling report",
        "",
        f"Period: {_when(ctx['start'])} to {_when(ctx['end'])} ({ctx['timezone']}, end excluded).  ",
        f"Figures as of {_when(ctx['as_of'], seconds=True)} ({ctx['timezone']}).",
        "",
    ]
    for seg in ctx["segments"]:
        lines += [
            f"## {_md_escape(seg['name'])}",
            "",
            f"Merchants established in {seg['countries']}.",
            "",
        ]
        lines += ["| Conversations | Count |", "|---|---:|"]
        lines += [f"| {label} | {count} |" for label, count in seg["kinds"]]
        lines += [f"| **Total** | **{seg['conversations']}** |", ""]
        lines += [
            "| Time | Mean | Median | Conversations |",
            "|---|---:|---:|---:|",
            f"| to first response | {seg['first_response']['mean']} | {seg['first_response']['median']} | {seg['responded']} responded |",
            f"| to resolution | {seg['resolution']['mean']} | {seg['resolution']['median']} | {seg['resolved']} resolved |",
            "",
        ]
        if seg["tags"]:
            lines += ["| Most frequent tags | Conversations |", "|---|---:|"]
            lines += [f"| {_md_escape(t['tag'])} | {t['conversations']} |" for t in seg["tags"]]
            lines.append("")
        if seg["tag_pairs"]:
            lines += ["| Tags used together in one conversation | Conversations |", "|---|---:|"]
            lines += [f"| {_md_escape(pair)} | {n} |" for pair, n in seg["tag_pairs"]]
            lines.append("")
        if seg["topics"]:
            lines += ["| Topic | Conversations |", "|---|---:|"]
            lines += [f"| {_md_escape(t['name'])} | {t['conversations']} |" for t in seg["topics"]]
            lines.append("")
        lines += [
            f"Complaints: {seg['complaints']}; resolved in {seg['complaint_resolution']['mean']} on average "
            f"(median {seg['complaint_resolution']['median']}).",
            "",
            "| Complaint outcome | Complaints |",
            "|---|---:|",
        ]
        lines += [f"| {label} | {count} |" for label, count in seg["outcomes"]]
        lines.append("")
    return "\n".join(lines)
