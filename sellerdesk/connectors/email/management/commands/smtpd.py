"""``sellerdesk smtpd``: receive the marketplace's mail over SMTP or LMTP."""

from __future__ import annotations

import signal
import threading
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connections

from sellerdesk.connectors.email.services import inbound_process_waiting, unknown_sender_warning
from sellerdesk.connectors.email.smtp import InboundHandler, build_controller


class Command(BaseCommand):
    help = (
        "Receive mail over SMTP (or LMTP with --lmtp) from the marketplace's mail server: each "
        "mail is stored, then becomes a message of its conversation."
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: Set to stop the receiver (SIGINT/SIGTERM do).
        self.stopping = threading.Event()
        #: Set once the receiver listens.
        self.listening = threading.Event()

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
        parser.add_argument("--port", type=int, default=8025, help="port (default 8025)")
        parser.add_argument("--lmtp", action="store_true", help="speak LMTP instead of SMTP")
        parser.add_argument(
            "--lanes",
            type=int,
            default=None,
            help="mails stored and processed at once, each sender's in order "
            "(default: SELLERDESK_SMTPD_LANES, else 1 on SQLite and 4 on PostgreSQL)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        warning = unknown_sender_warning()
        if warning:
            self.stderr.write(warning)
        waiting = inbound_process_waiting()
        if waiting:
            self.stdout.write(f"processed {waiting} mail(s) stored by an earlier run")
        if options["lanes"] is not None and options["lanes"] < 1:
            raise CommandError("--lanes must be at least 1")
        controller = build_controller(
            host=options["host"], port=options["port"], lmtp=options["lmtp"], lanes=options["lanes"]
        )
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                signal.signal(signum, lambda *_: self.stopping.set())
        controller.start()
        protocol = "LMTP" if options["lmtp"] else "SMTP"
        self.stdout.write(f"sellerdesk smtpd: {protocol} on {options['host']}:{options['port']}")
        self.listening.set()
        try:
            while not self.stopping.wait(1.0):
                pass
        finally:
            controller.stop()
            handler = controller.handler
            if isinstance(handler, InboundHandler):
                handler.close()
            connections.close_all()  # this thread's (the pending mail's processing)
