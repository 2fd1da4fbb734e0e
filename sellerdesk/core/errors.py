"""Error types shared by the services and their callers."""

from __future__ import annotations


class ValidationError(ValueError):
    """Input a service refuses; the message is safe to show to the person who sent it."""
