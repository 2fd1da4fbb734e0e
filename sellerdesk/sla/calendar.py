"""Business hours: when a team works, and how much working time lies between two moments.

A ``BusinessCalendar`` is a weekly template of local working windows in the team's time zone,
minus holidays. Service-level clocks run only inside those windows: ``add`` finds the moment
``seconds`` of working time after a start, ``between`` measures the working time between two
moments.

The decisions, in one place:

- A window is a pair of local wall times within one local day, half-open: working at its start,
  not at its end. ``time(0, 0)`` as an end means 24:00, the next local midnight (a window cannot
  end at the start of its own day, so this reads one way only). Windows never cross midnight:
  22:00-02:00 is 22:00-24:00 on one day and 00:00-02:00 on the next, and the two join seamlessly.
- Each day's windows become real instants under the zone's rules. A wall time that does not exist
  (skipped by a spring-forward) is the first instant after the gap; a wall time that happens twice
  (a fall-back) is its first occurrence. Working time is real elapsed time, so in Berlin a
  01:00-04:00 window lasts 2 h on the spring-forward night and 4 h on the fall-back night, and a
  01:00-02:30 window lasts 1.5 h on the fall-back night (it ends at the first 02:30).
- A holiday is a local date with no working time at all. There are no extra working days.
- Moments are aware datetimes in any zone; results are aware datetimes in UTC. Working time is
  counted in whole microseconds (a datetime's resolution): ``seconds`` are rounded to the nearest
  microsecond, so ``between(a, add(a, s)) == s`` for any ``s`` given to the microsecond.
- ``add(start, 0)`` is ``next_open(start)``: ``start`` itself when working, else the next opening.
  For ``seconds > 0`` the result is the instant the last working microsecond ends, which may be a
  closing time (``add(Friday 17:00, 1 h)`` with 09-18 hours is Friday 18:00, not Monday 09:00).
- When there is no working time within ``HORIZON_DAYS`` local days after a moment (an empty week,
  or holidays covering more than a year), ``next_open`` and ``add`` raise ``ValueError`` instead
  of searching forever. Once the clock has started, ``add`` always finishes: the week has working
  time and holidays are finite.

Long spans are not walked window by window: runs of local days over which the zone's UTC offset
holds still have exactly their nominal working time (the weekly template minus holidays), which is
summed arithmetically. The offset is read at local midnights, which assumes a zone never changes
its offset and changes it back within one day.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import cached_property
from itertools import pairwise
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

Window = tuple[time, time]
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
HORIZON_DAYS = 400

_US_PER_SECOND = 1_000_000
_US_PER_DAY = 86_400 * _US_PER_SECOND
_US = timedelta(microseconds=1)
_ONE_DAY = timedelta(days=1)
_CACHE_DAYS = 4096  # days of computed windows kept per calendar
_WINDOW = re.compile(r"(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _time_us(moment: time) -> int:
    """Microseconds after midnight of a wall time."""
    return (
        (moment.hour * 60 + moment.minute) * 60 + moment.second
    ) * _US_PER_SECOND + moment.microsecond


def _end_us(end: time) -> int:
    """Like ``_time_us`` for the end of a window, where 00:00 means 24:00."""
    return _time_us(end) or _US_PER_DAY


def _clock(moment: time) -> str:
    """``09:00``, or ``09:00:30`` / ``09:00:30.500000`` when the time has seconds."""
    return moment.isoformat(
        timespec="minutes" if moment.second == moment.microsecond == 0 else "auto"
    )


def _label(start: time, end: time) -> str:
    return f"{_clock(start)}-{'24:00' if end == time(0) else _clock(end)}"


def _aware_utc(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime, got naive {moment.isoformat()}")
    return moment.astimezone(UTC)


def _seconds_us(seconds: float) -> int:
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise TypeError(f"seconds must be a number, got {seconds!r}")
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"seconds must be finite and not negative, got {seconds!r}")
    return round(seconds * _US_PER_SECOND)


@dataclass(frozen=True)
class BusinessCalendar:
    """A team's working hours: a weekly template of local windows, minus holidays.

    ``week`` has seven entries, Monday to Sunday; each is a tuple of ``(start, end)`` naive wall
    times, sorted, not overlapping (they may touch), ``end > start`` with ``time(0, 0)`` as an
    end meaning 24:00. ``holidays`` are local dates without working time. Lists and sets are
    accepted and stored as tuples and a frozenset, so calendars are hashable.
    """

    zone: ZoneInfo
    week: tuple[tuple[Window, ...], ...]
    holidays: frozenset[date] = frozenset()

    def __post_init__(self) -> None:
        if not isinstance(self.zone, tzinfo):
            raise TypeError(f"zone must be a ZoneInfo, got {self.zone!r}")
        week = tuple(tuple(tuple(window) for window in day) for day in self.week)
        if len(week) != 7:
            raise ValueError(f"week needs 7 entries, Monday to Sunday, got {len(week)}")
        for name, windows in zip(DAYS, week, strict=True):
            previous_end = 0
            for window in windows:
                if len(window) != 2 or not all(isinstance(t, time) for t in window):
                    raise TypeError(f"{name}: a window is a (start, end) pair of times: {window!r}")
                start, end = window
                if start.tzinfo is not None or end.tzinfo is not None:
                    raise ValueError(f"{name}: window times are naive local wall times")
                if _time_us(start) >= _end_us(end):
                    raise ValueError(f"{name}: window {_label(start, end)} ends before it starts")
                if _time_us(start) < previous_end:
                    raise ValueError(
                        f"{name}: window {_label(start, end)} overlaps the one before it"
                        " or is out of order"
                    )
                previous_end = _end_us(end)
        holidays = frozenset(self.holidays)
        for holiday in holidays:
            if isinstance(holiday, datetime) or not isinstance(holiday, date):
                raise TypeError(f"holidays are dates, got {holiday!r}")
        # The dataclass is frozen; normalising the containers is part of construction.
        object.__setattr__(self, "week", week)
        object.__setattr__(self, "holidays", holidays)

    @classmethod
    def always(cls) -> BusinessCalendar:
        """Round the clock, every day, no holidays: working time is calendar time."""
        return cls(zone=ZoneInfo("UTC"), week=(((time(0), time(0)),),) * 7)

    @classmethod
    def from_config(
        cls, *, zone: str, week: Mapping[str, list[str]], holidays: Iterable[str] = ()
    ) -> BusinessCalendar:
        """A calendar from settings-style values.

        ``week`` maps ``mon`` ... ``sun`` to windows like ``"09:00-18:00"`` (``24:00`` allowed as
        an end); a missing day has no working time. ``holidays`` are ``YYYY-MM-DD`` dates.
        Raises ``ValueError`` naming the bad value.
        """
        try:
            tz = ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            raise ValueError(f"unknown time zone {zone!r}") from None
        if not isinstance(week, Mapping):
            raise ValueError("week must map day names (mon ... sun) to lists of windows")
        unknown = sorted(str(key) for key in week if key not in DAYS)
        if unknown:
            raise ValueError(f"unknown day {', '.join(unknown)}: use {', '.join(DAYS)}")
        days: list[tuple[Window, ...]] = []
        for name in DAYS:
            texts = week.get(name, [])
            if isinstance(texts, str) or not isinstance(texts, Iterable):
                raise ValueError(f"{name}: give a list of windows, like ['09:00-18:00']")
            windows = sorted(_parse_window(name, text) for text in texts)
            for before, after in pairwise(windows):
                if _end_us(before[1]) > _time_us(after[0]):
                    raise ValueError(
                        f"{name}: windows {_label(*before)} and {_label(*after)} overlap"
                    )
            days.append(tuple(windows))
        if isinstance(holidays, str):
            raise ValueError("holidays must be a list of YYYY-MM-DD dates")
        return cls(zone=tz, week=tuple(days), holidays=frozenset(map(_parse_date, holidays)))

    # --- questions -------------------------------------------------------------------------

    def is_open(self, moment: datetime) -> bool:
        """Whether ``moment`` lies inside a working window."""
        instant = _aware_utc(moment, "moment")
        day = self._local_day(instant)
        return any(
            start <= instant < end
            for offset in (-1, 0, 1)
            for start, end in self._windows(day + timedelta(days=offset))
        )

    def next_open(self, moment: datetime) -> datetime:
        """``moment`` in UTC when it is working time, else the next opening.

        Raises ``ValueError`` when there is no working time within ``HORIZON_DAYS`` days.
        """
        instant = _aware_utc(moment, "moment")
        # Windows of earlier local days end by this day's midnight; start one day early anyway,
        # for zones whose fall-back crosses midnight.
        day = self._local_day(instant) - _ONE_DAY
        for _ in range(HORIZON_DAYS + 2):
            for start, end in self._windows(day):
                if end > instant:
                    return max(start, instant)
            day += _ONE_DAY
        raise ValueError(f"no working time within {HORIZON_DAYS} days after {instant.isoformat()}")

    def add(self, start: datetime, seconds: float) -> datetime:
        """The instant (UTC) when ``seconds`` of working time have passed since ``start``.

        The clock starts at ``next_open(start)``; see the module docstring for the edge cases.
        """
        remaining = _seconds_us(seconds)
        cursor = self.next_open(start)
        if remaining == 0:
            return cursor
        weekly = self._weekly_us
        first_whole_day = self._local_day(cursor) + _ONE_DAY
        day = first_whole_day - 2 * _ONE_DAY
        while True:
            if remaining > weekly and day >= first_whole_day:
                # Skip whole steady days while more than their nominal time is left: the
                # answer lies beyond them, and their working time is known without windows.
                limit = 7 * ((remaining - 1) // weekly)
                steady = self._steady_days(day, limit)
                if steady >= 7 and self._instant(day, 0) >= cursor:
                    remaining -= self._nominal_us(day, steady)
                    day += timedelta(days=steady)
                    continue
            for opening, closing in self._windows(day):
                if closing <= cursor:
                    continue
                opening = max(opening, cursor)
                length = (closing - opening) // _US
                if remaining <= length:
                    return opening + timedelta(microseconds=remaining)
                remaining -= length
            day += _ONE_DAY

    def between(self, start: datetime, end: datetime) -> float:
        """Working seconds in ``[start, end)``; 0 when ``end <= start``."""
        low = _aware_utc(start, "start")
        high = _aware_utc(end, "end")
        if high <= low:
            return 0.0
        total = 0
        day = self._local_day(low) - _ONE_DAY
        last = self._local_day(high) + _ONE_DAY
        first_whole_day = day + 2 * _ONE_DAY
        while day <= last:
            span = (last - day).days - 1
            if span >= 7 and day >= first_whole_day:
                steady = self._steady_days(day, span)
                if (
                    steady >= 7
                    and self._instant(day, 0) >= low
                    and self._instant(day + timedelta(days=steady), 0) <= high
                ):
                    total += self._nominal_us(day, steady)
                    day += timedelta(days=steady)
                    continue
            for opening, closing in self._windows(day):
                opening, closing = max(opening, low), min(closing, high)
                if opening < closing:
                    total += (closing - opening) // _US
            day += _ONE_DAY
        return total / _US_PER_SECOND

    def windows(self, start: datetime, end: datetime) -> Iterator[tuple[datetime, datetime]]:
        """The working windows (UTC instants, in order) of the local days from the one holding
        ``start`` to the one holding ``end``, whole: the report's window table is made of
        them. Windows of consecutive days may touch; they never overlap."""
        day = self._local_day(_aware_utc(start, "start"))
        last = self._local_day(_aware_utc(end, "end"))
        while day <= last:
            yield from self._windows(day)
            day += _ONE_DAY

    # --- the machinery ---------------------------------------------------------------------

    @cached_property
    def _spans(self) -> tuple[tuple[tuple[int, int], ...], ...]:
        """Each weekday's windows as microseconds after local midnight."""
        return tuple(
            tuple((_time_us(start), _end_us(end)) for start, end in day) for day in self.week
        )

    @cached_property
    def _daily_us(self) -> tuple[int, ...]:
        """Nominal working microseconds of each weekday (wall-clock lengths)."""
        return tuple(sum(end - start for start, end in day) for day in self._spans)

    @cached_property
    def _weekly_us(self) -> int:
        return sum(self._daily_us)

    @cached_property
    def _holiday_list(self) -> tuple[date, ...]:
        return tuple(sorted(self.holidays))

    @cached_property
    def _window_cache(self) -> dict[date, tuple[tuple[datetime, datetime], ...]]:
        return {}

    def _local_day(self, instant: datetime) -> date:
        return instant.astimezone(self.zone).date()

    def _windows(self, day: date) -> tuple[tuple[datetime, datetime], ...]:
        """The working windows of one local day as UTC instants, empty ones dropped."""
        cache = self._window_cache
        found = cache.get(day)
        if found is None:
            windows = []
            if day not in self.holidays:
                for start, end in self._spans[day.weekday()]:
                    opening, closing = self._instant(day, start), self._instant(day, end)
                    if opening < closing:  # a window inside a DST gap has no time
                        windows.append((opening, closing))
            found = tuple(windows)
            if len(cache) >= _CACHE_DAYS:
                cache.clear()
            cache[day] = found
        return found

    def _instant(self, day: date, us: int) -> datetime:
        """The UTC instant of the wall time ``us`` microseconds after ``day``'s midnight.

        A wall time in a DST gap is the first instant after the gap; an ambiguous one its first
        occurrence (``fold=0``).
        """
        wall = datetime(day.year, day.month, day.day, tzinfo=self.zone) + timedelta(microseconds=us)
        instant = wall.astimezone(UTC)
        if instant.astimezone(self.zone).replace(tzinfo=None) == wall.replace(tzinfo=None):
            return instant
        return self._gap_end(wall)

    def _gap_end(self, wall: datetime) -> datetime:
        """The first instant after the DST gap that swallows the local wall time ``wall``."""
        # In a gap, fold=0 reads the wall time with the offset from before the change and
        # fold=1 with the one after, so the change lies between the two readings. Zone
        # transitions fall on whole seconds: bisect over those.
        readings = sorted(wall.replace(fold=fold).astimezone(UTC) for fold in (0, 1))
        low, high = math.floor(readings[0].timestamp()), math.ceil(readings[1].timestamp())
        after = self._offset_at(high)
        while high - low > 1:
            middle = (low + high) // 2
            if self._offset_at(middle) == after:
                high = middle
            else:
                low = middle
        return datetime.fromtimestamp(high, UTC)

    def _offset_at(self, timestamp: int) -> timedelta | None:
        return datetime.fromtimestamp(timestamp, UTC).astimezone(self.zone).utcoffset()

    def _steady_days(self, day: date, limit: int) -> int:
        """How many local days from ``day`` on (at most ``limit``) keep one UTC offset.

        The offset is read at each local midnight, with both folds, so a midnight inside a gap
        or a repeated hour ends the run: the days on either side are then computed window by
        window. Over a steady day every window lasts its wall-clock length.
        """
        midnight = datetime(day.year, day.month, day.day, tzinfo=self.zone)
        offset = _clear_offset(midnight)
        if offset is None:
            return 0
        steady = 0
        while steady < limit:
            midnight += _ONE_DAY  # wall-clock arithmetic: the next local midnight
            if _clear_offset(midnight) != offset:
                break
            steady += 1
        return steady

    def _nominal_us(self, day: date, days: int) -> int:
        """Working microseconds of ``days`` steady local days from ``day``, holidays excluded."""
        weeks, rest = divmod(days, 7)
        weekday = day.weekday()
        total = weeks * self._weekly_us + sum(
            self._daily_us[(weekday + index) % 7] for index in range(rest)
        )
        holidays = self._holiday_list
        end = day + timedelta(days=days)
        for holiday in holidays[bisect_left(holidays, day) : bisect_left(holidays, end)]:
            total -= self._daily_us[holiday.weekday()]
        return total


