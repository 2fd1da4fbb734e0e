"""After every migration the report's raw-SQL indexes are there (a table rebuild on SQLite
drops indexes Django does not know of; see migration 0010)."""

from __future__ import annotations

import importlib

import pytest
from django.db import connection

pytestmark = pytest.mark.django_db

NAMES = importlib.import_module("sellerdesk.conversations.migrations.0002_report_indexes").NAMES


def test_the_report_indexes_exist_after_migrating():
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'index'")
        else:
            cursor.execute("SELECT indexname FROM pg_indexes")
        present = {row[0] for row in cursor.fetchall()}
    assert set(NAMES) <= present
