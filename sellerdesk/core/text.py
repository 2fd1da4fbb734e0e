"""Text rules shared by the domain: tag-name normalization and NUL detection."""

from __future__ import annotations

import re
import unicodedata

from sellerdesk.core.errors import ValidationError

_WHITESPACE_RUN = re.compile(r"\s+")
_SURROGATE = re.compile("[\ud800-\udfff]")


def text_problem(value: str) -> str | None:
    """Why a text cannot be stored, or None: text may be any Unicode except NUL (U+0000).

    A lone surrogate (a valid JSON escape such as ``\\ud800``) is no Unicode text either: it
    cannot be written as UTF-8, so no database would take it.
    """
    if "\x00" in value:
        return "contains a NUL character (U+0000)"
    if _SURROGATE.search(value):
        return "contains a lone surrogate, which is not Unicode text"
    return None


def normalize_tag(name: str) -> str:
    """NFKC, trim, collapse inner white space to one space, case-fold (interchange.md)."""
    text = unicodedata.normalize("NFKC", name).strip()
    return _WHITESPACE_RUN.sub(" ", text).casefold()


def display_tag(name: str) -> str:
    """The name as a person typed it, tidied of surrounding and repeated white space."""
    return _WHITESPACE_RUN.sub(" ", name.strip())


_ID = re.compile(r"[0-9]{1,18}")


def parse_id(value: object) -> int | None:
    """A row id typed or sent by a person: ASCII digits that fit a 64-bit key, else None.

    ``str.isdigit`` would take "²" and Arabic-Indic digits, and ``int`` numbers no database
    key holds; both would reach the database and fail there.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        return value if 0 <= value < 2**63 else None
    if isinstance(value, str) and _ID.fullmatch(value):
        return int(value)
    return None


def clean_text(value: str, what: str, *, required: bool = True, limit: int | None = None) -> str:
    """``value`` stripped, or a ValidationError naming ``what``: empty when required, a text
    that cannot be stored (``text_problem``), or longer than ``limit`` characters."""
    text = value.strip()
    if required and not text:
        raise ValidationError(f"{what} is empty")
    problem = text_problem(text)
    if problem:
        raise ValidationError(f"{what} {problem}")
    if limit is not None and len(text) > limit:
        raise ValidationError(f"{what} holds at most {limit} characters")
    return text
