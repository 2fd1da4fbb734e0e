"""The report's durations in business hours (issue 5): which calendar measures each
conversation, and the SQL that measures with it.

``--business-hours`` (``business_hours`` in the API) names a calendar (a ``BusinessHours``
name), or ``team``: each conversation in its team's calendar, the default calendar (the one
without a team) for the rest, round the clock when there is none (as the service levels do).
Working seconds between two instants are ``cum(b) - cum(a)`` over the calendar's window table
(``sla.windows``): three indexed look-ups per conversation, no Python loop over conversations.
The default report (calendar time, report.md) is not touched by any of this.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sellerdesk.reports.config import ReportConfigError
from sellerdesk.sla.calendar import BusinessCalendar
from sellerdesk.sla.models import BusinessHours, CalendarWindow
from sellerdesk.sla.windows import windows_ensure

TEAM = "team"


@dataclass(frozen=True)
class BusinessClock:
    #: What the report says it measured in: ``team`` or a calendar's name.
    label: str
    default_key: str
    #: Teams whose own calendar differs from the default's.
    team_keys: dict[int, str]


def business_clock(option: str, start: datetime, end: datetime) -> BusinessClock:
    """Resolve the option and store the window tables it needs over [start, end].
    ``ReportConfigError`` names a calendar that does not exist."""
    option = option.strip()
    if not option:
        raise ReportConfigError("business_hours: give 'team' or the name of a business calendar")
    try:
        if option.lower() == TEAM:
            default = BusinessHours.objects.filter(team__isnull=True).order_by("id").first()
            calendar = default.calendar() if default else BusinessCalendar.always()
            default_key = windows_ensure(calendar=calendar, start=start, end=end)
            teams = {}
            for hours in BusinessHours.objects.filter(team__isnull=False).order_by("id"):
                assert hours.team_id is not None
                teams[hours.team_id] = windows_ensure(
                    calendar=hours.calendar(), start=start, end=end
                )
            return BusinessClock(
                TEAM, default_key, {t: k for t, k in teams.items() if k != default_key}
            )
        named = BusinessHours.objects.filter(name=option).first()
        if named is None:
            known = ", ".join(sorted(BusinessHours.objects.values_list("name", flat=True)))
            raise ReportConfigError(
                f"business_hours: no business calendar named {option!r} "
                f"(use 'team' or one of: {known or 'none defined'})"
            )
        key = windows_ensure(calendar=named.calendar(), start=start, end=end)
    except ValueError as exc:  # a calendar stored with a bad value, or too long a span
        raise ReportConfigError(f"business_hours: {exc}") from None
    return BusinessClock(named.name, key, {})


def epoch(vendor: str, column: str) -> str:
    """Seconds since 1970 of a stored timestamp, as a float, in either database. (SQLite's
    julianday is exact to about 50 microseconds at today's dates.)"""
    if vendor == "postgresql":
        return f"EXTRACT(EPOCH FROM {column})::float8"
    return f"((julianday({column}) - 2440587.5) * 86400.0)"


def cumulative(at: str, key: str) -> str:
    """Working seconds of the calendar ``key`` from its table's start up to the instant ``at``
    (epoch seconds): the last window that starts at or before it."""
    table = CalendarWindow._meta.db_table
    return f"""COALESCE((SELECT w.cum_s + CASE WHEN {at} < w.end_s THEN {at} - w.start_s
                 ELSE w.end_s - w.start_s END
               FROM {table} w WHERE w.calendar_key = {key} AND w.start_s <= {at}
               ORDER BY w.start_s DESC LIMIT 1), 0)"""
