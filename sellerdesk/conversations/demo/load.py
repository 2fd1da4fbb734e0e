"""Writing the demo year into the database through the importer, the path a migration takes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

from sellerdesk.conversations.demo.generator import demo_generate
from sellerdesk.conversations.importer import conversations_import
from sellerdesk.conversations.models import Conversation

DEFAULT_SEED = 1
DEFAULT_CONVERSATIONS = 5000


@dataclass(frozen=True, slots=True)
class DemoResult:
    merchants: int
    conversations: int


class DemoError(RuntimeError):
    """The importer refused a generated line: a bug in the generator, never bad input."""


def demo_load(
    *,
    today: date,
    seed: int = DEFAULT_SEED,
    conversations: int = DEFAULT_CONVERSATIONS,
    batch_size: int | None = None,
) -> DemoResult:
    """Generate the demo year and write it through the importer; returns what was written."""
    merchants: set[str] = set()

    def lines() -> Iterator[tuple[int, bytes]]:
        objects = demo_generate(seed=seed, conversations=conversations, today=today)
        for number, obj in enumerate(objects, start=1):
            merchants.add(obj["merchant"]["id"])
            yield number, json.dumps(obj, ensure_ascii=False).encode()

    result = conversations_import(lines(), batch_size=batch_size)
    if result.rejected:
        first = result.rejected[0]
        raise DemoError(
            f"{len(result.rejected)} demo lines were rejected; line {first.line}: {first.reason}"
        )
    return DemoResult(merchants=len(merchants), conversations=result.imported)


def demo_conversations_stored() -> int:
    """How many conversations the database holds, demo or not (for ``--if-empty``)."""
    return Conversation.objects.count()
