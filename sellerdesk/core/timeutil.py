"""Time helpers: RFC 3339 parsing, local midnights across DST, durations written for people."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.utils.translation import gettext

_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$"
)


class TimestampError(ValueError):
    """A value that is not an RFC 3339 timestamp with an offset."""


def parse_rfc3339(value: str) -> datetime:
    """An aware datetime in UTC from an RFC 3339 timestamp that carries an offset."""
    if not _RFC3339.match(value):
        if re.match(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?$", value):
            raise TimestampError(f"timestamp {value!r} has no offset")
        raise TimestampError(f"{value!r} is not an RFC 3339 timestamp")
    try:
        if "t" in value or "z" in value:  # RFC 3339 allows them; fromisoformat does not
            value = value.replace("z", "Z").replace("t", "T")
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise TimestampError(f"{value!r} is not a valid timestamp: {exc}") from None
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        # 0001-01-01T00:30:00+01:00 is before year 1 in UTC: no datetime holds it.
        raise TimestampError(f"{value!r} is outside the years 1 to 9999 in UTC") from None


def format_rfc3339(moment: datetime, tz: ZoneInfo | None = None) -> str:
    """``2022-03-01T09:00:00+03:00`` in the given zone (UTC by default)."""
    return moment.astimezone(tz or UTC).isoformat()


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    """The instant a calendar day starts in a zone.

    A midnight that does not exist there (a DST gap) means the first instant after the gap; an
    ambiguous one (a repeated hour) its first occurrence.
    """
    wall = datetime(day.year, day.month, day.day, tzinfo=tz)  # fold=0: the first occurrence
    as_utc = wall.astimezone(UTC)
    if as_utc.astimezone(tz).replace(tzinfo=None) == wall.replace(tzinfo=None):
        return as_utc
    # In a gap. fold=1 reads the wall time with the offset after the transition, fold=0 with
    # the one before; the transition instant lies between the two: find it to the second.
    low = wall.replace(fold=1).astimezone(UTC)
    high = as_utc
    if low > high:
        low, high = high, low
    offset_low = low.astimezone(tz).utcoffset()
    while high - low > timedelta(seconds=1):
        mid = low + (high - low) / 2
        if mid.astimezone(tz).utcoffset() == offset_low:
            low = mid
        else:
            high = mid
    return high.replace(microsecond=0) if high.microsecond else high


def parse_instant(value: str, tz: ZoneInfo) -> datetime:
    """A report input: a date (local midnight in ``tz``) or an RFC 3339 timestamp."""
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        try:
            day = date.fromisoformat(value)
        except ValueError:
            raise TimestampError(f"{value!r} is not a valid date") from None
        try:
            return local_midnight(day, tz)
        except OverflowError:
            # 0001-01-01 in Tokyo starts before year 1 in UTC: no datetime holds it.
            raise TimestampError(
                f"{value!r} in {tz.key} is outside the years 1 to 9999 in UTC"
            ) from None
    return parse_rfc3339(value)


def gettext_noop(message: str) -> str:
    """Marks ``message`` for the catalogues (makemessages knows the name) and returns it.

    Django's own reads the settings, and this module is imported where none are configured:
    the interchange parser, the benchmarks' DuckDB report."""
    return message


# The units as people read them: English ``1 h 21 m``; the catalogues give ``1 小时 21 分钟``,
# ``1 sa 21 dk``, ``1시간 21분``, ``1 ч 21 мин``. Marked with gettext_noop here and translated
# when a duration is written, in the language active then (the machine formats keep seconds).
_UNITS = (
    (gettext_noop("%(count)d d"), 86400),
    (gettext_noop("%(count)d h"), 3600),
    (gettext_noop("%(count)d m"), 60),
    (gettext_noop("%(count)d s"), 1),
)


def _unit(template: str, count: int) -> str:
    return gettext(template) % {"count": count}


def format_duration(seconds: float | None) -> str:
    """Floor to whole seconds; the first non-zero unit of d, h, m, s and the one after it.

    2841 s is ``47 m 21 s``, 4860 s is ``1 h 21 m``, 86460 s is ``1 d``, 0 s is ``0 s`` (in
    English; other languages write the units as their catalogue says).
    """
    if seconds is None:
        return "—"
    total = int(seconds // 1)
    if total <= 0:
        return _unit(_UNITS[-1][0], 0)
    for index, (unit, size) in enumerate(_UNITS):
        if total >= size:
            first = total // size
            parts = [_unit(unit, first)]
            if index + 1 < len(_UNITS):
                next_unit, next_size = _UNITS[index + 1]
                second = (total % size) // next_size
                if second:
                    parts.append(_unit(next_unit, second))
            return " ".join(parts)
    return _unit(_UNITS[-1][0], 0)  # pragma: no cover - total > 0 always matches "s"
