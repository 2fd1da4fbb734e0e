"""The load bench's reconciliation (``bench/load.py``) tells a lost, a doubled and a stray
message or delivery from a clean run: a checker that could not fail would prove nothing."""

from __future__ import annotations

import importlib.util
import sys
from collections import Counter

import pytest

from tests.conftest import REPO


@pytest.fixture(scope="module")
def load():
    sys.path.insert(0, str(REPO / "bench"))
    spec = importlib.util.spec_from_file_location("bench_load", REPO / "bench" / "load.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_load"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_messages_stored_once_missing_doubled_and_stray_are_told_apart(load):
    once, lost, doubled = (load.token("chat") for _ in range(3))
    gave_up_stored, stray = load.token("chat"), load.token("chat")
    api = load.token("api_open")
    bodies = [
        f"Chatting {once}",
        f"Chatting {doubled}",
        f"again {doubled} and again {doubled}",  # one message: counted once
        f"Chatting {doubled}",
        f"Chatting {gave_up_stored}",
        f"Chatting {stray}",
        f"Opened by the API {api}",
    ]
    accepted = {"chat": {once: "c-1", lost: "c-2", doubled: "c-3"}, "api_open": {api: "7"}}
    rows = {r["kind"]: r for r in load.message_rows(accepted, {"chat": [gave_up_stored]}, bodies)}
    assert rows["chat"] == {
        "kind": "chat",
        "accepted": 3,
        "stored_once": 1,
        "missing": 1,
        "duplicated": 1,
        "gave_up": 1,
        "gave_up_but_stored": 1,
        "stored_never_sent": 1,
    }
    assert rows["api_open"]["stored_once"] == 1
    assert rows["api_open"]["missing"] == rows["api_open"]["duplicated"] == 0
    assert rows["email"]["accepted"] == 0


def test_deliveries_lost_repeated_and_unknown_are_counted(load):
    items = [("a", "delivered"), ("b", "delivered"), ("c", "pending"), ("d", "failed")]
    received = Counter({"a": 1, "b": 3, "zzz": 1})
    assert load.delivery_row("webhook", items, received) == {
        "kind": "webhook",
        "items": 4,
        "delivered": 2,
        "pending": 1,
        "failed": 1,
        "received_once": 1,
        "lost": 2,
        "received_twice_or_more": 1,
        "repeats": 2,
        "unknown_ids_received": 1,
    }


def test_percentiles_and_tokens(load):
    assert load.percentile([], 0.5) == 0.0
    assert load.percentile([3.0, 1.0, 2.0], 0.5) == 2.0
    assert load.percentile([float(n) for n in range(1, 101)], 0.99) == 99.0
    assert load.TOKEN_RE.fullmatch(load.token("agent_reply"))


def test_the_backup_check_tells_an_identical_report_from_one_that_differs(load):
    report = {
        "as_of": "2026-11-26T16:00:00+01:00",
        "segments": [{"name": "All", "count": 12, "median": 61.5, "top": ["a", "b"]}],
    }
    same = {"as_of": "2026-11-26T16:00:00+01:00", "segments": [dict(report["segments"][0])]}
    assert load.report_differences(report, same) == []
    one_more = {**same, "segments": [{**same["segments"][0], "count": 13}]}
    assert load.report_differences(report, one_more) == [".segments[0].count: 12 != 13"]
    reordered = {**same, "segments": [{**same["segments"][0], "top": ["b", "a"]}]}
    assert len(load.report_differences(report, reordered)) == 2
    assert load.report_differences(report, {**same, "segments": []})  # a segment missing
