"""Builders for interchange lines and small reports, shared by the test modules.

``conversation()`` returns a valid interchange object (interchange.md) that a test tweaks;
``import_objects()`` runs the importer service over such objects; ``report()`` computes a
report over whatever is stored and returns its JSON form.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

#: The moment every hand-written conversation is filed at unless a test says otherwise.
T0 = datetime(2022, 3, 1, 9, 0, tzinfo=UTC)
#: A report period and as_of that hold every conversation built around T0.
PERIOD = ("2022-01-01", "2023-01-01")
LATER = "2030-01-01T00:00:00+00:00"


def ts(seconds: float = 0, *, minutes: float = 0, hours: float = 0, days: float = 0) -> str:
    """T0 plus an offset, as an RFC 3339 timestamp."""
    moment = T0 + timedelta(seconds=seconds, minutes=minutes, hours=hours, days=days)
    return moment.isoformat()


def at(seconds: float = 0, *, minutes: float = 0, hours: float = 0, days: float = 0) -> datetime:
    """T0 plus an offset, as an aware datetime."""
    return T0 + timedelta(seconds=seconds, minutes=minutes, hours=hours, days=days)


def merchant(merchant_id: str = "m-1", *, country: str = "TR", **fields: Any) -> dict[str, Any]:
    return {"id": merchant_id, "name": "Anka Tekstil", "country": country, **fields}


def message(
    message_id: str,
    *,
    author: str = "agent",
    created_at: str | None = None,
    public: bool | None = True,
    body: str = "Done.",
    **fields: Any,
) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": message_id,
        "author": {"type": author, "id": f"{author}-1"},
        "body": body,
        "created_at": created_at or ts(),
        **fields,
    }
    if public is not None:
        item["public"] = public
    return item


def status(value: str, at_: str, **fields: Any) -> dict[str, Any]:
    return {"status": value, "at": at_, **fields}


def conversation(
    conversation_id: str = "c-1",
    *,
    merchant_id: str = "m-1",
    country: str = "TR",
    created_at: str | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """A valid interchange object: a merchant's question, one merchant message, no status."""
    created = created_at or ts()
    obj: dict[str, Any] = {
        "id": conversation_id,
        "merchant": merchant(merchant_id, country=country),
        "channel": "chat",
        "kind": "question",
        "created_at": created,
        "subject": "Sipariş iptali",
        "tags": [],
        "messages": [message("1", author="merchant", created_at=created, body="Lütfen")],
        "status_changes": [],
    }
    obj.update(fields)
    return obj


def responded(
    conversation_id: str, *, after: float, created_at: str | None = None, **fields: Any
) -> dict[str, Any]:
    """A conversation whose agent answered publicly ``after`` seconds after filing."""
    obj = conversation(conversation_id, created_at=created_at, **fields)
    start = datetime.fromisoformat(obj["created_at"])
    obj["messages"] = [
        *obj["messages"],
        message("r", created_at=(start + timedelta(seconds=after)).isoformat()),
    ]
    return obj


def solved(
    conversation_id: str, *, after: float, created_at: str | None = None, **fields: Any
) -> dict[str, Any]:
    """A conversation solved ``after`` seconds after filing."""
    obj = conversation(conversation_id, created_at=created_at, **fields)
    start = datetime.fromisoformat(obj["created_at"])
    obj["status_changes"] = [status("solved", (start + timedelta(seconds=after)).isoformat())]
    return obj


def line(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False)


def write_jsonl(path: Path, items: Iterable[Any]) -> Path:
    """Each item a line: dicts as JSON, strings and bytes as they are."""
    chunks: list[bytes] = []
    for item in items:
        if isinstance(item, bytes):
            chunks.append(item)
        elif isinstance(item, str):
            chunks.append(item.encode("utf-8"))
        else:
            chunks.append(line(item).encode("utf-8"))
    data = b"\n".join(chunks) + b"\n"
    if path.name.endswith(".gz"):
        path.write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)
    return path


def import_objects(*items: Any, batch_size: int | None = None):
    """Run the importer service over objects (or raw lines), numbered from 1."""
    from sellerdesk.conversations.importer import conversations_import

    raw = [
        item
        if isinstance(item, bytes)
        else (item if isinstance(item, str) else line(item)).encode()
        for item in items
    ]
    return conversations_import(enumerate(raw, start=1), batch_size=batch_size)


def import_ok(*items: Any, batch_size: int | None = None):
    result = import_objects(*items, batch_size=batch_size)
    assert not result.rejected, result.rejected
    return result


def params(
    *,
    start: str = PERIOD[0],
    end: str = PERIOD[1],
    as_of: str | None = LATER,
    **config: Any,
):
    from sellerdesk.reports.config import build_params, parse_config

    return build_params(parse_config(config), start, end, as_of)


def report(**kwargs: Any) -> dict[str, Any]:
    """The report's JSON form over the stored conversations (defaults: one `*` segment)."""
    from sellerdesk.reports.engine import compute_report

    return compute_report(params(**kwargs)).as_dict()


def segment(data: dict[str, Any], name: str = "All merchants") -> dict[str, Any]:
    for item in data["segments"]:
        if item["name"] == name:
            return item
    raise AssertionError(f"no segment {name!r} in {[s['name'] for s in data['segments']]}")


def only_segment(**kwargs: Any) -> dict[str, Any]:
    data = report(**kwargs)
    assert len(data["segments"]) == 1
    return data["segments"][0]


def search_hits(words: str) -> list[str]:
    """The external ids of the conversations an agent's search for ``words`` finds."""
    from sellerdesk.conversations import search
    from sellerdesk.conversations.models import Conversation

    query = search.parse_query(words)
    assert query is not None
    rows = search.matching(
        Conversation.objects.all(), query, public_only=False, chosen=search.Plan()
    )
    return sorted(rows.values_list("external_id", flat=True))
