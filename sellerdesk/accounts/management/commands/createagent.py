"""``sellerdesk createagent EMAIL --password P [--team T] [--role agent|lead|admin]``."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from sellerdesk.accounts.models import STAFF_ROLES, Role
from sellerdesk.accounts.services import team_get_or_create, user_create
from sellerdesk.core.errors import ValidationError


class Command(BaseCommand):
    help = "Create a support agent, team lead or admin (and the teams named)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email")
        parser.add_argument(
            "--password",
            help="Without it the account has no password until a reset e-mail sets one.",
        )
        parser.add_argument("--name", default="", help="Full name shown to merchants.")
        parser.add_argument(
            "--team", action="append", default=[], help="Team name; repeat for several."
        )
        parser.add_argument("--role", choices=sorted(STAFF_ROLES), default=Role.AGENT)
        parser.add_argument("--languages", default="", help="Comma-separated, e.g. en,tr")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            teams = [team_get_or_create(name=name) for name in options["team"]]
            user = user_create(
                email=options["email"],
                password=options["password"],
                role=options["role"],
                full_name=options["name"],
                teams=teams,
                languages=options["languages"],
            )
        except ValidationError as error:
            raise CommandError(str(error)) from None
        teams_text = ", ".join(t.name for t in teams) or "no team"
        self.stdout.write(f"Created {user.role} {user.email} ({teams_text}).")
