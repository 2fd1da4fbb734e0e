"""Report configuration (docs/report.md, "Inputs"): parsing and validation.

A configuration that breaks a rule is refused with ``ReportConfigError`` naming the problem;
nothing is computed.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sellerdesk.core.countries import COUNTRY_NAMES, EU_MEMBERS
from sellerdesk.core.text import normalize_tag
from sellerdesk.core.timeutil import TimestampError, parse_instant

DEFAULT_TOP = 10
ALL_MERCHANTS = "All merchants"


class ReportConfigError(ValueError):
    """A report configuration that breaks a rule of report.md."""


@dataclass(frozen=True)
class Segment:
    name: str
    #: The entries as written (upper-cased), for people: ``EU``, ``TR``, ``*``.
    entries: tuple[str, ...]
    #: The assigned country codes the entries stand for.
    countries: frozenset[str]

    @property
    def everything(self) -> bool:
        return "*" in self.entries


@dataclass(frozen=True)
class Topic:
    name: str
    #: Each set holds normalized tag names; a conversation matches when it carries a whole set.
    any: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class ReportConfig:
    timezone: str = "UTC"
    top: int = DEFAULT_TOP
    segments: tuple[Segment, ...] = field(
        default_factory=lambda: (Segment(ALL_MERCHANTS, ("*",), frozenset(COUNTRY_NAMES)),)
    )
    topics: tuple[Topic, ...] = ()

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass(frozen=True)
class ReportParams:
    config: ReportConfig
    start: datetime
    end: datetime
    as_of: datetime
    #: Measure durations in business hours: ``team`` or a calendar's name (``reports.business``).
    business_hours: str | None = None


_TOP_KEYS = {"timezone", "top", "segment", "topic"}


def load_config(path: str | Path) -> ReportConfig:
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except OSError as exc:
        raise ReportConfigError(f"cannot read {path}: {exc.strerror}") from None
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        raise ReportConfigError(f"{path} is not valid TOML: it is not UTF-8") from None
    return parse_config(toml_data(text, str(path)))


def toml_data(text: str, what: str) -> dict[str, Any]:
    """TOML text read, or a ReportConfigError saying why ``what`` is not valid TOML."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ReportConfigError(f"{what} is not valid TOML: {exc}") from None
    except ValueError:  # an integer of more digits than Python reads (4300)
        raise ReportConfigError(
            f"{what} is not valid TOML: it holds a number too long to read"
        ) from None


def parse_config(data: dict[str, Any]) -> ReportConfig:
    if not isinstance(data, dict):
        raise ReportConfigError(
            "the configuration must be a table of settings (timezone, top, ...)"
        )
    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        raise ReportConfigError(
            f"unknown setting {unknown[0]!r} (known: timezone, top, [[segment]], [[topic]])"
        )
    timezone = data.get("timezone", "UTC")
    if not isinstance(timezone, str) or not timezone:
        raise ReportConfigError("timezone must be an IANA time zone name such as 'Europe/Berlin'")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ReportConfigError(f"timezone {timezone!r} is not an IANA time zone") from None
    top = data.get("top", DEFAULT_TOP)
    if not isinstance(top, int) or isinstance(top, bool) or top < 1:
        raise ReportConfigError(f"top must be a whole number of at least 1, not {top!r}")
    config = ReportConfig(timezone=timezone, top=top)
    segments = _segments(data["segment"]) if "segment" in data else config.segments
    topics = _topics(data["topic"]) if "topic" in data else ()
    return ReportConfig(timezone=timezone, top=top, segments=segments, topics=topics)


def _tables(value: Any, what: str) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ReportConfigError(f"{what} must be written as [[{what}]] tables")
    return value


def _name(item: dict[str, Any], what: str, index: int) -> str:
    name = item.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ReportConfigError(f"{what} {index + 1} needs a non-empty name")
    return name


