"""``summed_rows`` adds rows by target index as ``np.add.at`` does, for any order of targets,
repeated targets, targets without rows, and no rows at all."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.engine.panes import summed_rows


@pytest.mark.parametrize(
    ("rows", "targets", "width"), [(0, 3, 4), (1, 1, 2), (50, 7, 5), (400, 60, 70)]
)
def test_summed_rows_equal_add_at(rows: int, targets: int, width: int) -> None:
    rng = np.random.default_rng(rows)
    values = rng.integers(-5, 1_000, (rows, width))
    into = rng.integers(0, targets, rows)
    expected = np.zeros((targets, width), dtype=np.int64)
    np.add.at(expected, into, values)
    assert np.array_equal(summed_rows(values, into, targets), expected)


def test_a_target_without_rows_stays_zero() -> None:
    values = np.array([[1, 2], [3, 4], [5, 6]])
    into = np.array([2, 0, 2])
    assert summed_rows(values, into, 4).tolist() == [[3, 4], [0, 0], [6, 8], [0, 0]]