def _clear_offset(wall: datetime) -> timedelta | None:
    """The UTC offset at a wall time, or None when the time is in a DST gap or repeated."""
    offset = wall.replace(fold=0).utcoffset()
    return offset if wall.replace(fold=1).utcoffset() == offset else None


def _parse_window(day: str, text: object) -> Window:
    match = _WINDOW.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"{day}: {text!r} is not a window like '09:00-18:00'")
    start_hour, start_minute, end_hour, end_minute = map(int, match.groups())
    if start_hour > 23 or start_minute > 59 or end_minute > 59 or end_hour > 24:
        raise ValueError(f"{day}: {text!r} has a time that does not exist")
    if end_hour == 24:
        if end_minute:
            raise ValueError(f"{day}: {text!r} ends after 24:00")
        return time(start_hour, start_minute), time(0)
    if (end_hour, end_minute) <= (start_hour, start_minute):
        raise ValueError(
            f"{day}: window {text!r} ends before it starts; a window cannot cross midnight:"
            " end it at 24:00 and go on from 00:00 the next day"
        )
    return time(start_hour, start_minute), time(end_hour, end_minute)


def _parse_date(text: object) -> date:
    if isinstance(text, str) and _DATE.fullmatch(text.strip()):
        try:
            return date.fromisoformat(text.strip())
        except ValueError:
            pass
    raise ValueError(f"holiday {text!r} is not a YYYY-MM-DD date")
