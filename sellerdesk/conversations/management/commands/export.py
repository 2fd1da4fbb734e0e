"""sellerdesk export FILE: write every conversation in the interchange format."""

from __future__ import annotations

import contextlib
import gzip
import sys
from typing import IO, Any

from django.core.management.base import BaseCommand, CommandParser
from tqdm import tqdm

from sellerdesk.conversations.exporter import export_lines
from sellerdesk.conversations.models import Conversation


class Command(BaseCommand):
    help = "Export all conversations as interchange JSON Lines (.gz compresses)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "file", help="the output file (.jsonl or .jsonl.gz); - for standard output"
        )
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        path = options["file"]
        show = not options["no_progress"] and sys.stderr.isatty() and path != "-"
        total = Conversation.objects.count() if show else None
        count = 0
        with contextlib.ExitStack() as stack:
            out: IO[str]
            if path == "-":
                out = sys.stdout
            elif path.endswith(".gz"):
                out = stack.enter_context(gzip.open(path, "wt", encoding="utf-8"))
            else:
                out = stack.enter_context(open(path, "w", encoding="utf-8"))
            lines = tqdm(export_lines(), total=total, disable=not show, unit="conv", desc="export")
            for line in lines:
                out.write(line)
                out.write("\n")
                count += 1
        if path != "-":
            self.stdout.write(f"exported {count} conversations to {path}")
