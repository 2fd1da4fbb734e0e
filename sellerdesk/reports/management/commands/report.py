"""sellerdesk report: the complaint-handling report (docs/report.md) for a period."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from sellerdesk.reports.config import ReportConfig, ReportConfigError, build_params, load_config
from sellerdesk.reports.engine import compute_report
from sellerdesk.reports.render import FORMATS, render


class Command(BaseCommand):
    help = "Compute the complaint-handling report for a period."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--from",
            dest="start",
            required=True,
            help="start (inclusive): a date or RFC 3339 timestamp",
        )
        parser.add_argument(
            "--to", dest="end", required=True, help="end (exclusive): a date or RFC 3339 timestamp"
        )
        parser.add_argument(
            "--config", help="a report configuration in TOML (segments, topics, top, timezone)"
        )
        parser.add_argument(
            "--as-of", dest="as_of", help="ignore everything dated after this moment (default: now)"
        )
        parser.add_argument(
            "--business-hours",
            dest="business_hours",
            nargs="?",
            const="team",
            metavar="CALENDAR",
            help="measure first response and resolution in business hours: each team's "
            "calendar (no value, or 'team') or the business calendar of this name",
        )
        parser.add_argument("--format", choices=FORMATS, default="json")
        parser.add_argument("--output", help="write to this file instead of standard output")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            config = load_config(options["config"]) if options["config"] else ReportConfig()
            params = build_params(
                config,
                options["start"],
                options["end"],
                options["as_of"],
                business_hours=options["business_hours"],
            )
            report = compute_report(params)
        except ReportConfigError as exc:
            raise CommandError(f"report configuration refused: {exc}") from exc
        text = render(report, options["format"])
        if options["output"]:
            Path(options["output"]).write_text(text, encoding="utf-8")
        else:
            self.stdout.write(text, ending="")
