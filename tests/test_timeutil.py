"""Time helpers: durations for people (report.md, "For people"), RFC 3339, local midnights."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo, available_timezones

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sellerdesk.core.timeutil import (
    TimestampError,
    format_duration,
    format_rfc3339,
    local_midnight,
    parse_instant,
    parse_rfc3339,
)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (2841, "47 m 21 s"),
        (4860, "1 h 21 m"),
        (90061, "1 d 1 h"),
        (86460, "1 d"),
        (3600, "1 h"),
        (45, "45 s"),
        (0, "0 s"),
        (60, "1 m"),
        (61, "1 m 1 s"),
        (3661, "1 h 1 m"),
        (172800, "2 d"),
        (1_000_000, "11 d 13 h"),
    ],
)
def test_durations_show_the_first_non_zero_unit_and_the_next(seconds, text):
    assert format_duration(seconds) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.4, "0 s"), (0.999, "0 s"), (59.999, "59 s"), (4860.9, "1 h 21 m"), (2841.5, "47 m 21 s")],
)
def test_fractions_of_a_second_are_floored(seconds, text):
    assert format_duration(seconds) == text


UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
ORDER = ["d", "h", "m", "s"]


@given(st.floats(min_value=0, max_value=10**9, allow_nan=False))
def test_a_duration_is_at_most_two_adjacent_units_never_more_than_floored(seconds):
    parts = format_duration(seconds).split(" ")
    pairs = list(zip(parts[::2], parts[1::2], strict=True))
    assert 1 <= len(pairs) <= 2
    units = [unit for _, unit in pairs]
    if len(units) == 2:
        assert ORDER.index(units[1]) == ORDER.index(units[0]) + 1
        assert int(pairs[1][0]) > 0
    shown = sum(int(value) * UNITS[unit] for value, unit in pairs)
    whole = int(seconds)
    assert shown <= whole
    # what is left out is less than one of the unit after the last one shown
    last = units[-1]
    if len(units) == 2 or last == "s":
        assert whole - shown < UNITS[last]
    else:
        assert whole - shown < UNITS[ORDER[ORDER.index(last) + 1]]


# --- RFC 3339 -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2022-03-01T09:00:00Z", datetime(2022, 3, 1, 9, tzinfo=UTC)),
        ("2022-03-01T09:00:00+03:00", datetime(2022, 3, 1, 6, tzinfo=UTC)),
        ("2022-03-01T09:00:00-05:30", datetime(2022, 3, 1, 14, 30, tzinfo=UTC)),
        ("2022-03-01t09:00:00z", datetime(2022, 3, 1, 9, tzinfo=UTC)),
        ("2022-03-01 09:00:00Z", datetime(2022, 3, 1, 9, tzinfo=UTC)),
        ("2022-03-01T09:00:00.25Z", datetime(2022, 3, 1, 9, 0, 0, 250000, tzinfo=UTC)),
        ("2021-12-31T23:30:00-01:00", datetime(2022, 1, 1, 0, 30, tzinfo=UTC)),
    ],
)
def test_rfc3339_timestamps_parse_to_aware_utc(value, expected):
    parsed = parse_rfc3339(value)
    assert parsed == expected
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize("value", ["2022-03-01T09:00:00", "2022-03-01 09:00:00.5"])
def test_a_timestamp_without_offset_is_refused_as_such(value):
    with pytest.raises(TimestampError, match="has no offset"):
        parse_rfc3339(value)


@pytest.mark.parametrize(
    "value",
    [
        "2022-03-01",
        "09:00:00Z",
        "2022-03-01T09:00Z",
        "2022-3-1T09:00:00Z",
        "2022-03-01T09:00:00+03",
        "2022-03-01T09:00:00+0300",
        "2022-03-01T09:00:00 +03:00",
        "2022-02-29T00:00:00Z",
        "2022-03-01T24:00:00Z",
        "2022-03-01T09:60:00Z",
        " 2022-03-01T09:00:00Z",
        "2022-03-01T09:00:00Z ",
        "2022-03-01T09:00:00Z\n",
        "2022-03-01T09:00:00GMT",
    ],
)
def test_anything_else_is_not_an_rfc3339_timestamp(value):
    with pytest.raises(TimestampError):
        parse_rfc3339(value)


@given(
    st.datetimes(
        min_value=datetime(1970, 1, 1),
        max_value=datetime(2100, 1, 1),
        timezones=st.sampled_from(
            [UTC, timezone(timedelta(hours=3)), timezone(timedelta(hours=-9, minutes=-30))]
        ),
    )
)
def test_format_then_parse_gives_the_same_instant(moment):
    assert parse_rfc3339(format_rfc3339(moment)) == moment
    assert parse_rfc3339(format_rfc3339(moment, ZoneInfo("Asia/Kolkata"))) == moment


# --- local midnights ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "day", "expected_utc", "printed"),
    [
        ("UTC", date(2022, 3, 1), datetime(2022, 3, 1, tzinfo=UTC), "2022-03-01T00:00:00+00:00"),
        (
            "Europe/Istanbul",
            date(2022, 3, 1),
            datetime(2022, 2, 28, 21, tzinfo=UTC),
            "2022-03-01T00:00:00+03:00",
        ),
        # DST gaps at midnight: the first instant after the gap
        (
            "America/Santiago",
            date(2022, 9, 11),
            datetime(2022, 9, 11, 4, tzinfo=UTC),
            "2022-09-11T01:00:00-03:00",
        ),
        (
            "America/Havana",
            date(2022, 3, 13),
            datetime(2022, 3, 13, 5, tzinfo=UTC),
            "2022-03-13T01:00:00-04:00",
        ),
        (
            "Asia/Beirut",
            date(2022, 3, 27),
            datetime(2022, 3, 26, 22, tzinfo=UTC),
            "2022-03-27T01:00:00+03:00",
        ),
        # a whole day skipped when Samoa crossed the date line: the next day's first instant
        (
            "Pacific/Apia",
            date(2011, 12, 30),
            datetime(2011, 12, 30, 10, tzinfo=UTC),
            "2011-12-31T00:00:00+14:00",
        ),
        # an ambiguous midnight: its first occurrence
        (
            "America/Havana",
            date(2022, 11, 6),
            datetime(2022, 11, 6, 4, tzinfo=UTC),
            "2022-11-06T00:00:00-04:00",
        ),
    ],
)
def test_a_date_means_local_midnight_or_the_first_instant_of_the_day(
    zone, day, expected_utc, printed
):
    tz = ZoneInfo(zone)
    moment = local_midnight(day, tz)
    assert moment == expected_utc
    assert moment.astimezone(tz).isoformat() == printed
    assert parse_instant(day.isoformat(), tz) == expected_utc


def test_the_instant_after_a_gap_is_the_first_of_the_new_day_and_the_previous_second_is_not():
    tz = ZoneInfo("America/Santiago")
    start = local_midnight(date(2022, 9, 11), tz)
    assert (start - timedelta(seconds=1)).astimezone(tz).date() == date(2022, 9, 10)
    assert start.astimezone(tz).date() == date(2022, 9, 11)


@given(
    day=st.dates(min_value=date(1970, 1, 1), max_value=date(2037, 12, 31)),
    zone=st.sampled_from(
        ["America/Havana", "America/Santiago", "Asia/Beirut", "America/Asuncion", "Africa/Cairo"]
    ),
)
def test_every_day_starts_at_its_first_instant_in_zones_with_midnight_transitions(day, zone):
    tz = ZoneInfo(zone)
    start = local_midnight(day, tz)
    assert start.astimezone(tz).date() == day
    assert (start - timedelta(seconds=1)).astimezone(tz).date() < day
    assert start.microsecond == 0


@given(
    day=st.dates(min_value=date(1900, 1, 1), max_value=date(2037, 12, 31)),
    zone=st.sampled_from(sorted(available_timezones())),
)
def test_a_day_starts_at_the_first_instant_whose_local_date_is_that_day_or_later(day, zone):
    tz = ZoneInfo(zone)
    start = local_midnight(day, tz)
    assert start.astimezone(tz).date() >= day
    assert (start - timedelta(seconds=1)).astimezone(tz).date() < day


def test_parse_instant_takes_a_timestamp_as_it_is():
    assert parse_instant("2022-03-01T09:00:00+03:00", ZoneInfo("America/Santiago")) == datetime(
        2022, 3, 1, 6, tzinfo=UTC
    )


@pytest.mark.parametrize("value", ["2022-02-30", "2022-00-10", "2022-3-1", "today"])
def test_parse_instant_refuses_what_is_neither_a_date_nor_a_timestamp(value):
    with pytest.raises(TimestampError):
        parse_instant(value, ZoneInfo("UTC"))


def test_what_the_benchmark_reads_without_django_imports_without_settings():
    """The benchmark's DuckDB cross-check builds report parameters in a process that never
    configures Django: the modules it reads must not touch the settings on import."""
    import os
    import subprocess
    import sys

    from tests.conftest import REPO

    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    done = subprocess.run(
        [
            sys.executable, "-c",
            "import sys; sys.path.insert(0, 'bench'); import duckdb_report; "
            "import sellerdesk.core.countries, sellerdesk.core.timeutil",
        ],
        env=env, cwd=REPO, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
