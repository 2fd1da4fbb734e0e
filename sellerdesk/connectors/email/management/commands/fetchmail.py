"""``sellerdesk fetchmail``: read unread mail from the IMAP mailbox into conversations."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from sellerdesk.connectors.email import imap
from sellerdesk.connectors.email.services import inbound_process_waiting, unknown_sender_warning


class Command(BaseCommand):
    help = (
        "Fetch unread mail from the IMAP mailbox (IMAP_HOST, IMAP_USER, IMAP_PASSWORD, "
        "IMAP_FOLDER): each mail is stored, marked seen, then becomes a message."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--interval", type=float, default=0, help="fetch again every S seconds (0: once)"
        )
        parser.add_argument("--limit", type=int, default=None, help="at most N mails a run")

    def handle(self, *args: Any, **options: Any) -> None:
        if not imap.configured():
            raise CommandError(
                "IMAP is not configured: set IMAP_HOST, IMAP_USER and IMAP_PASSWORD "
                "(IMAP_FOLDER defaults to INBOX, IMAP_PORT to 993)."
            )
        warning = unknown_sender_warning()
        if warning:
            self.stderr.write(warning)
        inbound_process_waiting()
        while True:
            with imap.connect() as mailbox:
                run = imap.fetch_new(mailbox, limit=options["limit"])
            self.stdout.write(
                f"fetched {run.fetched}: {run.processed} processed, {run.quarantined} quarantined"
            )
            if options["interval"] <= 0:
                return
            time.sleep(options["interval"])
