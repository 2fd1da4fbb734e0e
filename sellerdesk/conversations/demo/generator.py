"""Demo data: a realistic, multilingual year of merchant support, in the interchange format.

``demo_generate`` yields interchange objects (spec: interchange.md) for the year that ends at
00:00 UTC on ``today``; ``demo_load`` writes them through ``conversations_import``, the service
a migration uses, so the demo also exercises the real import path and its stored facts.
Deterministic: one ``random.Random(seed)`` and a clock fixed to ``today``, so the same seed on
the same day gives the same lines. Ids start with ``demo-``: loading again replaces them.

The data lives beside this module in ``demo_data/``: ``world.toml`` (countries, support teams
and their hours, what merchants write about), ``phrases.toml`` (hand-written seller-support
phrases in 13 languages), ``names.toml`` (invented merchant and agent names in their scripts)
and ``bitext_en.toml`` (English utterances from the Bitext customer-service dataset,
CDLA-Sharing-1.0; its credit and licence are in that file).
"""

from __future__ import annotations

import bisect
import json
import math
import random
import secrets
import tomllib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.contrib.auth import get_user_model

from sellerdesk.conversations.importer import conversations_import
from sellerdesk.conversations.interchange import format_timestamp
from sellerdesk.conversations.models import Conversation

DEFAULT_SEED = 1
DEFAULT_CONVERSATIONS = 5000
ID_PREFIX = "demo-"
STAFF_LOGIN = "admin@sellerdesk.test"
#: Printed by the command and named in the README; never set in production mode.
DEVELOPMENT_PASSWORD = "sellerdesk-demo"  # noqa: S105 - a documented development login
DATA_DIR = Path(__file__).resolve().parent / "demo_data"
DAYS = 365

SPAM_RATE = 0.012
OUTREACH_RATE = 0.055
UNTAGGED_RATE = 0.04
NO_REPLY_RATE = 0.12  # the merchant never answers the question put to them
OUTREACH_NO_REPLY_RATE = 0.28
REOPEN_RATE = 0.07  # complaints: five points more
CLOSE_RATE = 0.9  # solved conversations the automation closes after four quiet days
UNDECIDED_RATE = 0.05  # resolved complaints nobody recorded an outcome for
#: Chance that the first agent reply already settles the conversation.
QUICK = {"question": 0.5, "request": 0.35, "proposal": 0.6, "complaint": 0.1}
OUTCOMES = {"upheld": 28, "partially_upheld": 17, "rejected": 32, "withdrawn": 8, "no_action": 15}
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

_Window = tuple[float, float, float]  # local start hour, end hour, speed (1 = fully staffed)
_Week = tuple[tuple[_Window, ...], ...]  # Monday .. Sunday
_Author = dict[str, str]
#: When merchants are awake to write back.
MERCHANT_WEEK: _Week = (((8, 23, 1.0),),) * 5 + (((10, 21, 0.5),), ((11, 20, 0.3),))
_AUTOREPLY: _Author = {"type": "system", "id": "autoreply", "name": "Auto-reply"}
_CHATBOT: _Author = {"type": "system", "id": "chatbot", "name": "Chat bot"}
_AUTOMATION: _Author = {"type": "system", "id": "automation", "name": "Automation"}


@dataclass(frozen=True, slots=True)
class DemoResult:
    merchants: int
    conversations: int


class DemoError(RuntimeError):
    """The importer refused a generated line: a bug in this module, never bad input."""


def demo_generate(*, seed: int, conversations: int, today: date) -> Iterator[dict[str, Any]]:
    """Interchange objects for ``conversations`` conversations filed in the year before ``today``.

    The year ends at 00:00 UTC on ``today``: nothing is dated later, and whatever would have
    happened after that moment (a reply, a solve) has not happened yet, so the newest
    conversations are still new, open or pending. The same seed and day give the same objects.
    """
    if conversations < 0:
        raise ValueError("conversations must not be negative")
    generator = _Generator(seed, today, conversations)
    for number in range(1, conversations + 1):
        yield generator.conversation(number)


def demo_load(
    *,
    today: date,
    seed: int = DEFAULT_SEED,
    conversations: int = DEFAULT_CONVERSATIONS,
    batch_size: int | None = None,
) -> DemoResult:
    """Generate the demo year and write it through the importer; returns what was written."""
    merchants: set[str] = set()

    def lines() -> Iterator[tuple[int, bytes]]:
        objects = demo_generate(seed=seed, conversations=conversations, today=today)
        for number, obj in enumerate(objects, start=1):
            merchants.add(obj["merchant"]["id"])
            yield number, json.dumps(obj, ensure_ascii=False).encode()

    result = conversations_import(lines(), batch_size=batch_size)
    if result.rejected:
        first = result.rejected[0]
        raise DemoError(
            f"{len(result.rejected)} demo lines were rejected; line {first.line}: {first.reason}"
        )
    return DemoResult(merchants=len(merchants), conversations=result.imported)


