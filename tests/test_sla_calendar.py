"""Business-hours calendars: weekends, holidays, DST nights, long spans, and the properties that
tie ``add`` and ``between`` together on random calendars in zones with odd DST rules."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from sellerdesk.sla.calendar import HORIZON_DAYS, BusinessCalendar

BERLIN = ZoneInfo("Europe/Berlin")
ISTANBUL = ZoneInfo("Europe/Istanbul")
SHANGHAI = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")

HOUR = 3600
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")


def office(zone: str, hours: str = "09:00-18:00", holidays: tuple[str, ...] = ()):
    return BusinessCalendar.from_config(
        zone=zone, week={day: [hours] for day in WEEKDAYS}, holidays=holidays
    )


def every_day(zone: ZoneInfo, start: time, end: time) -> BusinessCalendar:
    return BusinessCalendar(zone=zone, week=(((start, end),),) * 7)


def only_sunday(zone: ZoneInfo, start: time, end: time) -> BusinessCalendar:
    return BusinessCalendar(zone=zone, week=((),) * 6 + (((start, end),),))


def local(zone: ZoneInfo, *fields: int, fold: int = 0) -> datetime:
    """The instant of a local wall time, in UTC: aware datetimes in different zones compare
    unequal when one of them is an ambiguous wall time, even at the same instant."""
    return datetime(*fields, tzinfo=zone, fold=fold).astimezone(UTC)


def whole_day(calendar: BusinessCalendar, day: date) -> float:
    start = datetime(day.year, day.month, day.day, tzinfo=calendar.zone)
    return calendar.between(start, start + timedelta(days=1))


# --- weekends, holidays, closing times ----------------------------------------------------


def test_friday_evening_plus_two_hours_is_monday_morning():
    calendar = office("Europe/Istanbul")
    deadline = calendar.add(local(ISTANBUL, 2025, 5, 16, 17), 2 * HOUR)  # a Friday
    assert deadline == local(ISTANBUL, 2025, 5, 19, 10)
    assert deadline.tzinfo is UTC


def test_a_holiday_monday_moves_the_deadline_to_tuesday():
    calendar = office("Europe/Istanbul", holidays=("2025-05-19",))
    assert calendar.add(local(ISTANBUL, 2025, 5, 16, 17), 2 * HOUR) == local(
        ISTANBUL, 2025, 5, 20, 10
    )
    # Friday, the weekend, the holiday Monday, Tuesday: two working days.
    friday_to_wednesday = calendar.between(
        local(ISTANBUL, 2025, 5, 16), local(ISTANBUL, 2025, 5, 21)
    )
    assert friday_to_wednesday == 2 * 9 * HOUR


def test_time_that_runs_out_at_closing_ends_at_the_closing_time():
    calendar = office("Europe/Istanbul")
    deadline = calendar.add(local(ISTANBUL, 2025, 5, 16, 17), HOUR)
    assert deadline == local(ISTANBUL, 2025, 5, 16, 18)
    assert not calendar.is_open(deadline)
    assert calendar.is_open(deadline - timedelta(microseconds=1))


def test_zero_seconds_is_the_start_when_open_and_the_next_opening_when_closed():
    calendar = office("Europe/Istanbul")
    open_moment = local(ISTANBUL, 2025, 5, 16, 12, 30)
    assert calendar.add(open_moment, 0) == open_moment
    assert calendar.add(local(ISTANBUL, 2025, 5, 17, 12), 0) == local(ISTANBUL, 2025, 5, 19, 9)
    assert calendar.next_open(local(ISTANBUL, 2025, 5, 16, 18)) == local(ISTANBUL, 2025, 5, 19, 9)


def test_windows_are_open_at_their_start_and_closed_at_their_end():
    calendar = office("Europe/Istanbul")
    assert calendar.is_open(local(ISTANBUL, 2025, 5, 16, 9))
    assert not calendar.is_open(local(ISTANBUL, 2025, 5, 16, 8, 59, 59, 999999))
    assert not calendar.is_open(local(ISTANBUL, 2025, 5, 16, 18))
    assert not calendar.is_open(local(ISTANBUL, 2025, 5, 17, 12))


def test_a_night_shift_split_at_midnight_runs_on_without_a_break():
    calendar = BusinessCalendar.from_config(
        zone="Europe/Istanbul", week={"mon": ["22:00-24:00"], "tue": ["00:00-02:00"]}, holidays=[]
    )
    monday_night = local(ISTANBUL, 2025, 5, 19, 23)
    assert calendar.add(monday_night, 2 * HOUR) == local(ISTANBUL, 2025, 5, 20, 1)
    assert calendar.is_open(local(ISTANBUL, 2025, 5, 20))
    assert calendar.between(local(ISTANBUL, 2025, 5, 19, 12), local(ISTANBUL, 2025, 5, 20, 12)) == (
        4 * HOUR
    )


def test_a_start_in_another_zone_means_the_same_instant():
    calendar = office("Europe/Istanbul")
    friday_five_pm = local(ISTANBUL, 2025, 5, 16, 17)
    in_new_york = friday_five_pm.astimezone(NEW_YORK)
    assert calendar.add(in_new_york, 2 * HOUR) == calendar.add(friday_five_pm, 2 * HOUR)


def test_chinese_new_year_week_closes_the_shanghai_desk():
    festival = tuple(f"2025-{day}" for day in ("01-28", "01-29", "01-30", "01-31"))
    festival += ("2025-02-01", "2025-02-02", "2025-02-03", "2025-02-04")
    calendar = office("Asia/Shanghai", holidays=festival)
    eve = local(SHANGHAI, 2025, 1, 27, 17)  # the Monday before
    assert calendar.add(eve, 2 * HOUR) == local(SHANGHAI, 2025, 2, 5, 10)
    assert calendar.between(local(SHANGHAI, 2025, 1, 27, 9), local(SHANGHAI, 2025, 2, 5, 18)) == (
        18 * HOUR
    )
    assert not calendar.is_open(local(SHANGHAI, 2025, 1, 29, 10))
    assert calendar.next_open(local(SHANGHAI, 2025, 1, 28, 10)) == local(SHANGHAI, 2025, 2, 5, 9)


# --- DST nights ----------------------------------------------------------------------------


def test_a_berlin_night_window_is_two_hours_on_the_spring_forward_night():
    calendar = every_day(BERLIN, time(1), time(4))
    assert whole_day(calendar, date(2025, 3, 29)) == 3 * HOUR
    assert whole_day(calendar, date(2025, 3, 30)) == 2 * HOUR
    one_am = local(BERLIN, 2025, 3, 30, 1)
    assert calendar.add(one_am, 1.5 * HOUR) == local(BERLIN, 2025, 3, 30, 3, 30)
    assert calendar.add(one_am, 2 * HOUR) == local(BERLIN, 2025, 3, 30, 4)
    assert calendar.add(one_am, 2 * HOUR + 1) == local(BERLIN, 2025, 3, 31, 1, 0, 1)


def test_a_berlin_night_window_is_four_hours_on_the_fall_back_night():
    calendar = every_day(BERLIN, time(1), time(4))
    assert whole_day(calendar, date(2025, 10, 26)) == 4 * HOUR
    one_am = local(BERLIN, 2025, 10, 26, 1)
    assert calendar.add(one_am, 3 * HOUR) == local(BERLIN, 2025, 10, 26, 3)  # 03:00 CET
    assert calendar.add(one_am, 1.5 * HOUR) == local(BERLIN, 2025, 10, 26, 2, 30)
    assert calendar.add(one_am, 2.5 * HOUR) == local(BERLIN, 2025, 10, 26, 2, 30, fold=1)
    assert calendar.is_open(local(BERLIN, 2025, 10, 26, 2, 15, fold=1))


def test_over_a_year_the_short_and_the_long_night_cancel_out():
    calendar = every_day(BERLIN, time(1), time(4))
    assert calendar.between(local(BERLIN, 2025, 1, 1), local(BERLIN, 2026, 1, 1)) == (
        365 * 3 * HOUR
    )


def test_a_wall_time_in_the_gap_is_the_moment_after_the_gap():
    opens_in_the_gap = only_sunday(BERLIN, time(2, 30), time(5))
    assert opens_in_the_gap.next_open(local(BERLIN, 2025, 3, 30)) == local(BERLIN, 2025, 3, 30, 3)
    assert whole_day(opens_in_the_gap, date(2025, 3, 30)) == 2 * HOUR

    inside_the_gap = only_sunday(BERLIN, time(2, 15), time(2, 45))
    assert whole_day(inside_the_gap, date(2025, 3, 30)) == 0
    assert inside_the_gap.next_open(local(BERLIN, 2025, 3, 30)) == local(BERLIN, 2025, 4, 6, 2, 15)


def test_an_ambiguous_wall_time_is_its_first_occurrence():
    calendar = only_sunday(BERLIN, time(1), time(2, 30))
    assert whole_day(calendar, date(2025, 10, 26)) == 1.5 * HOUR
    assert calendar.is_open(local(BERLIN, 2025, 10, 26, 2, 15))
    assert not calendar.is_open(local(BERLIN, 2025, 10, 26, 2, 15, fold=1))

    after = only_sunday(BERLIN, time(2, 30), time(3))  # the first 02:30 to 03:00 CET
    assert whole_day(after, date(2025, 10, 26)) == 1.5 * HOUR


def test_new_york_dst_sundays_and_the_weekend_across_a_change():
    night = only_sunday(NEW_YORK, time(0), time(6))
    assert whole_day(night, date(2025, 3, 9)) == 5 * HOUR
    assert whole_day(night, date(2025, 11, 2)) == 7 * HOUR
    assert whole_day(night, date(2025, 11, 9)) == 6 * HOUR

    calendar = office("America/New_York", "09:00-17:00")
    spring = calendar.add(local(NEW_YORK, 2025, 3, 7, 16), 2 * HOUR)
    assert spring == local(NEW_YORK, 2025, 3, 10, 10) == datetime(2025, 3, 10, 14, tzinfo=UTC)
    autumn = calendar.add(local(NEW_YORK, 2025, 10, 31, 16), 2 * HOUR)
    assert autumn == local(NEW_YORK, 2025, 11, 3, 10) == datetime(2025, 11, 3, 15, tzinfo=UTC)
    assert calendar.between(local(NEW_YORK, 2025, 3, 7, 16), spring) == 2 * HOUR


def test_santiago_changes_its_clocks_at_midnight():
    # 2025-09-07 00:00 does not exist (00:00 -04 -> 01:00 -03); on 2025-04-05 23:00-24:00
    # happens twice (00:00 -03 -> 23:00 -04).
    santiago = ZoneInfo("America/Santiago")
    calendar = BusinessCalendar(
        zone=santiago, week=(((time(0), time(2)), (time(22), time(0))),) * 7
    )
    assert whole_day(calendar, date(2025, 9, 6)) == 4 * HOUR
    assert whole_day(calendar, date(2025, 9, 7)) == 3 * HOUR
    assert whole_day(calendar, date(2025, 4, 5)) == 5 * HOUR
    assert (
        calendar.between(local(santiago, 2025, 8, 20), local(santiago, 2025, 9, 20))
        == (31 * 4 - 1) * HOUR
    )
    assert (
        calendar.between(local(santiago, 2025, 3, 20), local(santiago, 2025, 4, 20))
        == (31 * 4 + 1) * HOUR
    )


def test_lord_howe_moves_its_clocks_by_half_an_hour():
    calendar = every_day(LORD_HOWE, time(1), time(4))
    assert whole_day(calendar, date(2025, 4, 6)) == 3.5 * HOUR
    assert whole_day(calendar, date(2025, 10, 5)) == 2.5 * HOUR
    opens_in_the_gap = only_sunday(LORD_HOWE, time(2, 10), time(4))
    assert opens_in_the_gap.next_open(local(LORD_HOWE, 2025, 10, 5)) == local(
        LORD_HOWE, 2025, 10, 5, 2, 30
    )
    assert whole_day(opens_in_the_gap, date(2025, 10, 5)) == 1.5 * HOUR


# --- long spans ----------------------------------------------------------------------------


def test_ninety_days_of_working_time_land_on_the_right_day():
    calendar = office("Europe/Istanbul")  # 45 h a week, no DST since 2016
    deadline = calendar.add(local(ISTANBUL, 2025, 5, 16, 17), 90 * 24 * HOUR)
    assert deadline == local(ISTANBUL, 2026, 4, 17, 17)  # 48 weeks later


def test_an_hour_a_week_for_decades_is_plain_arithmetic_without_dst():
    calendar = BusinessCalendar.from_config(zone="Asia/Shanghai", week={"mon": ["10:00-11:00"]})
    start = local(SHANGHAI, 2025, 1, 6, 10)
    deadline = calendar.add(start, 90 * 24 * HOUR)
    assert deadline == start + timedelta(weeks=2159, hours=1)
    assert calendar.between(start, deadline) == 90 * 24 * HOUR


def test_skipping_whole_weeks_agrees_with_walking_them():
    # One hour on Sunday nights in Berlin: none on the spring-forward Sunday (02:00-03:00 is
    # skipped), two on the fall-back Sunday, and holidays here and there.
    calendar = BusinessCalendar(
        zone=BERLIN,
        week=((),) * 6 + (((time(2), time(3)),),),
        holidays=frozenset({date(2025, 12, 28), date(2026, 6, 7), date(2027, 1, 3)}),
    )
    start = local(BERLIN, 2025, 1, 1)
    walked = start
    for _ in range(300):
        walked = calendar.add(walked, HOUR)  # never more than a week ahead: no skipping
    assert calendar.add(start, 300 * HOUR) == walked
    assert calendar.between(start, walked) == 300 * HOUR
    pieces = [start + timedelta(days=6 * index) for index in range(400)]
    assert sum(map(calendar.between, pieces, pieces[1:])) == calendar.between(start, pieces[-1])


# --- no working time -----------------------------------------------------------------------


def test_a_week_without_working_time_raises_instead_of_searching_forever():
    closed = BusinessCalendar.from_config(zone="Europe/Berlin", week={}, holidays=[])
    moment = local(BERLIN, 2025, 1, 1)
    with pytest.raises(ValueError, match="no working time within 400 days"):
        closed.add(moment, HOUR)
    with pytest.raises(ValueError, match="no working time"):
        closed.next_open(moment)
    assert not closed.is_open(moment)
    assert closed.between(moment, moment + timedelta(days=1000)) == 0


def test_holidays_longer_than_the_horizon_raise():
    first = date(2025, 1, 1)
    closed_days = [first + timedelta(days=index) for index in range(HORIZON_DAYS + 2)]
    calendar = BusinessCalendar(
        zone=BERLIN, week=(((time(9), time(17)),),) * 7, holidays=frozenset(closed_days)
    )
    with pytest.raises(ValueError, match="no working time"):
        calendar.add(local(BERLIN, 2025, 1, 1), HOUR)
    shorter = BusinessCalendar(
        zone=BERLIN, week=calendar.week, holidays=frozenset(closed_days[:-10])
    )
    assert shorter.add(local(BERLIN, 2025, 1, 1), HOUR) == local(BERLIN, 2026, 1, 28, 10)


# --- bad input -----------------------------------------------------------------------------


def test_from_config_builds_the_same_calendar_as_the_constructor():
    built = BusinessCalendar.from_config(
        zone="Europe/Istanbul",
        week={"mon": ["13:00-18:00", "09:00-12:00"], "sat": ["20:00-24:00"], "sun": []},
        holidays=["2025-10-29"],
    )
    assert built == BusinessCalendar(
        zone=ISTANBUL,
        week=(
            ((time(9), time(12)), (time(13), time(18))),
            (),
            (),
            (),
            (),
            ((time(20), time(0)),),
            (),
        ),
        holidays=frozenset({date(2025, 10, 29)}),
    )
    assert hash(built)


@pytest.mark.parametrize(
    ("week", "message"),
    [
        ({"monday": ["09:00-18:00"]}, "unknown day monday"),
        ({"mon": ["9-18"]}, "not a window like"),
        ({"mon": ["09:00-25:00"]}, "does not exist"),
        ({"mon": ["09:60-10:00"]}, "does not exist"),
        ({"mon": ["24:00-24:00"]}, "does not exist"),
        ({"mon": ["09:00-24:30"]}, "ends after 24:00"),
        ({"mon": ["22:00-02:00"]}, "cannot cross midnight"),
        ({"mon": ["10:00-10:00"]}, "ends before it starts"),
        ({"mon": ["09:00-12:00", "11:00-13:00"]}, "overlap"),
        ({"mon": "09:00-18:00"}, "give a list of windows"),
        ({"mon": [9]}, "not a window like"),
    ],
)
def test_from_config_rejects_bad_weeks(week, message):
    with pytest.raises(ValueError, match=message):
        BusinessCalendar.from_config(zone="Europe/Istanbul", week=week, holidays=[])


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "", "../etc/passwd", "Europe"])
def test_from_config_rejects_unknown_zones(zone):
    with pytest.raises(ValueError, match="unknown time zone"):
        BusinessCalendar.from_config(zone=zone, week={}, holidays=[])


@pytest.mark.parametrize("holiday", ["2025-02-30", "20250101", "29.10.2025", "2025-W01-1"])
def test_from_config_rejects_bad_holidays(holiday):
    with pytest.raises(ValueError, match="is not a YYYY-MM-DD date"):
        BusinessCalendar.from_config(zone="Europe/Istanbul", week={}, holidays=[holiday])


def test_the_constructor_checks_the_shape_of_the_week():
    with pytest.raises(ValueError, match="7 entries"):
        BusinessCalendar(zone=BERLIN, week=((),) * 6)
    with pytest.raises(ValueError, match="overlaps"):
        BusinessCalendar(zone=BERLIN, week=(((time(9), time(12)), (time(11), time(13))),) * 7)
    with pytest.raises(ValueError, match="ends before it starts"):
        BusinessCalendar(zone=BERLIN, week=(((time(12), time(9)),),) * 7)
    with pytest.raises(TypeError, match="holidays are dates"):
        BusinessCalendar(zone=BERLIN, week=((),) * 7, holidays=frozenset({datetime(2025, 1, 1)}))


def test_naive_moments_and_negative_durations_are_refused():
    calendar = office("Europe/Istanbul")
    with pytest.raises(ValueError, match="aware"):
        calendar.add(datetime(2025, 5, 16, 17), HOUR)
    with pytest.raises(ValueError, match="aware"):
        calendar.between(local(ISTANBUL, 2025, 5, 16), datetime(2025, 5, 17))
    with pytest.raises(ValueError, match="not negative"):
        calendar.add(local(ISTANBUL, 2025, 5, 16), -1)
    with pytest.raises(ValueError, match="finite"):
        calendar.add(local(ISTANBUL, 2025, 5, 16), math.nan)


# --- properties ----------------------------------------------------------------------------

ZONES = [
    "Europe/Berlin",
    "Europe/Istanbul",
    "Asia/Shanghai",
    "America/New_York",
    "Australia/Lord_Howe",  # DST moves its clocks by 30 minutes
]
US_PER_SECOND = 1_000_000
US_PER_HOUR = HOUR * US_PER_SECOND
US_PER_DAY = 24 * US_PER_HOUR
TRANSITIONS = [
    datetime(2025, 3, 30, 1, tzinfo=UTC),  # Berlin
    datetime(2025, 10, 26, 1, tzinfo=UTC),
    datetime(2025, 3, 9, 7, tzinfo=UTC),  # New York
    datetime(2025, 11, 2, 6, tzinfo=UTC),
    datetime(2025, 4, 5, 15, tzinfo=UTC),  # Lord Howe
    datetime(2025, 10, 4, 15, 30, tzinfo=UTC),
]


def quarter_hour(index: int) -> time:
    return time(0) if index == 96 else time(index // 4, 15 * (index % 4))


@st.composite
def calendars(draw) -> BusinessCalendar:
    days = []
    for _ in range(7):
        points = sorted(draw(st.lists(st.integers(0, 96), max_size=6, unique=True)))
        if len(points) % 2:
            points.pop()
        days.append(
            tuple(
                (quarter_hour(points[index]), quarter_hour(points[index + 1]))
                for index in range(0, len(points), 2)
            )
        )
    assume(any(days))
    offsets = draw(st.frozensets(st.integers(0, 480), max_size=12))  # 2024-12-01 on
    holidays = frozenset(date(2024, 12, 1) + timedelta(days=offset) for offset in offsets)
    return BusinessCalendar(
        zone=ZoneInfo(draw(st.sampled_from(ZONES))), week=tuple(days), holidays=holidays
    )


anywhere = st.datetimes(datetime(2025, 1, 1), datetime(2025, 12, 31), timezones=st.just(UTC))
near_a_change = st.builds(
    lambda base, offset: base + timedelta(microseconds=offset),
    st.sampled_from(TRANSITIONS),
    st.integers(-3 * US_PER_DAY, 3 * US_PER_DAY),
)
moments = st.one_of(
    anywhere,
    near_a_change,
    near_a_change.map(lambda moment: moment.replace(minute=moment.minute // 15 * 15, second=0)),
).map(lambda moment: moment.replace(microsecond=0) if moment.second % 2 else moment)
amounts = st.one_of(st.just(0), st.integers(0, 12 * US_PER_HOUR), st.integers(0, 20 * US_PER_DAY))


def us(seconds: float) -> int:
    return round(seconds * US_PER_SECOND)


@settings(max_examples=200, deadline=None)
@given(calendars(), moments, amounts)
def test_between_measures_back_what_add_added(calendar, start, amount):
    seconds = amount / US_PER_SECOND
    deadline = calendar.add(start, seconds)
    assert deadline.tzinfo is UTC
    assert deadline >= calendar.next_open(start) >= start
    assert calendar.between(start, deadline) == seconds
    if amount:
        assert calendar.is_open(deadline - timedelta(microseconds=1))


@settings(max_examples=200, deadline=None)
@given(calendars(), moments, amounts, amounts)
def test_add_is_monotonic_and_composes(calendar, start, first, second):
    low, high = sorted((first, second))
    at_low = calendar.add(start, low / US_PER_SECOND)
    at_high = calendar.add(start, high / US_PER_SECOND)
    assert at_low <= at_high
    if high > low:
        assert calendar.add(at_low, (high - low) / US_PER_SECOND) == at_high
    else:
        # Adding nothing is "due at the next working moment": from a deadline that ends a
        # working window (where a positive amount may end), that is the next window's start.
        assert calendar.add(at_low, 0) == calendar.next_open(at_low)


@settings(max_examples=200, deadline=None)
@given(calendars(), moments, st.integers(0, 40 * US_PER_DAY), st.integers(0, 40 * US_PER_DAY))
def test_between_is_additive(calendar, a, first, second):
    b = a + timedelta(microseconds=first)
    c = b + timedelta(microseconds=second)
    assert us(calendar.between(a, b)) + us(calendar.between(b, c)) == us(calendar.between(a, c))
    assert calendar.between(a, c) <= (c - a).total_seconds()
    if a < c:
        assert calendar.between(c, a) == 0


@settings(max_examples=200, deadline=None)
@given(calendars(), moments)
def test_next_open_is_the_first_working_moment(calendar, moment):
    opening = calendar.next_open(moment)
    assert opening >= moment
    assert calendar.is_open(opening)
    assert calendar.between(moment, opening) == 0
    assert calendar.add(moment, 0) == opening
    assert (opening == moment) == calendar.is_open(moment)


@settings(max_examples=200, deadline=None)
@given(
    st.datetimes(
        datetime(2000, 1, 1),
        datetime(2040, 1, 1),
        timezones=st.sampled_from([ZoneInfo(name) for name in ZONES]),
    ),
    st.integers(0, 3000 * US_PER_DAY),
)
def test_always_is_plain_arithmetic(start, amount):
    calendar = BusinessCalendar.always()
    end = start.astimezone(UTC) + timedelta(microseconds=amount)  # elapsed, not wall, time
    assert calendar.add(start, amount / US_PER_SECOND) == end
    assert calendar.between(start, end) == (end - start).total_seconds()
    assert calendar.is_open(start)
