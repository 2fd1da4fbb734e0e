"""The ``sellerdesk`` console command: the project's management commands under one name.

``sellerdesk migrate``, ``sellerdesk import FILE``, ``sellerdesk report ...``, ``sellerdesk serve``.
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sellerdesk.settings")
    from django.core.management import execute_from_command_line

    args = sys.argv[1:] if argv is None else argv
    execute_from_command_line(["sellerdesk", *args])


if __name__ == "__main__":
    main()