def _segments(value: Any) -> tuple[Segment, ...]:
    tables = _tables(value, "segment")
    if not tables:
        raise ReportConfigError("at least one [[segment]] is needed when segments are given")
    segments: list[Segment] = []
    seen: set[str] = set()
    for index, item in enumerate(tables):
        name = _name(item, "segment", index)
        extra = sorted(set(item) - {"name", "countries"})
        if extra:
            raise ReportConfigError(f"segment {name!r}: unknown setting {extra[0]!r}")
        if name in seen:
            raise ReportConfigError(f"segment name {name!r} is used twice")
        seen.add(name)
        entries = item.get("countries")
        if not isinstance(entries, list) or not entries:
            raise ReportConfigError(f"segment {name!r} needs a non-empty list of countries")
        codes: set[str] = set()
        written: list[str] = []
        for entry in entries:
            if not isinstance(entry, str):
                raise ReportConfigError(f"segment {name!r}: {entry!r} is not a country code")
            code = entry.strip().upper()
            if code == "*":
                codes.update(COUNTRY_NAMES)
            elif code == "EU":
                codes.update(EU_MEMBERS)
            elif code in COUNTRY_NAMES:
                codes.add(code)
            else:
                raise ReportConfigError(
                    f"segment {name!r}: {entry!r} is not an ISO 3166-1 alpha-2 code, 'EU' or '*'"
                )
            if code not in written:
                written.append(code)
        segments.append(Segment(name, tuple(written), frozenset(codes)))
    return tuple(segments)


def _topics(value: Any) -> tuple[Topic, ...]:
    topics: list[Topic] = []
    for index, item in enumerate(_tables(value, "topic")):
        name = _name(item, "topic", index)
        extra = sorted(set(item) - {"name", "any"})
        if extra:
            raise ReportConfigError(f"topic {name!r}: unknown setting {extra[0]!r}")
        sets = item.get("any")
        if not isinstance(sets, list) or not sets:
            raise ReportConfigError(f"topic {name!r} needs 'any', a non-empty list of tag sets")
        parsed: list[tuple[str, ...]] = []
        for tag_set in sets:
            if not isinstance(tag_set, list) or not tag_set:
                raise ReportConfigError(
                    f"topic {name!r}: each entry of 'any' must be a non-empty list of tag names"
                )
            names: list[str] = []
            for tag in tag_set:
                if not isinstance(tag, str) or not normalize_tag(tag):
                    raise ReportConfigError(f"topic {name!r}: {tag!r} is not a tag name")
                normalized = normalize_tag(tag)
                if normalized not in names:
                    names.append(normalized)
            parsed.append(tuple(names))
        topics.append(Topic(name, tuple(parsed)))
    return tuple(topics)


def build_params(
    config: ReportConfig,
    start: str,
    end: str,
    as_of: str | None = None,
    business_hours: str | None = None,
) -> ReportParams:
    """Resolve the period and as_of in the report's time zone."""
    zone = config.zone
    try:
        start_at = parse_instant(start, zone)
    except TimestampError as exc:
        raise ReportConfigError(f"period start: {exc}") from None
    try:
        end_at = parse_instant(end, zone)
    except TimestampError as exc:
        raise ReportConfigError(f"period end: {exc}") from None
    if end_at <= start_at:
        raise ReportConfigError("the period's end must be after its start")
    if as_of is None:
        as_of_at = datetime.now(UTC).replace(microsecond=0)
    else:
        try:
            as_of_at = parse_instant(as_of, zone)
        except TimestampError as exc:
            raise ReportConfigError(f"as_of: {exc}") from None
    for name, instant in (("period start", start_at), ("period end", end_at), ("as_of", as_of_at)):
        try:
            instant.astimezone(zone)  # the report writes each in its zone
        except OverflowError:
            raise ReportConfigError(
                f"{name}: outside the years 1 to 9999 in the report's time zone ({zone.key})"
            ) from None
    if business_hours is not None and not business_hours.strip():
        raise ReportConfigError("business_hours: give 'team' or the name of a business calendar")
    return ReportParams(
        config=config,
        start=start_at,
        end=end_at,
        as_of=as_of_at,
        business_hours=business_hours.strip() if business_hours is not None else None,
    )
