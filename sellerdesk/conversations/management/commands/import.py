"""sellerdesk import FILE: load conversations from an interchange file (.jsonl or .jsonl.gz)."""

from __future__ import annotations

import gzip
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, cast

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from sellerdesk.conversations.importer import ImportResult, conversations_import


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
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args: Any, **options: Any) -> None:
        path = options["file"]
        handle = _open(path)
        total = None if path == "-" else Path(path).stat().st_size
        show = not options["no_progress"] and sys.stderr.isatty()
        bar = tqdm(total=total, unit="B", unit_scale=True, disable=not show, desc="import")
        reader = _Numbered(handle, bar)
        rejected_path = options["rejected"]

        def progress(result: ImportResult) -> None:
            bar.set_postfix(imported=result.imported, rejected=len(result.rejected), refresh=False)

        try:
            result = conversations_import(
                reader,
                batch_size=options["batch_size"],
                on_batch=progress,
                keep_rejected_lines=bool(rejected_path),
            )
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            raise CommandError(f"{path}: cannot read past line {reader.number}: {exc}") from exc
        finally:
            bar.close()
            handle.close()

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


def _open(path: str) -> IO[bytes]:
    if path == "-":
        return sys.stdin.buffer
    try:
        if path.endswith(".gz"):
            return cast(IO[bytes], gzip.open(path, "rb"))
        return open(path, "rb")  # closed by the caller
    except OSError as exc:
        raise CommandError(f"cannot open {path}: {exc.strerror}") from exc


class _Numbered:
    """Numbered lines of a binary stream, advancing the progress bar by bytes read."""

    def __init__(self, handle: IO[bytes], bar: tqdm) -> None:
        self.handle = handle
        self.bar = bar
        self.number = 0

    def __iter__(self) -> Iterator[tuple[int, bytes]]:
        compressed = getattr(self.handle, "fileobj", None)
        position = 0
        for line in self.handle:
            self.number += 1
            if self.bar.disable is False:
                now = compressed.tell() if compressed is not None else position + len(line)
                self.bar.update(now - position)
                position = now
            yield self.number, line
