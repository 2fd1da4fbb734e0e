"""CSV for people who open it in a spreadsheet: every CSV sellerdesk writes goes through
``csv_writer`` so that no cell can run as a formula (CSV injection, OWASP).

A cell whose text starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is
taken by Excel, LibreOffice and Google Sheets as a formula (``=HYPERLINK(...)``,
``@SUM(...)``, ``-2+3+cmd|...``): such text gets a leading apostrophe, which spreadsheets
show as text and do not evaluate. Numbers stay numbers, negative ones included: a Python
int or float, or text that is a plain decimal number (``-4860``, ``-1.5e3``), is written as
it is.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from typing import Any, Protocol

#: What a spreadsheet reads as the start of a formula (OWASP's list).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def safe_cell(value: Any) -> Any:
    """The value as a CSV cell that a spreadsheet shows and never evaluates."""
    if value is None or isinstance(value, int | float):  # bool is an int
        return value
    text = str(value)
    if text.startswith(FORMULA_STARTS) and not _NUMBER.fullmatch(text):
        return "'" + text
    return text


class _Writes(Protocol):
    def write(self, text: str, /) -> Any: ...


class SafeWriter:
    """``csv.writer`` whose every cell has gone through ``safe_cell``."""

    def __init__(self, stream: _Writes, **options: Any) -> None:
        self._writer = csv.writer(stream, **options)

    def writerow(self, row: Iterable[Any]) -> Any:
        return self._writer.writerow([safe_cell(value) for value in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def csv_writer(stream: _Writes, **options: Any) -> SafeWriter:
    """The one way sellerdesk writes CSV (``options`` as ``csv.writer``'s)."""
    return SafeWriter(stream, **options)
