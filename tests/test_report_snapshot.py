"""The report reads one snapshot however it runs: on PostgreSQL outside a transaction the
medians run on a second connection that imports the first one's snapshot; inside a caller's
transaction everything runs on one connection. Both give the same figures."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection, transaction

from sellerdesk.reports.config import build_params, load_config
from sellerdesk.reports.engine import compute_report
from tests.conftest import FIXTURES


@pytest.mark.django_db(transaction=True)
def test_the_report_is_the_same_on_a_shared_snapshot_and_inside_a_transaction():
    call_command(
        "import", str(FIXTURES / "sample-conversations.jsonl"), "--no-progress", stdout=StringIO()
    )
    params = build_params(
        load_config(FIXTURES / "report.toml"), "2021-11-01", "2022-11-01", "2026-01-01T00:00:00Z"
    )
    assert not connection.in_atomic_block
    outside = compute_report(params).as_dict()
    assert not connection.in_atomic_block  # the report's own read transaction is closed
    with transaction.atomic():
        inside = compute_report(params).as_dict()
    assert outside == inside
    assert outside["segments"][3]["first_response_seconds"]["median"] is not None
