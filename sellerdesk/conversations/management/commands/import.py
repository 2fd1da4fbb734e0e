"""sellerdesk import FILE: load conversations from an interchange file (.jsonl or .jsonl.gz)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from sellerdesk.conversations.import_files import (
    ImportReadError,
    ImportWorkerError,
    conversations_import_file,
    default_workers,
)


class Command(BaseCommand):
    help = "Import conversations from an interchange file (JSON Lines, optionally .gz)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="the .jsonl or .jsonl.gz file; - for standard input")
        parser.add_argument(
            "--rejected",
            metavar="FILE",
            help="also write every rejected line, with its number and reason, to FILE (JSON Lines)",
        )
        parser.add_argument(
            "--batch-size", type=int, default=None, help="conversations per transaction"
        )
        parser.add_argument(
            "--workers",
            type=int,
            default=None,
            help="worker processes (default: 1 on SQLite, one per core up to 4 on PostgreSQL)",
        )
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args: Any, **options: Any) -> None:
        path = options["file"]
        if path != "-" and not Path(path).is_file():
            raise CommandError(f"cannot open {path}: no such file")
        workers = options["workers"] or default_workers(path)
        if workers < 1:
            raise CommandError("--workers must be at least 1")
        total = None if path == "-" else Path(path).stat().st_size
        show = not options["no_progress"] and sys.stderr.isatty()
        bar = tqdm(total=total, unit="B", unit_scale=True, disable=not show, desc="import")
        rejected_path = options["rejected"]

        def progress(position: int, imported: int) -> None:
            if total is not None:
                bar.update(min(position, total) - bar.n)
            bar.set_postfix(imported=imported, refresh=False)

        try:
            result = conversations_import_file(
                path,
                workers=workers,
                batch_size=options["batch_size"],
                keep_rejected_lines=bool(rejected_path),
                on_progress=progress if show else None,
            )
        except (ImportReadError, ImportWorkerError, OSError) as exc:
            raise CommandError(str(exc)) from exc
        finally:
            bar.close()

        for rejection in result.rejected:
            self.stderr.write(f"{path}:{rejection.line}: rejected: {rejection.reason}")
        if rejected_path:
            with open(rejected_path, "w", encoding="utf-8") as out:
                for rejection in result.rejected:
                    out.write(json.dumps({
                        "line": rejection.line, "reason": rejection.reason,
                        "text": rejection.raw.decode("utf-8", "replace").rstrip("\r\n"),
                    }, ensure_ascii=False) + "\n")  # fmt: skip
        self.stdout.write(
            f"imported {result.imported} conversations ({result.created} new, "
            f"{result.replaced} replaced); rejected {len(result.rejected)} lines"
        )
        if result.rejected:
            raise CommandError(f"{len(result.rejected)} lines were rejected", returncode=1)
