"""Demo data: a realistic, multilingual year of merchant support, in the interchange format.

``demo_generate`` yields interchange objects (spec: interchange.md) for the year that ends at
00:00 UTC on ``today``; ``demo_load`` writes them through ``conversations_import``, the service
a migration uses, so the demo also exercises the real import path and its stored facts.
Deterministic: one ``random.Random(seed)`` and a clock fixed to ``today``, so the same seed on
the same day gives the same lines. Ids start with ``demo-``: loading again replaces them.

The package, by topic: ``world`` (the data files in ``data/``, read into dataclasses),
``people`` (merchants and agents), ``clock`` (busy days, working hours, delays), ``chance``
(weighted draws), ``conversation`` (one conversation and its interchange object),
``generator`` (the conversation flows), ``load`` (writing through the importer) and
``logins`` (the demo's admin, agent and merchant user, teams and macros).
"""

from __future__ import annotations

from sellerdesk.conversations.demo.generator import demo_generate
from sellerdesk.conversations.demo.load import (
    DEFAULT_CONVERSATIONS,
    DEFAULT_SEED,
    DemoError,
    DemoResult,
    demo_conversations_stored,
    demo_load,
)
from sellerdesk.conversations.demo.logins import (
    DEVELOPMENT_PASSWORD,
    STAFF_LOGIN,
    demo_logins,
    demo_staff_login_exists,
)
from sellerdesk.conversations.demo.world import ID_PREFIX

__all__ = [
    "DEFAULT_CONVERSATIONS",
    "DEFAULT_SEED",
    "DEVELOPMENT_PASSWORD",
    "ID_PREFIX",
    "STAFF_LOGIN",
    "DemoError",
    "DemoResult",
    "demo_conversations_stored",
    "demo_generate",
    "demo_load",
    "demo_logins",
    "demo_staff_login_exists",
]
