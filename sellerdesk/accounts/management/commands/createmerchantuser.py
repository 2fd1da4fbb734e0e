"""``sellerdesk createmerchantuser EMAIL --merchant MARKETPLACE_ID --password P``."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from sellerdesk.accounts.models import Merchant, Role
from sellerdesk.accounts.services import user_create
from sellerdesk.core.errors import ValidationError


class Command(BaseCommand):
    help = "Create a user who signs in to the merchant portal for one merchant."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email")
        parser.add_argument(
            "--merchant", required=True, help="The merchant's id on the marketplace."
        )
        parser.add_argument(
            "--password",
            help="Without it the account has no password until a reset e-mail sets one.",
        )
        parser.add_argument("--name", default="")

    def handle(self, *args: Any, **options: Any) -> None:
        merchant = Merchant.objects.filter(external_id=options["merchant"]).first()
        if merchant is None:
            raise CommandError(
                f"no merchant with the id {options['merchant']!r}: import or create it first"
            )
        try:
            user = user_create(
                email=options["email"],
                password=options["password"],
                role=Role.MERCHANT,
                full_name=options["name"],
                merchant=merchant,
            )
        except ValidationError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(f"Created merchant user {user.email} for {merchant}.")
