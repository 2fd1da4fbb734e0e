"""The web server's processes tune Python's garbage collector once loaded (core/gctune.py)."""

from __future__ import annotations

import gc

import pytest

from sellerdesk.core import gctune


@pytest.fixture
def collector_restored():
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


@pytest.mark.usefixtures("collector_restored")
def test_a_served_process_freezes_what_it_loaded_and_collects_young_objects_less_often(
    settings,
):
    settings.SELLERDESK_GC_YOUNG_THRESHOLD = 40000
    _, older, oldest = gc.get_threshold()
    assert gctune.tune()
    assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == (40000, older, oldest)
    # Cycles are still collected.
    cycle: list[object] = []
    cycle.append(cycle)
    del cycle
    assert gc.collect() >= 1


@pytest.mark.usefixtures("collector_restored")
def test_zero_leaves_pythons_collector_as_it_is(settings):
    settings.SELLERDESK_GC_YOUNG_THRESHOLD = 0
    threshold = gc.get_threshold()
    frozen = gc.get_freeze_count()
    assert not gctune.tune()
    assert gc.get_threshold() == threshold
    assert gc.get_freeze_count() == frozen
