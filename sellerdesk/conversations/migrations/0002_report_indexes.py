"""The report's indexes, which differ by database.

SQLite walks an index a country at a time (a skip-scan, once ANALYZE has run), so its report
indexes lead with the country and cover every column the report reads: no sort, no table
visit. PostgreSQL has no skip-scan before version 18 and reads a long period with a parallel
sequential scan, so a wide country-first index would only slow its writes: it gets narrow
created_at indexes, for reports of short periods.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations

POPULATION = "initiated_by = 'merchant' AND NOT spam"

SQLITE = [
    "CREATE INDEX conv_report_idx ON conversations_conversation (country, created_at, kind, "
    "outcome, first_response_at, first_response_seconds, status_changed_at, "
    f"resolution_seconds, id) WHERE {POPULATION}",
    "CREATE INDEX conv_tag_report_idx ON conversations_conversationtag "
    "(country, tag_id, created_at) WHERE counted",
    "CREATE INDEX conv_tag_pair_report_idx ON conversations_conversationtagpair "
    "(country, tag_a_id, tag_b_id, created_at) WHERE counted",
]
POSTGRESQL = [
    f"CREATE INDEX conv_report_idx ON conversations_conversation (created_at) WHERE {POPULATION}",
    "CREATE INDEX conv_tag_report_idx ON conversations_conversationtag (created_at) WHERE counted",
    "CREATE INDEX conv_tag_pair_report_idx ON conversations_conversationtagpair (created_at) "
    "WHERE counted",
]
NAMES = ["conv_report_idx", "conv_tag_report_idx", "conv_tag_pair_report_idx"]


def create(apps: Any, schema_editor: Any) -> None:
    statements = POSTGRESQL if schema_editor.connection.vendor == "postgresql" else SQLITE
    for statement in statements:
        schema_editor.execute(statement)


def drop(apps: Any, schema_editor: Any) -> None:
    for name in NAMES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("conversations", "0001_initial")]

    operations = [migrations.RunPython(create, drop)]
