"""An e-mail backend for worker tests in child processes: each message becomes a file in
``$SELLERDESK_MAILSINK`` named by a counter, holding its Message-ID, after a short pause (so a
kill can land mid-batch)."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

from django.core.mail.backends.base import BaseEmailBackend


class EmailBackend(BaseEmailBackend):
    def send_messages(self, email_messages):
        folder = Path(os.environ["SELLERDESK_MAILSINK"])
        for message in email_messages:
            time.sleep(float(os.environ.get("SELLERDESK_MAILSINK_DELAY", "0.01")))
            name = folder / f"{time.monotonic_ns()}-{uuid.uuid4().hex}.txt"
            name.write_text(message.extra_headers["Message-ID"] + "\n" + message.subject)
        return len(email_messages)
