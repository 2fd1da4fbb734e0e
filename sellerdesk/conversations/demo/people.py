"""The people in the demo: merchants (who join, move, get suspended or close) and agents.

Merchants are drawn once per generator run, before any conversation, from its ``Random``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from sellerdesk.conversations.demo.chance import cumulative, lognormal, pick
from sellerdesk.conversations.demo.world import DAYS, ID_PREFIX, Country, World


@dataclass(slots=True)
class Merchant:
    id: str
    name: str
    language: str
    since: datetime
    until: datetime
    #: (from, country, time zone) and (from, status), in time order; the first holds from ever.
    countries: list[tuple[datetime, Country, str]]
    statuses: list[tuple[datetime, str]]
    activity: float = 1.0

    def at(self, moment: datetime) -> tuple[Country, str, str]:
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
class Agent:
    id: str
    name: str


class _Picker:
    """A ``str.format_map`` source that picks a random entry of the named list."""

    def __init__(self, rng: random.Random, lists: dict[str, list[str]]) -> None:
        self.rng = rng
        self.lists = lists

    def __getitem__(self, key: str) -> str:
        return self.rng.choice(self.lists[key])


def agents_by_team(world: World) -> dict[str, list[Agent]]:
    return {
        key: [Agent(f"{ID_PREFIX}a-{key}-{i:02d}", name) for i, name in enumerate(names, 1)]
        for key, names in world.names["agents"].items()
    }


def merchant_new(
    rng: random.Random,
    *,
    id: str,
    name: str,
    country: Country,
    language: str,
    status: str,
    start: datetime,
    now: datetime,
) -> Merchant:
    """A merchant of ``country`` with ``status`` since long before the year that ``start``s."""
    zone = rng.choice(country.zones)
    ever = start - timedelta(days=DAYS)
    return Merchant(id, name, language, ever, now, [(ever, country, zone)], [(ever, status)])


def merchants_draw(
    rng: random.Random, world: World, *, count: int, start: datetime, now: datetime
) -> list[Merchant]:
    """``count`` merchants: most active all year, some applying, joining, leaving or moving."""
    countries = list(world.countries.values())
    country_cum = cumulative([c.weight for c in countries])
    day = timedelta(days=1)
    used: set[str] = set()
    merchants: list[Merchant] = []
    for index in range(1, count + 1):
        country = rng.choices(countries, cum_weights=country_cum)[0]
        merchant = merchant_new(
            rng,
            id=f"{ID_PREFIX}m-{index:05d}",
            name=_name(rng, world, country.code, used),
            country=country,
            language=pick(rng, country.languages),
            status="active",
            start=start,
            now=now,
        )
        merchant.activity = lognormal(rng, 1.0, 1.0)  # a few big sellers, many small
        life = rng.random()
        if life < 0.10:  # an applicant; most are approved some weeks later
            merchant.since = start + day * rng.randint(0, DAYS - 20)
            merchant.statuses = [(merchant.since, "potential")]
            if rng.random() < 0.6:
                merchant.statuses.append((merchant.since + day * rng.randint(7, 60), "active"))
            merchant.activity *= 0.6
        elif life < 0.125:  # suspended during the year, for good
            merchant.statuses.append((start + day * rng.randint(100, DAYS - 15), "suspended"))
        elif life < 0.135:  # closed the shop; a few last questions after that
            closing = start + day * rng.randint(90, DAYS - 40)
            merchant.statuses.append((closing, "closed"))
            merchant.until = closing + day * 45
        elif life < 0.28:  # joined during the year
            merchant.since = start + day * rng.randint(0, DAYS - 30)
        span = (min(merchant.until, now) - max(merchant.since, start)).days
        merchant.activity *= max(span, 1) / DAYS
        merchants.append(merchant)
    moves = world.moves
    movers = [m for m in merchants if any(m.countries[0][1].code == old for old, _ in moves)]
    for merchant in rng.sample(movers, min(len(movers), max(1, count // 60))):
        old = merchant.countries[0][1].code
        new = world.countries[rng.choice([n for o, n in moves if o == old])]
        moved = start + day * rng.randint(DAYS // 5, DAYS * 4 // 5)
        merchant.countries.append((moved, new, rng.choice(new.zones)))
        merchant.activity = max(merchant.activity, 1.0) * 2  # busy enough to show both sides
    return merchants


def spammers_draw(
    rng: random.Random, world: World, *, start: datetime, now: datetime
) -> list[Merchant]:
    """The senders of spam, as would-be merchants (status potential)."""
    return [
        merchant_new(
            rng,
            id=f"{ID_PREFIX}s-{i:02d}",
            name=name,
            country=world.countries[code],
            language=lang,
            status="potential",
            start=start,
            now=now,
        )
        for i, (name, code, lang) in enumerate(world.spam_senders, 1)
    ]


def _name(rng: random.Random, world: World, code: str, used: set[str]) -> str:
    """A merchant name of the country ``code``, not in ``used`` if ten tries find one."""
    spec = world.names["merchants"][code]
    name = ""
    for _ in range(10):
        name = rng.choice(spec["patterns"]).format_map(_Picker(rng, spec))
        if name not in used:
            break
    used.add(name)
    return name