def demo_conversations_stored() -> int:
    """How many conversations the database holds, demo or not (for ``--if-empty``)."""
    return Conversation.objects.count()


def demo_staff_login_exists() -> bool:
    user_model = get_user_model()
    return user_model._default_manager.filter(**{user_model.USERNAME_FIELD: STAFF_LOGIN}).exists()


def demo_staff_login(*, production: bool) -> str:
    """Create the superuser ``admin@sellerdesk.test`` or reset its password; returns the password.

    Development gets the documented ``DEVELOPMENT_PASSWORD``. In production a known password
    would be an open door, so a random one is set and returned for the caller to show once.
    """
    password = secrets.token_urlsafe(16) if production else DEVELOPMENT_PASSWORD
    user_model = get_user_model()
    user = user_model._default_manager.filter(**{user_model.USERNAME_FIELD: STAFF_LOGIN}).first()
    if user is None:
        user = user_model(**{user_model.USERNAME_FIELD: STAFF_LOGIN})
    for name, value in (
        ("email", STAFF_LOGIN),
        ("is_staff", True),
        ("is_superuser", True),
        ("is_active", True),
    ):
        setattr(user, name, value)
    user.set_password(password)
    user.save()
    return password


# --- the data files --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Country:
    code: str
    weight: float
    team: str
    currency: str
    zones: tuple[str, ...]
    languages: dict[str, float]


@dataclass(frozen=True, slots=True)
class _Team:
    zone: str
    note_language: str
    week: _Week
    slowness: float  # multiplies every working delay
    channels: dict[str, float]
    holidays: tuple[tuple[int, int], ...]  # (month, day), every year


@dataclass(frozen=True, slots=True)
class _Scenario:
    """Something merchants write about: its tags, kinds, who writes it and how it is settled."""

    tags: tuple[str, ...]
    kinds: dict[str, float]
    weights: dict[str, float]  # by the merchant's status when filing
    also: dict[str, float]  # tags that often come along, with their chance
    team_also: dict[str, dict[str, float]]  # macros a team adds, with their chance
    bias: dict[str, float]  # by answering team, multiplies the weight
    bitext: tuple[str, ...]  # Bitext intents whose utterances can open it in English
    outcomes: dict[str, float]  # of its complaints


@dataclass(frozen=True, slots=True)
class _Outreach:
    kind: str
    tags: tuple[str, ...]
    weights: dict[str, float]


@dataclass(frozen=True, slots=True)
class _Data:
    phrases: dict[str, Any]
    names: dict[str, Any]
    bitext: dict[str, Any]
    countries: dict[str, _Country]
    teams: dict[str, _Team]
    scenarios: dict[str, _Scenario]
    outreach: dict[str, _Outreach]
    moves: tuple[tuple[str, str], ...]
    spam_senders: tuple[tuple[str, str, str], ...]


@cache
def _data() -> _Data:
    def load(name: str) -> dict[str, Any]:
        return tomllib.loads((DATA_DIR / name).read_text(encoding="utf-8"))

    world = load("world.toml")

    def windows(items: list[list[float]]) -> tuple[_Window, ...]:
        return tuple((float(a), float(b), float(c)) for a, b, c in items)

    teams = {
        key: _Team(
            zone=t["zone"],
            note_language=t["note_language"],
            week=(windows(t["weekdays"]),) * 5 + (windows(t["saturday"]), windows(t["sunday"])),
            slowness=t["slowness"],
            channels=t["channels"],
            holidays=tuple((int(h[:2]), int(h[3:])) for h in t["holidays"]),
        )
        for key, t in world["teams"].items()
    }
    scenarios = {
        key: _Scenario(
            tags=tuple(s["tags"]),
            kinds=s["kinds"],
            weights=s["weights"],
            also=s.get("also", {}),
            team_also=s.get("team_also", {}),
            bias=s.get("bias", {}),
            bitext=tuple(s.get("bitext", ())),
            outcomes=s.get("outcomes", OUTCOMES),
        )
        for key, s in world["scenarios"].items()
    }
    return _Data(
        phrases=load("phrases.toml"),
        names=load("names.toml"),
        bitext=load("bitext_en.toml"),
        countries={
            code: _Country(
                code, c["weight"], c["team"], c["currency"], tuple(c["zones"]), c["languages"]
            )
            for code, c in world["countries"].items()
        },
        teams=teams,
        scenarios=scenarios,
        outreach={
            key: _Outreach(o["kind"], tuple(o["tags"]), o["weights"])
            for key, o in world["outreach"].items()
        },
        moves=tuple((old, new) for old, new in world["moves"]),
        spam_senders=tuple((name, code, lang) for name, code, lang in world["spam_senders"]),
    )


