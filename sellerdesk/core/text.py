"""Text rules shared by the domain: tag-name normalization and NUL detection."""

from __future__ import annotations

import re
import unicodedata

_WHITESPACE_RUN = re.compile(r"\s+")


def normalize_tag(name: str) -> str:
    """NFKC, trim, collapse inner white space to one space, case-fold (interchange.md)."""
    text = unicodedata.normalize("NFKC", name).strip()
    return _WHITESPACE_RUN.sub(" ", text).casefold()


def display_tag(name: str) -> str:
    """The name as a person typed it, tidied of surrounding and repeated white space."""
    return _WHITESPACE_RUN.sub(" ", name.strip())
