"""The demo's world: the year it covers, its ids, and the data files read into dataclasses.

The files live in ``data/`` beside this module: ``world.toml`` (countries, support teams and
their hours, what merchants write about), ``phrases.toml`` (hand-written seller-support phrases
in 13 languages), ``names.toml`` (invented merchant and agent names in their scripts) and
``bitext_en.toml`` (English utterances from the Bitext customer-service dataset,
CDLA-Sharing-1.0; its credit and licence are in that file).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

ID_PREFIX = "demo-"
DATA_DIR = Path(__file__).resolve().parent / "data"
DAYS = 365
#: How complaints end, unless a scenario says otherwise (weights).
OUTCOMES = {"upheld": 28, "partially_upheld": 17, "rejected": 32, "withdrawn": 8, "no_action": 15}

Window = tuple[float, float, float]  # local start hour, end hour, speed (1 = fully staffed)
Week = tuple[tuple[Window, ...], ...]  # Monday .. Sunday


@dataclass(frozen=True, slots=True)
class Country:
    code: str
    weight: float
    team: str
    currency: str
    zones: tuple[str, ...]
    languages: dict[str, float]


@dataclass(frozen=True, slots=True)
class Team:
    zone: str
    note_language: str
    week: Week
    slowness: float  # multiplies every working delay
    channels: dict[str, float]
    holidays: tuple[tuple[int, int], ...]  # (month, day), every year


@dataclass(frozen=True, slots=True)
class Scenario:
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
class Outreach:
    kind: str
    tags: tuple[str, ...]
    weights: dict[str, float]


@dataclass(frozen=True, slots=True)
class World:
    phrases: dict[str, Any]
    names: dict[str, Any]
    bitext: dict[str, Any]
    countries: dict[str, Country]
    teams: dict[str, Team]
    scenarios: dict[str, Scenario]
    outreach: dict[str, Outreach]
    moves: tuple[tuple[str, str], ...]
    spam_senders: tuple[tuple[str, str, str], ...]


@cache
def world_load() -> World:
    """The data files, read once per process."""

    def load(name: str) -> dict[str, Any]:
        return tomllib.loads((DATA_DIR / name).read_text(encoding="utf-8"))

    world = load("world.toml")

    def windows(items: list[list[float]]) -> tuple[Window, ...]:
        return tuple((float(a), float(b), float(c)) for a, b, c in items)

    teams = {
        key: Team(
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
        key: Scenario(
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
    return World(
        phrases=load("phrases.toml"),
        names=load("names.toml"),
        bitext=load("bitext_en.toml"),
        countries={
            code: Country(
                code, c["weight"], c["team"], c["currency"], tuple(c["zones"]), c["languages"]
            )
            for code, c in world["countries"].items()
        },
        teams=teams,
        scenarios=scenarios,
        outreach={
            key: Outreach(o["kind"], tuple(o["tags"]), o["weights"])
            for key, o in world["outreach"].items()
        },
        moves=tuple((old, new) for old, new in world["moves"]),
        spam_senders=tuple((name, code, lang) for name, code, lang in world["spam_senders"]),
    )


@cache
def zone_info(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except ZoneInfoNotFoundError:
        if name == "Europe/Kyiv":  # tzdata before 2022b knows only the old spelling
            return ZoneInfo("Europe/Kiev")
        raise