def _chain(language: str) -> tuple[str, ...]:
    """Languages to try for a phrase: Ukrainian and Russian stand in for each other."""
    return {"uk": ("uk", "ru", "en"), "ru": ("ru", "uk", "en")}.get(language, (language, "en"))


@cache
def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except ZoneInfoNotFoundError:
        if name == "Europe/Kyiv":  # tzdata before 2022b knows only the old spelling
            return ZoneInfo("Europe/Kiev")
        raise


class _Picker:
    """A ``str.format_map`` source that picks a random entry of the named list."""

    def __init__(self, rng: random.Random, lists: dict[str, list[str]]) -> None:
        self.rng = rng
        self.lists = lists

    def __getitem__(self, key: str) -> str:
        return self.rng.choice(self.lists[key])


def _cumulative(weights: Sequence[float]) -> list[float]:
    total = 0.0
    cum = []
    for weight in weights:
        total += weight
        cum.append(total)
    return cum


def _lognormal(rng: random.Random, median: float, sigma: float) -> float:
    return rng.lognormvariate(math.log(median), sigma)


def _whole(moment: datetime) -> datetime:
    return moment.replace(microsecond=0)


def _stamp(moment: datetime, zone: str | None) -> str:
    """Merchants and agents write in their local offset; the automation writes UTC."""
    return moment.astimezone(_zone(zone)).isoformat() if zone else format_timestamp(moment)


def _holidays(key: str, team: _Team, years: range) -> frozenset[date]:
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


# --- the people and the conversation being written -------------------------------------------


@dataclass(slots=True)
class _Merchant:
    id: str
    name: str
    language: str
    since: datetime
    until: datetime
    #: (from, country, time zone) and (from, status), in time order; the first holds from ever.
    countries: list[tuple[datetime, _Country, str]]
    statuses: list[tuple[datetime, str]]
    activity: float = 1.0

    def at(self, moment: datetime) -> tuple[_Country, str, str]:
        """Country, time zone and status as of ``moment``."""
        country, zone = self.countries[0][1:]
        for start, c, z in self.countries:
            if start <= moment:
                country, zone = c, z
        status = self.statuses[0][1]
        for start, s in self.statuses:
            if start <= moment:
                status = s
        return country, zone, status


@dataclass(frozen=True, slots=True)
class _Agent:
    id: str
    name: str


@dataclass(slots=True)
class _Conv:
    """One conversation being written: its events in time order, cut at the clock when built."""

    number: int
    merchant: _Merchant
    created: datetime
    country: _Country
    zone: str
    status: str
    team: str
    agent: _Agent
    values: dict[str, str]
    channel: str = "email"
    kind: str = "question"
    subject: str = ""
    tags: list[str] = field(default_factory=list)
    outreach: bool = False
    spam: bool = False
    outcome: str | None = None
    decided_at: datetime | None = None
    said: set[str] = field(default_factory=set)  # phrases already used, to vary the wording
    #: (at, author, body, time zone or None for UTC, public)
    messages: list[tuple[datetime, _Author, str, str | None, bool]] = field(default_factory=list)
    changes: list[tuple[datetime, str, str]] = field(default_factory=list)

    def build(self, now: datetime) -> dict[str, Any]:
        messages: list[dict[str, Any]] = []
        for at, author, body, zone, public in self.messages:
            if at <= now:
                message: dict[str, Any] = {"id": str(len(messages) + 1), "author": author}
                if not public:
                    message["public"] = False
                message["body"] = body
                message["created_at"] = _stamp(at, zone)
                messages.append(message)
        merchant = {
            "id": self.merchant.id,
            "name": self.merchant.name,
            "country": self.country.code,
            "status": self.status,
            "language": self.merchant.language,
        }
        obj: dict[str, Any] = {
            "id": f"{ID_PREFIX}{self.number:06d}",
            "merchant": merchant,
            "channel": self.channel,
            "kind": self.kind,
            "initiated_by": "support" if self.outreach else "merchant",
            "subject": self.subject,
            "created_at": _stamp(self.created, self.zone),
            "tags": self.tags,
            "messages": messages,
            "status_changes": [
                {"status": status, "at": format_timestamp(at), "by": by}
                for at, status, by in self.changes
                if at <= now
            ],
        }
        if self.kind == "complaint":
            decided = self.decided_at is not None and self.decided_at <= now
            obj["outcome"] = self.outcome if decided else None
        if self.spam:
            obj["spam"] = True
        return obj


# --- the generator ---------------------------------------------------------------------------


