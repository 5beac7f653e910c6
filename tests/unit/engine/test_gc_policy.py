"""The collector setting the worker and replay run the engine with."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from pipeline.engine.gc_policy import THRESHOLDS, tune_collector


@pytest.fixture
def collector() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


@pytest.mark.usefixtures("collector")
def test_start_up_objects_leave_the_collector_and_young_objects_wait_longer() -> None:
    gc.unfreeze()
    tune_collector()
    assert gc.get_threshold() == THRESHOLDS
    assert gc.get_freeze_count() > 10_000  # modules, classes, functions of the whole test run
    assert THRESHOLDS[0] > 700  # CPython's default


@pytest.mark.usefixtures("collector")
def test_a_cycle_is_reclaimed_without_an_explicit_collection() -> None:
    tune_collector()

    class Node:
        other: object = None

    a, b = Node(), Node()
    a.other, b.other = b, a
    gone = weakref.ref(a)
    del a, b
    # The young generation's threshold in new containers: its next collection finds the cycle.
    keep = [[] for _ in range(THRESHOLDS[0] * 2)]
    assert gone() is None
    assert len(keep) == THRESHOLDS[0] * 2
