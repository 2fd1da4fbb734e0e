"""Days as a merchant reads them: the calendar day where the merchant is, in words.

Merchants have no time zone of their own, only a country. A country can span several zones
(the United States, Russia, China's Xinjiang Time): the day shown is the earliest that any of
them has at that moment, so no merchant is ever told a later day than a deadline really falls
on. Without the system's zone table (``zone.tab``), or for an unknown country, the site's zone
(``TIME_ZONE``) is used.
"""

from __future__ import annotations

import zoneinfo
from datetime import date, datetime
from functools import cache
from pathlib import Path

from django.utils import timezone

from sellerdesk.core.i18n import date_words


@cache
def _zones_by_country() -> dict[str, tuple[zoneinfo.ZoneInfo, ...]]:
    for root in zoneinfo.TZPATH:
        try:
            text = (Path(root) / "zone.tab").read_text(encoding="utf-8")
        except OSError:
            continue
        zones: dict[str, list[zoneinfo.ZoneInfo]] = {}
        for line in text.splitlines():
            fields = line.split("\t")
            if line.startswith("#") or len(fields) < 3:
                continue
            try:
                zones.setdefault(fields[0], []).append(zoneinfo.ZoneInfo(fields[2]))
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                continue
        return {country: tuple(found) for country, found in zones.items()}
    return {}


def merchant_day(moment: datetime, country: str) -> date:
    """The calendar day ``moment`` falls on for a merchant in ``country`` (ISO 3166 code)."""
    zones = _zones_by_country().get((country or "").upper(), ())
    if not zones:
        return timezone.localtime(moment).date()
    return min(moment.astimezone(zone).date() for zone in zones)


def day_in_words(day: date, *, today: date) -> str:
    """``3 December``; ``3 December 2026`` when the day is not in ``today``'s year (in the
    active language: ``12月3日``, ``3 декабря``...)."""
    return date_words(day, year=day.year != today.year)


def merchant_day_in_words(moment: datetime, country: str) -> str:
    """The day of ``moment`` where the merchant is, in words (the year only if not this year)."""
    return day_in_words(merchant_day(moment, country), today=merchant_day(timezone.now(), country))
