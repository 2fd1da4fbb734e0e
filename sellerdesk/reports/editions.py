"""An edition's figures, computed by the report engine (never another way): the period's
report as report.md defines it, and the same figures month by month for the charts."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sellerdesk.core.timeutil import local_midnight
from sellerdesk.reports.config import (
    ReportConfig,
    ReportConfigError,
    ReportParams,
    build_params,
    parse_config,
    toml_data,
)
from sellerdesk.reports.engine import compute_report

#: Charts show at most this many months (a longer period is refused for an edition).
MAX_MONTHS = 36

DEFAULT_CONFIG = """timezone = "UTC"
top = 10
[[segment]]
name = "All merchants"
countries = ["*"]
"""


def parse_config_text(text: str) -> tuple[ReportConfig, dict[str, Any]]:
    """The configuration as report.md writes it (TOML), parsed and checked."""
    data = toml_data(text or DEFAULT_CONFIG, "the configuration")
    return parse_config(data), data


def edition_params(config: ReportConfig, start: str, end: str, as_of: str) -> ReportParams:
    params = build_params(config, start, end, as_of)
    if len(month_starts(params)) - 1 > MAX_MONTHS:
        raise ReportConfigError(f"an edition covers at most {MAX_MONTHS} months")
    return params


def month_starts(params: ReportParams) -> list[datetime]:
    """The period cut at each first of a month (local midnight in the report's zone)."""
    zone = params.config.zone
    local = params.start.astimezone(zone)
    cuts = [params.start]
    year, month = local.year, local.month
    while True:
        month += 1
        if month == 13:
            if year == date.max.year:
                # No month starts after December 9999, and build_params keeps the period's
                # end inside it in the report's zone: the period ends in this month.
                break
            year, month = year + 1, 1
        cut = local_midnight(date(year, month, 1), zone)
        if cut >= params.end:
            break
        cuts.append(cut)
        if len(cuts) > MAX_MONTHS + 1:
            break
    cuts.append(params.end)
    return cuts


def compute_figures(params: ReportParams) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The report for the period and, for each month of it up to as_of, the per-segment
    counts and times the engine gives over that month alone (same segments and as_of; no
    tags or topics): one run of the engine, its months grouped in the same pass."""
    cuts = month_starts(params)
    report = compute_report(params, months=cuts)
    zone = params.config.zone
    months: list[dict[str, Any]] = []
    for index, segments in sorted((report.months or {}).items()):
        months.append(
            {
                "month": cuts[index].astimezone(zone).strftime("%Y-%m"),
                "segments": [
                    {
                        "name": s.name,
                        "conversations": s.conversations,
                        "first_response_seconds": s.first_response.as_dict(),
                        "resolution_seconds": s.resolution.as_dict(),
                    }
                    for s in segments
                ],
            }
        )
    return report.as_dict(), months
