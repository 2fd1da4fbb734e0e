"""``sellerdesk apikey create|list|revoke``: the REST API's keys.

``create`` prints the key once, alone on the last line of its output; only its SHA-256 is
stored, so it cannot be shown again.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from sellerdesk.accounts.models import Merchant
from sellerdesk.api import selectors, services
from sellerdesk.api.models import Scope
from sellerdesk.core.errors import ValidationError


class Command(BaseCommand):
    help = "Create, list and revoke the REST API's keys."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        create = actions.add_parser("create", help="Make a key and print it once.")
        create.add_argument("--name", required=True, help="What the key is for.")
        create.add_argument("--scope", required=True, choices=Scope.values)
        create.add_argument(
            "--merchant",
            metavar="MARKETPLACE_ID",
            help="A key of this merchant only (not with --scope reports).",
        )
        actions.add_parser("list", help="Every key, by prefix (never the key).")
        revoke = actions.add_parser("revoke", help="Refuse a key from now on.")
        revoke.add_argument("prefix", help="The key's first 8 characters, as listed.")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "create":
            self._create(options)
        elif action == "list":
            self._list()
        else:
            self._revoke(options["prefix"])

    def _create(self, options: dict[str, Any]) -> None:
        merchant = None
        if options["merchant"] is not None:
            merchant = Merchant.objects.filter(external_id=options["merchant"]).first()
            if merchant is None:
                raise CommandError(f"no merchant with the id {options['merchant']!r}")
        try:
            key, token = services.apikey_create(
                name=options["name"], scope=options["scope"], merchant=merchant
            )
        except ValidationError as error:
            raise CommandError(str(error)) from None
        whose = f"merchant {merchant.external_id}" if merchant else "every merchant"
        self.stdout.write(f"Created API key {key.prefix} {key.name!r}: scope {key.scope}, {whose}.")
        self.stdout.write("It is shown only this once; clients send it as Authorization: Bearer.")
        self.stdout.write(token)

    def _list(self) -> None:
        keys = selectors.apikeys()
        if not keys:
            self.stdout.write("No API keys.")
            return
        self.stdout.write(
            f"{'prefix':<8}  {'scope':<7}  {'merchant':<20}  {'created':<16}  "
            f"{'last used':<16}  {'revoked':<16}  name"
        )
        for key in keys:
            self.stdout.write(
                f"{key.prefix:<8}  {key.scope:<7}  "
                f"{(key.merchant.external_id if key.merchant else '*'):<20.20}  "
                f"{_when(key.created_at):<16}  {_when(key.last_used_at):<16}  "
                f"{_when(key.revoked_at):<16}  {key.name}"
            )

    def _revoke(self, prefix: str) -> None:
        try:
            key = services.apikey_revoke(prefix=prefix)
        except ValidationError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(f"Revoked API key {key.prefix} {key.name!r}.")


def _when(moment: Any) -> str:
    return f"{moment:%Y-%m-%d %H:%M}" if moment else "-"
