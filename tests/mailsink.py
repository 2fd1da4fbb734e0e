"""An e-mail backend for worker tests in child processes: each message becomes a file in
``$SELLERDESK_MAILSINK`` named by a counter, holding its Message-ID, after a short pause (so a
kill can land mid-batch). Read only the ``*.txt`` files: a ``.part`` file is one a killed worker
was writing."""

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
            # Received whole or not at all, as by a mail server: a worker killed mid-write
            # leaves a .part file, never a message without its Message-ID.
            part = name.with_suffix(".part")
            part.write_text(message.extra_headers["Message-ID"] + "\n" + message.subject)
            os.replace(part, name)
        return len(email_messages)
