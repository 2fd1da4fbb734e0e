"""When things happen in the demo year: busy days and hours, holidays, working time, delays.

The year ends at 00:00 UTC on the day the generator is given. Teams answer only in their
working hours (slower at weekends, not at all on their holidays), merchants only while awake.
"""

from __future__ import annotations

import bisect
import random
from datetime import UTC, date, datetime, time, timedelta

from sellerdesk.conversations.demo.chance import cumulative, lognormal
from sellerdesk.conversations.demo.conversation import Conv
from sellerdesk.conversations.demo.people import Merchant
from sellerdesk.conversations.demo.world import DAYS, Team, Week, World, zone_info

#: Local hours at which merchants write (weights for 00..23), and busy weekdays (Monday first).
HOURS = (2, 1, 0.5, 0.5, 0.5, 1, 3, 8, 16, 26, 30, 29, 23, 24, 28, 28, 26, 23, 18, 15, 14, 12, 9, 5)
WEEKDAYS = (1.15, 1.1, 1.05, 1.0, 0.95, 0.55, 0.45)
#: Chinese New Year: CN merchants and the CN team stop for a week, the KR team for Seollal.
NEW_YEAR = {
    2023: date(2023, 1, 22), 2024: date(2024, 2, 10), 2025: date(2025, 1, 29),
    2026: date(2026, 2, 17), 2027: date(2027, 2, 6), 2028: date(2028, 1, 26),
    2029: date(2029, 2, 13), 2030: date(2030, 2, 3), 2031: date(2031, 1, 23),
    2032: date(2032, 2, 11), 2033: date(2033, 1, 31), 2034: date(2034, 2, 19),
}  # fmt: skip
#: When merchants are awake to write back.
MERCHANT_WEEK: Week = (((8, 23, 1.0),),) * 5 + (((10, 21, 0.5),), ((11, 20, 0.3),))


def whole(moment: datetime) -> datetime:
    return moment.replace(microsecond=0)


def _holidays(key: str, team: Team, years: range) -> frozenset[date]:
    days: set[date] = set()
    for year in years:
        days.update(date(year, month, day) for month, day in team.holidays)
        new_year = NEW_YEAR.get(year)
        if new_year and key == "cn":
            days.update(new_year + timedelta(days=n) for n in range(-1, 6))
        if new_year and key == "kr":
            days.update(new_year + timedelta(days=n) for n in range(-1, 2))
        if key == "am":  # Thanksgiving: the fourth Thursday of November
            first = date(year, 11, 1)
            days.add(first + timedelta(days=(3 - first.weekday()) % 7 + 21))
    return frozenset(days)


