"""``tests/pid_app.py``'s application, which fails to import once the file named by
``SELLERDESK_TEST_BROKEN_DEPLOY`` exists: a deploy gone wrong, for tests/test_workers.py."""

from __future__ import annotations

import os
from pathlib import Path

if Path(os.environ["SELLERDESK_TEST_BROKEN_DEPLOY"]).exists():
    raise RuntimeError("a broken deploy: this application does not import")

from tests.pid_app import app

__all__ = ["app"]
