"""Message.client_id: the id a chat client gives a message, unique within its conversation.

Adding the column rebuilds the message table on SQLite, which drops the report's raw-SQL
indexes; the last operation puts them back, as 0010 does.
"""

from __future__ import annotations

import importlib

from django.db import migrations, models

_0010 = importlib.import_module("sellerdesk.conversations.migrations.0010_report_indexes_again")


class Migration(migrations.Migration):
    dependencies = [("conversations", "0010_report_indexes_again")]

    operations = [
        migrations.AddField(
            model_name="message",
            name="client_id",
            field=models.CharField(blank=True, db_default="", default="", max_length=64),
        ),
        migrations.AddConstraint(
            model_name="message",
            constraint=models.UniqueConstraint(
                condition=models.Q(("client_id", ""), _negated=True),
                fields=("conversation", "client_id"),
                name="message_unique_client_id",
            ),
        ),
        migrations.RunPython(_0010.create_missing, migrations.RunPython.noop),
    ]