class _Generator:
    """Draws the merchants once, then one conversation per call, all from one ``Random``."""

    def __init__(self, seed: int, today: date, conversations: int) -> None:
        self.rng = random.Random(seed)  # noqa: S311 - made-up data, reproducible on purpose
        self.now = datetime.combine(today, time(), tzinfo=UTC)
        self.start = self.now - timedelta(days=DAYS)
        self.data = _data()
        years = range(self.start.year - 1, self.now.year + 2)
        self.closed = {key: _holidays(key, team, years) for key, team in self.data.teams.items()}
        self.agents = {
            key: [_Agent(f"{ID_PREFIX}a-{key}-{i:02d}", name) for i, name in enumerate(names, 1)]
            for key, names in self.data.names["agents"].items()
        }
        self._windows: dict[tuple[str, date], list[tuple[datetime, datetime, float]]] = {}
        self._scenario_cum: dict[tuple[str, str], tuple[list[str], list[float]]] = {}
        self.day_cum = {region: self._day_weights(region) for region in ("cn", "world")}
        self.hour_cum = _cumulative(HOURS)
        self.merchants = self._merchants(max(12, conversations // 8))
        self.merchant_cum = _cumulative([m.activity for m in self.merchants])
        self.spammers = [
            self._merchant(
                f"{ID_PREFIX}s-{i:02d}", name, self.data.countries[code], lang, "potential"
            )
            for i, (name, code, lang) in enumerate(self.data.spam_senders, 1)
        ]

    def _pick(self, weights: dict[str, float]) -> str:
        return self.rng.choices(list(weights), list(weights.values()))[0]

    # -- merchants --

    def _merchant(
        self, id: str, name: str, country: _Country, language: str, status: str
    ) -> _Merchant:
        zone = self.rng.choice(country.zones)
        ever = self.start - timedelta(days=DAYS)
        return _Merchant(
            id, name, language, ever, self.now, [(ever, country, zone)], [(ever, status)]
        )

    def _merchants(self, count: int) -> list[_Merchant]:
        rng = self.rng
        countries = list(self.data.countries.values())
        country_cum = _cumulative([c.weight for c in countries])
        day = timedelta(days=1)
        used: set[str] = set()
        merchants: list[_Merchant] = []
        for index in range(1, count + 1):
            country = rng.choices(countries, cum_weights=country_cum)[0]
            name = self._name(country.code, used)
            merchant = self._merchant(
                f"{ID_PREFIX}m-{index:05d}", name, country, self._pick(country.languages), "active"
            )
            merchant.activity = _lognormal(rng, 1.0, 1.0)  # a few big sellers, many small
            life = rng.random()
            if life < 0.10:  # an applicant; most are approved some weeks later
                merchant.since = self.start + day * rng.randint(0, DAYS - 20)
                merchant.statuses = [(merchant.since, "potential")]
                if rng.random() < 0.6:
                    merchant.statuses.append((merchant.since + day * rng.randint(7, 60), "active"))
                merchant.activity *= 0.6
            elif life < 0.125:  # suspended during the year, for good
                merchant.statuses.append(
                    (self.start + day * rng.randint(100, DAYS - 15), "suspended")
                )
            elif life < 0.135:  # closed the shop; a few last questions after that
                closing = self.start + day * rng.randint(90, DAYS - 40)
                merchant.statuses.append((closing, "closed"))
                merchant.until = closing + day * 45
            elif life < 0.28:  # joined during the year
                merchant.since = self.start + day * rng.randint(0, DAYS - 30)
            span = (min(merchant.until, self.now) - max(merchant.since, self.start)).days
            merchant.activity *= max(span, 1) / DAYS
            merchants.append(merchant)
        moves = self.data.moves
        movers = [m for m in merchants if any(m.countries[0][1].code == old for old, _ in moves)]
        for merchant in rng.sample(movers, min(len(movers), max(1, count // 60))):
            old = merchant.countries[0][1].code
            new = self.data.countries[rng.choice([n for o, n in moves if o == old])]
            moved = self.start + day * rng.randint(DAYS // 5, DAYS * 4 // 5)
            merchant.countries.append((moved, new, rng.choice(new.zones)))
            merchant.activity = max(merchant.activity, 1.0) * 2  # busy enough to show both sides
        return merchants

    def _name(self, code: str, used: set[str]) -> str:
        spec = self.data.names["merchants"][code]
        name = ""
        for _ in range(10):
            name = self.rng.choice(spec["patterns"]).format_map(_Picker(self.rng, spec))
            if name not in used:
                break
        used.add(name)
        return name

    # -- time --

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
        return _cumulative(weights)

    def _filing_time(self, merchant: _Merchant) -> datetime:
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
            zone = _zone(merchant.at(self.start + timedelta(days=index))[1])
            hour = rng.choices(range(24), cum_weights=self.hour_cum)[0]
            minute, second = rng.randrange(60), rng.randrange(60)
            wall = datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=zone)
            moment = wall.astimezone(UTC)
            if lower <= moment < upper:
                return moment
        return min(max(moment, lower), upper - timedelta(minutes=1))

    def _windows_on(
        self, key: str, zone: str, week: _Week, day: date
    ) -> list[tuple[datetime, datetime, float]]:
        """The working windows of one local day, in UTC (none on a holiday)."""
        found = self._windows.get((key, day))
        if found is None:
            found = []
            if day not in self.closed.get(key, frozenset()):
                base = datetime(day.year, day.month, day.day, tzinfo=_zone(zone))
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
        self, key: str, zone: str, week: _Week, start: datetime, minutes: float
    ) -> datetime:
        """``start`` plus ``minutes`` of working time in these hours, waiting while closed."""
        day = start.astimezone(_zone(zone)).date() - timedelta(days=1)
        remaining = minutes
        for _ in range(40):
            for begin, end, speed in self._windows_on(key, zone, week, day):
                begin = max(begin, start)
                if begin >= end:
                    continue
                capacity = (end - begin).total_seconds() / 60 * speed
                if remaining <= capacity:
                    return _whole(begin + timedelta(minutes=remaining / speed))
                remaining -= capacity
            day += timedelta(days=1)
        return _whole(start + timedelta(minutes=minutes))

    def _team_time(self, conv: _Conv, start: datetime, minutes: float) -> datetime:
        team = self.data.teams[conv.team]
        return self._advance(conv.team, team.zone, team.week, start, minutes)

    def _agent_time(self, conv: _Conv, start: datetime, *, first: bool = False) -> datetime:
        """When the team answers: minutes in chat, hours by e-mail, slower in peak season."""
        rng = self.rng
        if conv.channel == "phone" and first:  # the call itself
            return _whole(start + timedelta(minutes=_lognormal(rng, 6, 0.5)))
        if conv.channel == "chat":
            minutes = _lognormal(rng, 4 if first else 3, 0.9)
        else:
            median = {"web": 190, "api": 220}.get(conv.channel, 150) if first else 110
            minutes = _lognormal(rng, median, 1.0)
        day = start.date()
        if (day.month == 11 and day.day >= 9) or (day.month == 12 and day.day <= 20):
            minutes *= 1.7  # the sales season backlog
        new_year = NEW_YEAR.get(day.year)
        if conv.team == "cn" and new_year and 0 <= (day - new_year).days <= 14:
            minutes *= 1.5  # the backlog after the Spring Festival
        return self._team_time(conv, start, minutes * self.data.teams[conv.team].slowness)

    def _merchant_time(self, conv: _Conv, start: datetime, *, patience: bool = False) -> datetime:
        """When the merchant writes back (with ``patience``: gives up waiting and chases us)."""
        rng = self.rng
        if conv.channel == "chat" and not patience:
            return _whole(start + timedelta(minutes=_lognormal(rng, 3, 0.8)))
        minutes = _lognormal(rng, 1500 if patience else 240, 1.1)
        return self._advance("merchant:" + conv.zone, conv.zone, MERCHANT_WEEK, start, minutes)

    # -- words --

    def _options(
        self, conv: _Conv, section: str, key: str | None, language: str | None = None
    ) -> list[str]:
        """The phrases of the first language in the chain that has any."""
        entry = self.data.phrases[section]
        if key is not None:
            entry = entry[key]
        for lang in _chain(language or conv.merchant.language):
            if entry.get(lang):
                return entry[lang]
        return entry["en"]

    def _say(
        self,
        conv: _Conv,
        section: str,
        key: str | None,
        *,
        language: str | None = None,
        variant: int | None = None,
    ) -> str:
        """A phrase with its placeholders filled; ``variant`` picks the answer to a question."""
        options = self._options(conv, section, key, language)
        if variant is None:
            # People vary their wording: a phrase already used here is taken again only when
            # there is no other.
            index = self.rng.randrange(len(options))
            fresh = [o for o in options[index:] + options[:index] if o not in conv.said]
            template = fresh[0] if fresh else options[index]
        else:
            template = options[variant] if variant < len(options) else options[0]
        conv.said.add(template)
        return template.format_map(conv.values)

    def _merchant_says(self, conv: _Conv, at: datetime, body: str) -> None:
        author = {"type": "merchant", "id": conv.merchant.id}
        conv.messages.append((at, author, body, conv.zone, True))

    def _agent_says(self, conv: _Conv, at: datetime, body: str, *, public: bool = True) -> None:
        conv.values["agent"] = conv.agent.name
        if public and conv.channel in ("email", "web", "api"):  # answered by e-mail
            body += self._say(conv, "agent", "signature")
        author = {"type": "agent", "id": conv.agent.id, "name": conv.agent.name}
        conv.messages.append((at, author, body, self.data.teams[conv.team].zone, public))

    def _note(self, conv: _Conv, at: datetime) -> None:
        """An internal note, in the team's working language."""
        language = self.data.teams[conv.team].note_language
        self._agent_says(conv, at, self._say(conv, "note", None, language=language), public=False)

    def _system_says(self, conv: _Conv, at: datetime, author: _Author, body: str) -> None:
        conv.messages.append((at, author, body, None, True))

    def _status(self, conv: _Conv, at: datetime, status: str, by: str) -> None:
        conv.changes.append((at, status, by))

    # -- conversations --

    def conversation(self, number: int) -> dict[str, Any]:
        rng = self.rng
        if rng.random() < SPAM_RATE:
            sender = rng.choice(self.spammers)
            created = self.start + timedelta(seconds=rng.randrange(DAYS * 86400))
            return self._spam(self._conv(number, sender, created))
        merchant = rng.choices(self.merchants, cum_weights=self.merchant_cum)[0]
        conv = self._conv(number, merchant, self._filing_time(merchant))
        if rng.random() < OUTREACH_RATE:
            return self._outreach(conv)
        return self._filed(conv)

    def _conv(self, number: int, merchant: _Merchant, created: datetime) -> _Conv:
        """A conversation with its merchant as of filing and its placeholder values drawn."""
        rng = self.rng
        country, zone, status = merchant.at(created)
        agent = rng.choice(self.agents[country.team])
        days = rng.randint(2, 12)
        earlier = (created - timedelta(days=rng.randint(4, 25))).date()  # a payout period, a date
        period = (earlier.replace(day=1), earlier.replace(day=15))
        if earlier.day > 15:
            following = (earlier.replace(day=28) + timedelta(days=4)).replace(day=1)
            period = (earlier.replace(day=16), following - timedelta(days=1))
        amount = rng.randint(40, 25000) * (50 if country.currency == "KRW" else 1)
        letters = "ABCDEFGHKLMNPRSTXZ"
        values = {
            "order": str(rng.randint(10**8, 10**9 - 1)),
            "product": str(rng.randint(10**6, 10**7 - 1)),
            "sku": f"{rng.choice(letters)}{rng.choice(letters)}-{rng.randint(1000, 99999)}",
            "amount": f"{amount:,} {country.currency}",
            "days": str(days),
            "due": (created.date() + timedelta(days=days)).isoformat(),
            "n": str(rng.randint(3, 60)),
            "date": earlier.isoformat(),
            "period": f"{period[0].isoformat()} / {period[1].isoformat()}",
            "ref": f"#SD-{number:06d}",
            "tracking": rng.choice(("YT", "LP00", "JJD00", "UA", "1Z"))
            + str(rng.randint(10**11, 10**12 - 1)),
            "invoice": f"INV-{created.year}-{rng.randint(1, 99999):05d}",
            "agent": agent.name,
            "merchant": merchant.name,
        }
        return _Conv(number, merchant, created, country, zone, status, country.team, agent, values)

    def _scenario(self, conv: _Conv) -> str:
        key = (conv.status, conv.team)
        if key not in self._scenario_cum:
            names = [n for n, s in self.data.scenarios.items() if s.weights.get(conv.status)]
            weights = [
                self.data.scenarios[n].weights[conv.status]
                * self.data.scenarios[n].bias.get(conv.team, 1.0)
                for n in names
            ]
            self._scenario_cum[key] = (names, _cumulative(weights))
        names, cum = self._scenario_cum[key]
        return self.rng.choices(names, cum_weights=cum)[0]

    def _tags(self, conv: _Conv, tags: tuple[str, ...], scenario: _Scenario | None) -> list[str]:
        rng = self.rng
        if rng.random() < UNTAGGED_RATE:
            return []
        found = list(tags)
        if scenario is not None:
            extra = scenario.also | scenario.team_also.get(conv.team, {})
            found += [
                tag for tag, chance in extra.items() if rng.random() < chance and tag not in found
            ]
        return found

    def _filed(self, conv: _Conv) -> dict[str, Any]:
        """A conversation the merchant started, from the first message to closing (or the clock)."""
        rng = self.rng
        name = self._scenario(conv)
        scenario = self.data.scenarios[name]
        conv.kind = self._pick(scenario.kinds)
        conv.channel = self._pick(self.data.teams[conv.team].channels)
        if conv.channel == "phone":  # a call gets through only while someone picks up
            picked_up = self._team_time(conv, conv.created, 0)
            if picked_up < self.now:
                conv.created = picked_up
            else:
                conv.channel = "email"
        conv.tags = self._tags(conv, scenario.tags, scenario)
        if conv.channel != "chat" or rng.random() < 0.6:
            conv.subject = self._say(conv, "subject", name)
        t = conv.created
        self._merchant_says(conv, t, self._opener(conv, name, scenario))
        if conv.channel in ("email", "web", "api"):
            autoreply = self._say(conv, "system", "autoreply")
            self._system_says(
                conv, _whole(t + timedelta(seconds=rng.randint(3, 90))), _AUTOREPLY, autoreply
            )
        elif conv.channel == "chat":
            t = self._chat_bot(conv, scenario, t)
        t = self._agent_time(conv, t, first=True)
        self._status(conv, t, "open", conv.agent.id)
        prefix = ""
        if conv.channel == "chat":
            prefix = self._say(conv, "agent", "greeting")
        elif conv.channel == "phone":
            prefix = self._say(conv, "agent", "phone_summary")
        quick = rng.random() < QUICK[conv.kind]
        rounds = 0 if quick else rng.choices((1, 2, 3, 4), (56, 27, 11, 6))[0]
        for index in range(rounds):
            move = rng.choices(("ask", "hold", "nudge"), (50, 25, 25))[0]
            if index == 0 and move != "ask":  # the first answer only acknowledges
                self._agent_says(conv, t, prefix + self._say(conv, "agent", "ack"))
            if move == "ask":  # waiting on the merchant: pending
                variant = rng.randrange(len(self._options(conv, "agent", "ask_info")))
                ask = self._say(conv, "agent", "ask_info", variant=variant)
                self._agent_says(conv, t, prefix + ask)
                self._status(conv, t, "pending", conv.agent.id)
                if rng.random() < NO_REPLY_RATE:
                    self._abandoned(conv, t)
                    return conv.build(self.now)
                t = self._merchant_time(conv, t)
                info = self._say(conv, "merchant_generic", "info", variant=variant)
                self._merchant_says(conv, t, info)
                self._status(conv, t, "open", "merchant")
            elif move == "hold":  # waiting on another team: on hold, with internal notes
                t = _whole(t + timedelta(seconds=rng.randint(60, 900)))
                self._note(conv, t)
                self._status(conv, t, "on_hold", conv.agent.id)
                t = self._team_time(conv, t, _lognormal(rng, 600, 0.8))
                if rng.random() < 0.15:  # handed over to a colleague
                    conv.agent = rng.choice(self.agents[conv.team])
                if rng.random() < 0.5:
                    self._note(conv, t)
                self._agent_says(conv, t, self._say(conv, "agent", "update"))
                self._status(conv, t, "open", conv.agent.id)
            else:  # the merchant chases an answer
                t = self._merchant_time(conv, t, patience=True)
                self._merchant_says(conv, t, self._say(conv, "merchant_generic", "followup"))
            prefix = ""
            t = self._agent_time(conv, t)
        t = self._settle(conv, name, scenario, t, prefix)
        self._after_solve(conv, t)
        return conv.build(self.now)

    def _opener(self, conv: _Conv, name: str, scenario: _Scenario) -> str:
        """The merchant's first message; English ones sometimes come from the Bitext set."""
        rng = self.rng
        merchant_phrases = self.data.phrases["merchant"][name]
        english = not any(lang in merchant_phrases for lang in _chain(conv.merchant.language)[:-1])
        if english and scenario.bitext and rng.random() < 0.4:
            text = rng.choice(self.data.bitext[rng.choice(scenario.bitext)]["instructions"])
        else:
            text = self._say(conv, "merchant", name)
        if conv.kind == "complaint" and rng.random() < 0.6:
            if english and rng.random() < 0.3:
                lodge = rng.choice(self.data.bitext["complaint"]["instructions"])
                return f"{lodge[0].upper()}{lodge[1:]}. {text}"
            return self._say(conv, "merchant_generic", "complaint_prefix") + text
        return text

    def _chat_bot(self, conv: _Conv, scenario: _Scenario, t: datetime) -> datetime:
        """The chat bot answers first; many merchants insist on a person."""
        rng = self.rng
        english = _chain(conv.merchant.language)[0] == "en"
        roll = rng.random()
        if english and scenario.bitext and roll < 0.6:
            answer = self.data.bitext[rng.choice(scenario.bitext)]["response"]
        elif roll < 0.35:
            answer = self._say(conv, "system", "bot_greeting")
        else:
            return t
        self._system_says(conv, _whole(t + timedelta(seconds=rng.randint(1, 6))), _CHATBOT, answer)
        if rng.random() < 0.6:
            t = _whole(t + timedelta(seconds=rng.randint(20, 180)))
            if english:
                insist = rng.choice(self.data.bitext["contact_human_agent"]["instructions"])
            else:
                insist = self._say(conv, "merchant_generic", "human_please")
            self._merchant_says(conv, t, insist)
        return t

    def _settle(
        self, conv: _Conv, name: str, scenario: _Scenario, t: datetime, prefix: str
    ) -> datetime:
        """The answer that solves it; a complaint gets its decision here."""
        rng = self.rng
        if conv.kind == "complaint":
            outcome = self._pick(scenario.outcomes)
            if outcome == "withdrawn":
                t = self._merchant_time(conv, t)
                self._merchant_says(conv, t, self._say(conv, "merchant_generic", "withdraw"))
                t = self._agent_time(conv, t)
                self._agent_says(conv, t, prefix + self._say(conv, "agent", "withdrawn_ack"))
            else:
                self._agent_says(conv, t, prefix + self._say(conv, "agent", f"outcome_{outcome}"))
            conv.outcome = None if rng.random() < UNDECIDED_RATE else outcome
            conv.decided_at = t
        elif conv.kind == "proposal":
            self._agent_says(conv, t, prefix + self._say(conv, "agent", "proposal_ack"))
        elif name in self.data.phrases["resolve"]:
            self._agent_says(conv, t, prefix + self._say(conv, "resolve", name))
        else:
            self._agent_says(conv, t, prefix + self._say(conv, "agent", "solved"))
        self._status(conv, t, "solved", conv.agent.id)
        return t

    def _after_solve(self, conv: _Conv, t: datetime) -> None:
        """Thanks, a reopening now and then (solved, open, solved), and the automatic close."""
        rng = self.rng
        if rng.random() < REOPEN_RATE + (0.05 if conv.kind == "complaint" else 0.0):
            t = _whole(t + timedelta(minutes=_lognormal(rng, 1200, 1.0)))
            self._merchant_says(conv, t, self._say(conv, "merchant_generic", "reopen"))
            self._status(conv, t, "open", "merchant")
            t = self._agent_time(conv, t)
            self._agent_says(conv, t, self._say(conv, "agent", "reopen_ack"))
            t = self._team_time(conv, t, _lognormal(rng, 300, 1.0))
            self._agent_says(conv, t, self._say(conv, "agent", "solved"))
            self._status(conv, t, "solved", conv.agent.id)
        elif conv.channel != "phone" and rng.random() < 0.25:
            thanks = self._say(conv, "merchant_generic", "thanks")
            self._merchant_says(conv, self._merchant_time(conv, t), thanks)
        if rng.random() < CLOSE_RATE:
            closing = t + timedelta(days=4, seconds=rng.randint(0, 6 * 3600))
            self._status(conv, _whole(closing), "closed", "automation")

    def _abandoned(self, conv: _Conv, t: datetime) -> None:
        """No answer from the merchant: a reminder, then the automation solves and closes it."""
        t = _whole(t + timedelta(days=3, seconds=self.rng.randint(0, 3600)))
        self._system_says(conv, t, _AUTOMATION, self._say(conv, "system", "reminder"))
        t += timedelta(days=4)
        self._system_says(conv, t, _AUTOMATION, self._say(conv, "system", "autoclose"))
        self._status(conv, t, "solved", "automation")
        if conv.kind == "complaint" and self.rng.random() < 0.5:
            conv.outcome, conv.decided_at = "withdrawn", t
        self._status(conv, t + timedelta(days=4), "closed", "automation")

    def _outreach(self, conv: _Conv) -> dict[str, Any]:
        """The desk writes first (initiated_by support), then waits on the merchant."""
        rng = self.rng
        key = self._pick(
            {
                k: o.weights[conv.status]
                for k, o in self.data.outreach.items()
                if o.weights.get(conv.status)
            }
        )
        outreach = self.data.outreach[key]
        conv.outreach = True
        conv.kind = outreach.kind
        conv.tags = self._tags(conv, outreach.tags, None)
        conv.channel = rng.choices(("email", "phone", "chat"), (80, 15, 5))[0]
        written = self._team_time(conv, conv.created, 0)  # during the team's hours
        if written < self.now:
            conv.created = written
        t = conv.created
        conv.subject = self._say(conv, "outreach_subject", key)
        prefix = self._say(conv, "agent", "phone_summary") if conv.channel == "phone" else ""
        self._agent_says(conv, t, prefix + self._say(conv, "outreach", key))
        self._status(conv, t, "pending", conv.agent.id)
        if rng.random() < OUTREACH_NO_REPLY_RATE:
            self._abandoned(conv, t)
            return conv.build(self.now)
        t = self._merchant_time(conv, t)
        self._merchant_says(conv, t, self._say(conv, "outreach_reply", key))
        self._status(conv, t, "open", "merchant")
        t = self._agent_time(conv, t)
        self._agent_says(conv, t, self._say(conv, "agent", "solved"))
        self._status(conv, t, "solved", conv.agent.id)
        if rng.random() < CLOSE_RATE:
            self._status(conv, t + timedelta(days=4), "closed", "automation")
        return conv.build(self.now)

    def _spam(self, conv: _Conv) -> dict[str, Any]:
        """Spam through the web form or e-mail: kept, marked, closed without an answer."""
        rng = self.rng
        conv.spam = True
        conv.channel = rng.choices(("email", "web"), (75, 25))[0]
        body = self._say(conv, "spam", None)
        conv.subject = body.split("!")[0].split(".")[0][:80]
        t = conv.created
        self._merchant_says(conv, t, body)
        if conv.channel == "email" and rng.random() < 0.6:
            autoreply = self._say(conv, "system", "autoreply")
            self._system_says(
                conv, _whole(t + timedelta(seconds=rng.randint(3, 60))), _AUTOREPLY, autoreply
            )
        t = self._agent_time(conv, t, first=True)
        self._status(conv, t, "closed" if rng.random() < 0.85 else "solved", conv.agent.id)
        return conv.build(self.now)
