"""sellerdesk serve: the web application and the live chat's websockets under an ASGI server
(uvicorn)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from sellerdesk.core import workers


class Command(BaseCommand):
    help = "Serve sellerdesk over HTTP (ASGI, uvicorn)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument(
            "--workers",
            type=int,
            default=1,
            help="processes; on Linux each listens on its own socket of the port (SO_REUSEPORT), "
            "and SIGHUP replaces them one by one (a rolling restart)",
        )
        parser.add_argument(
            "--no-balance",
            action="store_true",
            help="with several workers, leave each connection with the worker the kernel gave "
            "it (by default a worker holding more than its share closes some after their "
            "answer, and the clients' new connections even the workers out)",
        )
        parser.add_argument(
            "--no-collectstatic",
            action="store_true",
            help="in production, do not gather the static files into STATIC_ROOT first",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        from django.conf import settings
        from django.core.management import call_command

        if settings.PRODUCTION and not options["no_collectstatic"]:
            # Production serves hashed, compressed files from STATIC_ROOT (WhiteNoise);
            # gathering them is idempotent and takes a second.
            call_command("collectstatic", interactive=False, verbosity=0)

        self.stdout.write(f"sellerdesk serving on http://{options['host']}:{options['port']}/")
        # Several workers listen each on its own socket of the port (core/workers.py).
        status = workers.serve(
            {
                "app": "sellerdesk.asgi:application",
                "host": options["host"],
                "port": options["port"],
                "log_level": "info",
                "lifespan": "off",
                # The live chat's websockets (/ws/chat/). The consumer refuses a frame over
                # SELLERDESK_CHAT_MAX_FRAME_BYTES with its own error; the server drops anything
                # far beyond before buffering it.
                "ws": "websockets-sansio",
                "ws_max_size": 4 * settings.SELLERDESK_CHAT_MAX_FRAME_BYTES,
                "ws_per_message_deflate": settings.SELLERDESK_CHAT_COMPRESSION,
            },
            options["workers"],
            balance=not options["no_balance"],
        )
        if status:
            # A port in use, or a worker that could not start: the log above says which.
            raise CommandError(f"the server could not start (status {status})")
