"""Migrate, then make a staff user with a DRF token and a queue; print
``{"token": ..., "queue": ...}`` as the last line (run by ``bench/api.py``)."""

from __future__ import annotations

import json
import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hdbench.settings")
django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from helpdesk.models import Queue  # noqa: E402
from rest_framework.authtoken.models import Token  # noqa: E402

call_command("migrate", verbosity=0, interactive=False)
user, _ = get_user_model().objects.get_or_create(
    username="bench", defaults={"email": "bench@helpdesk.test", "is_staff": True}
)
token, _ = Token.objects.get_or_create(user=user)
queue, _ = Queue.objects.get_or_create(
    slug="bench", defaults={"title": "Merchant support", "allow_public_submission": False}
)
print(json.dumps({"token": token.key, "queue": queue.pk}))
