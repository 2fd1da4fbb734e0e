"""sellerdesk export FILE: write every conversation in the interchange format.

``--report OUT --from D --to D [--config TOML]`` also writes the report of exactly what the
export holds, computed in the export's snapshot as of the snapshot's moment: after a restore,
``sellerdesk report`` with the same period, configuration and ``--as-of`` gives it back.
"""

from __future__ import annotations

import contextlib
import gzip
import sys
from pathlib import Path
from typing import IO, Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from sellerdesk.conversations.exporter import export_lines, export_snapshot
from sellerdesk.conversations.models import Conversation
from sellerdesk.reports.config import ReportConfig, ReportConfigError, build_params, load_config
from sellerdesk.reports.engine import Report, compute_report
from sellerdesk.reports.render import render


class Command(BaseCommand):
    help = "Export all conversations as interchange JSON Lines (.gz compresses)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "file", help="the output file (.jsonl or .jsonl.gz); - for standard output"
        )
        parser.add_argument("--no-progress", action="store_true")
        parser.add_argument(
            "--report",
            metavar="OUT",
            help="also write the report (JSON) of exactly what is exported, as of the "
            "export's moment; needs --from and --to",
        )
        parser.add_argument("--from", dest="start", help="the report's start (as for report)")
        parser.add_argument("--to", dest="end", help="the report's end (as for report)")
        parser.add_argument("--config", help="the report's configuration (as for report)")

    def handle(self, *args: Any, **options: Any) -> None:
        path = options["file"]
        config: ReportConfig | None = None
        if options["report"]:
            if not (options["start"] and options["end"]):
                raise CommandError("--report needs --from and --to")
            try:
                config = load_config(options["config"]) if options["config"] else ReportConfig()
            except ReportConfigError as exc:
                raise CommandError(f"report configuration refused: {exc}") from exc
        show = not options["no_progress"] and sys.stderr.isatty() and path != "-"
        report: Report | None = None
        with export_snapshot() as moment:
            total = Conversation.objects.count() if show else None
            count = self._write(path, show, total)
            if config is not None:
                # In the export's snapshot: a message created before this moment but
                # committed after the snapshot is in neither the file nor this report.
                try:
                    params = build_params(
                        config, options["start"], options["end"], moment.isoformat()
                    )
                except ReportConfigError as exc:
                    raise CommandError(f"report configuration refused: {exc}") from exc
                report = compute_report(params)
        if report is not None:
            Path(options["report"]).write_text(render(report, "json"), encoding="utf-8")
        if path != "-":
            self.stdout.write(f"exported {count} conversations to {path}")
        if report is not None:
            self.stdout.write(
                f"report as of {moment.isoformat()} (the export's snapshot) to {options['report']}"
            )

    def _write(self, path: str, show: bool, total: int | None) -> int:
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
        return count
