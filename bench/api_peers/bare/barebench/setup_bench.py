"""Create the one table (``bench/api.py`` runs this before serving)."""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "barebench.settings")
django.setup()

from django.db import connection  # noqa: E402

from barebench.models import Row  # noqa: E402

with connection.schema_editor() as editor:
    editor.execute(f"DROP TABLE IF EXISTS {Row._meta.db_table}")
    editor.create_model(Row)
print("{}")
