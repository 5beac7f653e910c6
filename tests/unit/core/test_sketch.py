from __future__ import annotations

import random

import pytest
from ddsketch import DDSketch

from pipeline.core.sketch import RELATIVE_ACCURACY, QuantileSketch


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
