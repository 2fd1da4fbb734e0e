"""Python's garbage collector tuned for a long-lived web process (``sellerdesk.asgi``).

A request's objects are nearly all freed by reference counting as it ends; the collector is
needed only for the few cycles among them. With Python's thresholds (700, 10, 10) a uvicorn
worker under bench/api.py's load (16 posts in flight) still ran a young collection every
~18 posts (0.8 ms each), a middle one every ~200 (3.4 ms) and, now and then, a full one that
walks every object the process holds — Django, the URL patterns, the API's schemas, loaded
once and never freed — 92 ms during which the worker's requests in flight all wait.

``tune()`` does what other large Python web services do: the objects loaded at start are
frozen (``gc.freeze``: left out of every collection; they live as long as the process
anyway), and young collections run after ``SELLERDESK_GC_YOUNG_THRESHOLD`` net allocations
(the same run then made none in 15 s). Cycles are still collected, less often, and a full
collection no longer walks the loaded code.
"""

from __future__ import annotations

import gc

from django.conf import settings


def tune() -> bool:
    """Freeze what is loaded and raise the young generation's threshold; call once the
    process has loaded what it serves with. False (nothing done) when the setting is 0."""
    young = settings.SELLERDESK_GC_YOUNG_THRESHOLD
    if young <= 0:
        return False
    # Collect first so that garbage from the start is freed, not frozen.
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(young, older, oldest)
    return True
