"""Opaque page cursors: a short JSON list, URL-safe base64 without padding."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any


def cursor_pack(values: list[Any]) -> str:
    raw = json.dumps(values).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def cursor_unpack(cursor: str) -> list[Any]:
    """The list a cursor carries; ValueError for anything ``cursor_pack`` did not make."""
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ValueError("not a cursor") from None
    if not isinstance(values, list):
        raise ValueError("not a cursor")
    return values
