"""The window table of a business calendar (``CalendarWindow``), made on demand.

``windows_ensure`` makes sure the table holds a calendar's windows over a span of time and
returns the calendar's key, for SQL that measures working seconds with ``cum(b) - cum(a)``.
The cumulative seconds count from the start of the covered span; a wider span rewrites the
calendar's rows in one transaction, so a reader sees either the old rows or the new ones.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

from django.db import transaction

from sellerdesk.sla.calendar import BusinessCalendar
from sellerdesk.sla.models import CalendarCoverage, CalendarWindow

#: Longest span a table covers: beyond it a report in business hours is refused.
MAX_SPAN = timedelta(days=366 * 60)
_MARGIN = timedelta(days=2)


def calendar_key(calendar: BusinessCalendar) -> str:
    """A digest of the calendar's definition: equal calendars share their rows."""
    definition = {
        "zone": calendar.zone.key,
        "week": [[[a.isoformat(), b.isoformat()] for a, b in day] for day in calendar.week],
        "holidays": sorted(d.isoformat() for d in calendar.holidays),
    }
    return hashlib.sha256(json.dumps(definition, sort_keys=True).encode()).hexdigest()


def windows_ensure(*, calendar: BusinessCalendar, start: datetime, end: datetime) -> str:
    """The calendar's key, its windows stored over at least [start, end]. Raises
    ``ValueError`` for a span longer than ``MAX_SPAN``."""
    key = calendar_key(calendar)
    low, high = (start - _MARGIN).timestamp(), (end + _MARGIN).timestamp()
    with transaction.atomic():
        coverage = CalendarCoverage.objects.select_for_update().filter(calendar_key=key).first()
        if coverage is not None and coverage.start_s <= low and coverage.end_s >= high:
            return key
        if coverage is not None:
            low, high = min(low, coverage.start_s), max(high, coverage.end_s)
        first = datetime.fromtimestamp(low, UTC)
        last = datetime.fromtimestamp(high, UTC)
        if last - first > MAX_SPAN:
            raise ValueError(
                f"business hours are measured over at most {MAX_SPAN.days // 366} years; "
                f"this report spans {first:%Y-%m-%d} to {last:%Y-%m-%d}"
            )
        rows = []
        total = 0.0
        for opening, closing in calendar.windows(first, last):
            begin, finish = opening.timestamp(), closing.timestamp()
            rows.append(CalendarWindow(calendar_key=key, start_s=begin, end_s=finish, cum_s=total))
            total += finish - begin
        CalendarWindow.objects.filter(calendar_key=key).delete()
        CalendarWindow.objects.bulk_create(rows, batch_size=2000)
        # The span actually covered: whole local days around [first, last].
        CalendarCoverage.objects.update_or_create(
            calendar_key=key, defaults={"start_s": low, "end_s": high}
        )
    return key
