"""Joins the live chat's and search's migrations, which were written side by side.

Either may run first. When Message.client_id (0011_message_client_id) comes second, adding the
column rebuilds the message table on SQLite, which drops the search triggers 0011_search made
there (and the report's raw-SQL indexes, which 0011_message_client_id itself puts back): both
are put back here, and whatever the missing triggers let through is indexed.
"""

from __future__ import annotations

import importlib

from django.db import migrations

_search = importlib.import_module("sellerdesk.conversations.migrations.0011_search")
_0010 = importlib.import_module("sellerdesk.conversations.migrations.0010_report_indexes_again")


class Migration(migrations.Migration):
    dependencies = [
        ("conversations", "0011_message_client_id"),
        ("conversations", "0012_search_order"),
    ]

    operations = [
        migrations.RunPython(_0010.create_missing, migrations.RunPython.noop),
        migrations.RunPython(_search.ensure_search_schema, migrations.RunPython.noop),
    ]