class Clock:
    """The demo year and its working hours; draws moments and delays from the generator's rng."""

    def __init__(self, rng: random.Random, world: World, today: date) -> None:
        self.rng = rng
        self.world = world
        self.now = datetime.combine(today, time(), tzinfo=UTC)
        self.start = self.now - timedelta(days=DAYS)
        years = range(self.start.year - 1, self.now.year + 2)
        self.closed = {key: _holidays(key, team, years) for key, team in world.teams.items()}
        self._windows: dict[tuple[str, date], list[tuple[datetime, datetime, float]]] = {}
        self.day_cum = {region: self._day_weights(region) for region in ("cn", "world")}
        self.hour_cum = cumulative(HOURS)

    def _day_weights(self, region: str) -> list[float]:
        """Cumulative weights of the year's days: weekdays, sales peaks, holidays, growth."""
        weights = []
        for index in range(DAYS):
            day = (self.start + timedelta(days=index)).date()
            weight = WEEKDAYS[day.weekday()] * (0.8 + 0.45 * index / DAYS)  # a growing marketplace
            month, dom = day.month, day.day
            if month == 11 and 9 <= dom <= 14:  # Singles' Day
                weight *= 1.9
            elif (month == 11 and dom >= 22) or (month == 12 and dom <= 2):  # Black Friday
                weight *= 1.5
            elif month == 12 and dom <= 20:
                weight *= 1.25
            elif (month == 12 and dom >= 24) or (month == 1 and dom <= 2):
                weight *= 0.55
            new_year = NEW_YEAR.get(day.year)
            if region == "cn" and new_year:
                since = (day - new_year).days
                weight *= 0.25 if -2 <= since <= 6 else 1.4 if 7 <= since <= 14 else 1.0
            if region == "cn" and month == 10 and dom <= 7:  # Golden Week
                weight *= 0.5
            weights.append(weight)
        return cumulative(weights)

    def filing_time(self, merchant: Merchant) -> datetime:
        """A moment the merchant writes: a busy day, office-ish local hours, within its life."""
        rng = self.rng
        cum = self.day_cum["cn" if merchant.countries[0][1].code == "CN" else "world"]
        lower, upper = max(self.start, merchant.since), min(self.now, merchant.until)
        first = max(0, (lower - self.start).days)
        last = min(DAYS - 1, (upper - self.start).days)
        moment = lower
        for _ in range(8):
            point = rng.uniform(cum[first - 1] if first else 0.0, cum[last])
            index = min(bisect.bisect_left(cum, point), last)
            day = (self.start + timedelta(days=index)).date()
            zone = zone_info(merchant.at(self.start + timedelta(days=index))[1])
            hour = rng.choices(range(24), cum_weights=self.hour_cum)[0]
            minute, second = rng.randrange(60), rng.randrange(60)
            wall = datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=zone)
            moment = wall.astimezone(UTC)
            if lower <= moment < upper:
                return moment
        return min(max(moment, lower), upper - timedelta(minutes=1))

    def _windows_on(
        self, key: str, zone: str, week: Week, day: date
    ) -> list[tuple[datetime, datetime, float]]:
        """The working windows of one local day, in UTC (none on a holiday)."""
        found = self._windows.get((key, day))
        if found is None:
            found = []
            if day not in self.closed.get(key, frozenset()):
                base = datetime(day.year, day.month, day.day, tzinfo=zone_info(zone))
                for begin, end, speed in week[day.weekday()]:
                    found.append(
                        (
                            (base + timedelta(hours=begin)).astimezone(UTC),
                            (base + timedelta(hours=end)).astimezone(UTC),
                            speed,
                        )
                    )
            self._windows[(key, day)] = found
        return found

    def _advance(
        self, key: str, zone: str, week: Week, start: datetime, minutes: float
    ) -> datetime:
        """``start`` plus ``minutes`` of working time in these hours, waiting while closed."""
        day = start.astimezone(zone_info(zone)).date() - timedelta(days=1)
        remaining = minutes
        for _ in range(40):
            for begin, end, speed in self._windows_on(key, zone, week, day):
                begin = max(begin, start)
                if begin >= end:
                    continue
                capacity = (end - begin).total_seconds() / 60 * speed
                if remaining <= capacity:
                    return whole(begin + timedelta(minutes=remaining / speed))
                remaining -= capacity
            day += timedelta(days=1)
        return whole(start + timedelta(minutes=minutes))

    def team_time(self, conv: Conv, start: datetime, minutes: float) -> datetime:
        """``start`` plus ``minutes`` of the conversation's team's working time."""
        team = self.world.teams[conv.team]
        return self._advance(conv.team, team.zone, team.week, start, minutes)

    def agent_time(self, conv: Conv, start: datetime, *, first: bool = False) -> datetime:
        """When the team answers: minutes in chat, hours by e-mail, slower in peak season."""
        rng = self.rng
        if conv.channel == "phone" and first:  # the call itself
            return whole(start + timedelta(minutes=lognormal(rng, 6, 0.5)))
        if conv.channel == "chat":
            minutes = lognormal(rng, 4 if first else 3, 0.9)
        else:
            median = {"web": 190, "api": 220}.get(conv.channel, 150) if first else 110
            minutes = lognormal(rng, median, 1.0)
        day = start.date()
        if (day.month == 11 and day.day >= 9) or (day.month == 12 and day.day <= 20):
            minutes *= 1.7  # the sales season backlog
        new_year = NEW_YEAR.get(day.year)
        if conv.team == "cn" and new_year and 0 <= (day - new_year).days <= 14:
            minutes *= 1.5  # the backlog after the Spring Festival
        return self.team_time(conv, start, minutes * self.world.teams[conv.team].slowness)

    def merchant_time(self, conv: Conv, start: datetime, *, patience: bool = False) -> datetime:
        """When the merchant writes back (with ``patience``: gives up waiting and chases us)."""
        rng = self.rng
        if conv.channel == "chat" and not patience:
            return whole(start + timedelta(minutes=lognormal(rng, 3, 0.8)))
        minutes = lognormal(rng, 1500 if patience else 240, 1.1)
        return self._advance("merchant:" + conv.zone, conv.zone, MERCHANT_WEEK, start, minutes)
