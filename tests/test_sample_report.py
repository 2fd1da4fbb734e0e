"""The binding contract: the shared sample gives the expected report, counts equal, seconds
within one second, on every database."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command

from tests.conftest import FIXTURES, SHARED


def assert_report_matches(actual, expected, path="report"):
    if isinstance(expected, dict):
        assert set(actual) == set(expected), f"{path}: keys differ"
        for key in expected:
            assert_report_matches(actual[key], expected[key], f"{path}.{key}")
    elif isinstance(expected, list):
        assert len(actual) == len(expected), (
            f"{path}: {len(actual)} items, expected {len(expected)}"
        )
        for index, (a, e) in enumerate(zip(actual, expected, strict=True)):
            assert_report_matches(a, e, f"{path}[{index}]")
    elif isinstance(expected, float) or isinstance(actual, float):
        assert actual is not None, f"{path}: null, expected {expected}"
        assert abs(actual - expected) <= 1, f"{path}: {actual}, expected {expected}"
    else:
        assert actual == expected, f"{path}: {actual!r}, expected {expected!r}"


@pytest.mark.django_db(transaction=True)
def test_sample_fixture_gives_the_expected_report():
    call_command(
        "import", str(FIXTURES / "sample-conversations.jsonl"), "--no-progress", stdout=StringIO()
    )
    out = StringIO()
    call_command(
        "report", "--from", "2021-11-01", "--to", "2022-11-01",
        "--as-of", "2026-01-01T00:00:00+00:00",
        "--config", str(FIXTURES / "report.toml"), stdout=out,
    )  # fmt: skip
    expected = json.loads((FIXTURES / "sample-report.json").read_text())
    assert_report_matches(json.loads(out.getvalue()), expected)


@pytest.mark.skipif(not SHARED.exists(), reason="../shared is not beside this clone")
def test_copied_fixtures_are_the_shared_ones():
    for name in ("sample-conversations.jsonl", "report.toml", "sample-report.json"):
        assert (FIXTURES / name).read_bytes() == (SHARED / "fixtures" / name).read_bytes(), name
