from __future__ import annotations

import random

import numpy as np
import pytest
from ddsketch import DDSketch

from pipeline.core.sketch import (
    DENSE_KEYS,
    KEY_MAX,
    KEY_MIN,
    RELATIVE_ACCURACY,
    QuantileSketch,
    quantiles_of,
)


def exact_quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[int(q * (len(ordered) - 1))]


@pytest.mark.parametrize("q", [0.0, 0.5, 0.9, 0.99, 1.0])
def test_quantiles_are_within_the_relative_error(q: float) -> None:
    rng = random.Random(7)
    values = [rng.lognormvariate(8, 1.5) for _ in range(5000)] + [0.0] * 50
    sketch = QuantileSketch()
    for v in values:
        sketch.add(v)
    exact = exact_quantile(values, q)
    got = sketch.quantile(q)
    assert got is not None
    assert abs(got - exact) <= RELATIVE_ACCURACY * exact + 1e-9
    assert sketch.mean == pytest.approx(sum(values) / len(values))


def test_agrees_with_the_ddsketch_library() -> None:
    rng = random.Random(3)
    ours, theirs = QuantileSketch(), DDSketch(RELATIVE_ACCURACY)
    for _ in range(2000):
        v = rng.expovariate(1 / 3600)
        ours.add(v)
        theirs.add(v)
    for q in (0.1, 0.5, 0.9):
        assert ours.quantile(q) == pytest.approx(theirs.get_quantile_value(q))


def test_merge_equals_adding_everything_to_one_sketch() -> None:
    a, b, both = QuantileSketch(), QuantileSketch(), QuantileSketch()
    for i in range(1, 500):
        (a if i % 3 else b).add(i * 1.7)
        both.add(i * 1.7)
    a.merge(b)
    assert a.count == both.count == 499
    assert a.bins == both.bins
    assert a.quantile(0.9) == both.quantile(0.9)


def test_round_trips_through_json_and_rejects_negatives() -> None:
    s = QuantileSketch()
    for v in (0.0, 1.0, 10.0, 1000.0):
        s.add(v)
    copy = QuantileSketch.from_json(s.to_json())
    assert copy.bins == s.bins and copy.zeros == 1 and copy.count == 4 and copy.total == 1011.0
    assert QuantileSketch().quantile(0.5) is None
    with pytest.raises(ValueError):
        s.add(-1.0)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_dense_quantiles_equal_the_sparse_sketch(seed: int) -> None:
    """``quantiles_of`` (many dense rows at once) gives each row what one sparse sketch of the
    same values gives: empty rows, rows of zeros only, and values outside the dense range."""
    rng = np.random.default_rng(seed)
    qs = (0.0, 0.25, 0.5, 0.9, 0.95, 0.99, 1.0)
    sketches = []
    for row in range(60):
        sketch = QuantileSketch()
        size = 0 if row % 13 == 0 else int(rng.integers(1, 400))
        for value in rng.lognormal(7, 2.5, size):
            sketch.add(0.0 if rng.random() < 0.1 else float(value))
        if row % 17 == 5:
            sketch.add(1e-3)  # below the dense range
        if row % 11 == 4:
            sketch = QuantileSketch()
            for _ in range(5):
                sketch.add(0.0)
        sketches.append(sketch)
    buckets = np.zeros((len(sketches), DENSE_KEYS), dtype=np.int32)
    overflow: dict[int, dict[int, int]] = {}
    for row, sketch in enumerate(sketches):
        for key, n in sketch.bins.items():
            if KEY_MIN <= key < KEY_MAX:
                buckets[row, key - KEY_MIN] = n
            else:
                overflow.setdefault(row, {})[key] = n
    zeros = np.array([s.zeros for s in sketches], dtype=np.int64)
    counts = np.array([s.count for s in sketches], dtype=np.int64)
    got = quantiles_of(buckets, zeros, counts, qs, overflow)
    # Only the columns any row uses, as a window reads them.
    used = np.flatnonzero(buckets.any(axis=0))
    lo, hi = int(used[0]), int(used[-1]) + 1
    narrow = quantiles_of(buckets[:, lo:hi], zeros, counts, qs, overflow, KEY_MIN + lo)
    for row, sketch in enumerate(sketches):
        expected = [sketch.quantile(q) for q in qs]
        assert [None if np.isnan(v) else v for v in got[row].tolist()] == expected, row
        assert [None if np.isnan(v) else v for v in narrow[row].tolist()] == expected, row
