"""sellerdesk demo: fill the database with a year of multilingual demo conversations.

Also creates (or resets the password of) the staff login ``admin@sellerdesk.test``. ``make run``
calls it with ``--if-empty`` so a second start keeps what is there. In production mode it refuses
to write unless given ``--allow-production``: made-up conversations would mix with real ones
and skew the reports.
"""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from sellerdesk.conversations.demo import (
    DEFAULT_CONVERSATIONS,
    DEFAULT_SEED,
    DEVELOPMENT_PASSWORD,
    STAFF_LOGIN,
    DemoError,
    demo_conversations_stored,
    demo_load,
    demo_staff_login_exists,
)
from sellerdesk.conversations.demo.logins import AGENT_LOGIN, MERCHANT_LOGIN, demo_logins

SITE_URL = "http://127.0.0.1:8000/"


class Command(BaseCommand):
    help = (
        "Fill the database with a realistic, multilingual year of merchant support (ids demo-*, "
        "so running it again replaces them) and create the staff login admin@sellerdesk.test."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--seed", type=int, default=DEFAULT_SEED, help="same seed, same day: same data"
        )
        parser.add_argument(
            "--conversations",
            type=int,
            default=DEFAULT_CONVERSATIONS,
            help=f"how many conversations to write (default {DEFAULT_CONVERSATIONS})",
        )
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="do nothing when the database already holds conversations",
        )
        parser.add_argument(
            "--allow-production",
            action="store_true",
            help="write the demo even in production mode (refused without this flag)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        count = options["conversations"]
        if count < 1:
            raise CommandError("--conversations must be at least 1")
        if options["if_empty"]:
            stored = demo_conversations_stored()
            if stored:
                self.stdout.write(
                    f"Demo data is already there ({stored} conversations); nothing written."
                )
                if not settings.PRODUCTION and demo_staff_login_exists():
                    for email in (STAFF_LOGIN, AGENT_LOGIN, MERCHANT_LOGIN):
                        self.stdout.write(f"Demo login: {email} / {DEVELOPMENT_PASSWORD}")
                    self.stdout.write(f"at {SITE_URL} (unless the passwords were changed since)")
                return
        if settings.PRODUCTION and not options["allow_production"]:
            raise CommandError(
                "Production mode: refusing to write demo conversations (and the demo staff "
                "login) into this database. Pass --allow-production if that is really wanted."
            )
        started = time.monotonic()
        try:
            result = demo_load(
                seed=options["seed"], conversations=count, today=timezone.now().date()
            )
        except DemoError as exc:
            raise CommandError(str(exc)) from exc
        elapsed = time.monotonic() - started
        logins = demo_logins(production=settings.PRODUCTION)
        self.stdout.write(
            f"Wrote {result.merchants} merchants and {result.conversations} conversations "
            f"in {elapsed:.1f} s."
        )
        if settings.PRODUCTION:
            self.stdout.write(
                "Production mode: the demo logins got random passwords, shown only now."
            )
        for login in logins:
            self.stdout.write(
                f"Demo login ({login.role}): {login.email} / {login.password}  → {login.where}"
            )
        self.stdout.write(f"Sign in at {SITE_URL}accounts/login/")
