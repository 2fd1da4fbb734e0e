"""Put back the report's indexes wherever a table rebuild dropped them.

On SQLite, AddField and AlterField rebuild a table (create, copy, drop, rename) and keep only
the indexes Django knows of; the report's indexes are raw SQL (0002), so the workspace's new
columns (0003 onwards) silently dropped ``conv_report_idx``. This re-creates each missing one,
and does nothing where they are there. A later migration that rebuilds one of these tables must
end with the same operation (``tests/test_report_indexes_exist`` fails otherwise).
"""

from __future__ import annotations

import importlib
from typing import Any

from django.db import migrations

_0002 = importlib.import_module("sellerdesk.conversations.migrations.0002_report_indexes")


def create_missing(apps: Any, schema_editor: Any) -> None:
    statements = (
        _0002.POSTGRESQL if schema_editor.connection.vendor == "postgresql" else _0002.SQLITE
    )
    for statement in statements:
        schema_editor.execute(statement.replace("CREATE INDEX ", "CREATE INDEX IF NOT EXISTS ", 1))


class Migration(migrations.Migration):
    dependencies = [("conversations", "0009_due_sort_indexes")]

    operations = [migrations.RunPython(create_missing, migrations.RunPython.noop)]
