"""Quantile sketches with a guaranteed relative error (DDSketch), in two forms.

The index mapping (value -> bucket key and back, with the relative-accuracy guarantee) is
ddsketch's ``LogarithmicMapping``. Quantiles use ddsketch's rank rule (rank = q * (n - 1), lower
value), so a reference can compute the exact value it approximates.

- ``QuantileSketch``: one sketch with sparse buckets (a dict), for single series (alert
  statistics, tests).
- Dense bucket arrays (``DENSE_KEYS``, ``quantiles_of``): the engine keeps a window's sketches
  as rows of a fixed-range bucket array, one row per scope and quantile KPI, so a window step is
  an array addition and the quantiles of every changed scope come from one cumulative sum. The
  range covers durations from about 0.08 s to 300 years; a value outside it (a key below
  ``KEY_MIN`` or from ``KEY_MAX`` on) is counted in a small overflow map beside the array.
  Values at or below the mapping's smallest distinguishable value count as zeros.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from ddsketch.mapping import LogarithmicMapping

__all__ = [
    "DENSE_KEYS",
    "KEY_MAX",
    "KEY_MIN",
    "MIN_POSITIVE",
    "RELATIVE_ACCURACY",
    "QuantileSketch",
    "key_of",
    "quantiles_of",
    "value_of_key",
]

RELATIVE_ACCURACY = 0.01
_MAPPING = LogarithmicMapping(RELATIVE_ACCURACY)
MIN_POSITIVE = _MAPPING.min_possible  # values at or below count as zeros
KEY_MIN = -128  # about 0.08 s
KEY_MAX = 1152  # about 1e10 s
DENSE_KEYS = KEY_MAX - KEY_MIN
# The value each dense bucket stands for (its key's representative value).
_BUCKET_VALUES = np.array([_MAPPING.value(k) for k in range(KEY_MIN, KEY_MAX)], dtype=np.float64)

key_of = _MAPPING.key


def value_of_key(key: int) -> float:
    return float(_MAPPING.value(key))


class QuantileSketch:
    """Non-negative values (durations, costs); negatives are rejected."""

    __slots__ = ("bins", "count", "total", "zeros")

    def __init__(self) -> None:
        self.bins: dict[int, int] = {}
        self.zeros = 0
        self.count = 0
        self.total = 0.0

    def add(self, value: float) -> None:
        if value < 0:
            raise ValueError(f"sketch values must be >= 0, got {value}")
        if value > MIN_POSITIVE:
            key = key_of(value)
            self.bins[key] = self.bins.get(key, 0) + 1
        else:
            self.zeros += 1
        self.count += 1
        self.total += value

    def merge(self, other: QuantileSketch) -> None:
        for key, n in other.bins.items():
            self.bins[key] = self.bins.get(key, 0) + n
        self.zeros += other.zeros
        self.count += other.count
        self.total += other.total

    @property
    def mean(self) -> float | None:
        return self.total / self.count if self.count else None

    def quantile(self, q: float) -> float | None:
        if not 0 <= q <= 1:
            raise ValueError(f"quantile must be within 0..1, got {q}")
        if self.count == 0:
            return None
        rank = q * (self.count - 1)
        if rank < self.zeros:
            return 0.0
        seen = self.zeros
        for key in sorted(self.bins):
            seen += self.bins[key]
            if seen > rank:
                return value_of_key(key)
        raise AssertionError("unreachable: rank is below count")

    def to_json(self) -> dict[str, Any]:
        return {
            "b": {str(k): n for k, n in self.bins.items()},
            "z": self.zeros,
            "n": self.count,
            "s": self.total,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> QuantileSketch:
        sketch = cls()
        sketch.bins = {int(k): int(n) for k, n in data["b"].items()}
        sketch.zeros = int(data["z"])
        sketch.count = int(data["n"])
        sketch.total = float(data["s"])
        return sketch


def quantiles_of(
    buckets: npt.NDArray[np.int32],
    zeros: npt.NDArray[np.int64],
    counts: npt.NDArray[np.int64],
    qs: Sequence[float],
    overflow: Mapping[int, Mapping[int, int]] | None = None,
    first_key: int = KEY_MIN,
) -> npt.NDArray[np.float64]:
    """Quantiles ``qs`` of many sketches at once: ``buckets`` (rows x dense keys from
    ``first_key`` on, at most up to ``KEY_MAX``) with each row's zero count and total count.
    Returns rows x len(qs), NaN where a row is empty. ``overflow``: row -> key -> count for
    keys outside those columns (rows with overflow are computed one by one, exactly as a
    sparse sketch would)."""
    out = np.full((len(counts), len(qs)), np.nan)
    rows = np.flatnonzero(counts > 0)  # empty sketches stay NaN
    if len(rows) == 0:
        return out
    # Only the bucket columns any of these sketches uses: durations of one desk span a few
    # hundred of the dense range's keys.
    sub = buckets if len(rows) == len(counts) else buckets[rows]
    used = np.flatnonzero(sub.any(axis=0))
    lo, hi = (int(used[0]), int(used[-1]) + 1) if len(used) else (0, 1)
    width = hi - lo
    n = len(rows)
    # Cumulative counts per row, rows made disjoint by an offset larger than any count, so one
    # sorted search finds, for every row and quantile, the first bucket whose count passes the
    # rank (array methods and ufuncs: numpy's function wrappers cost more than the work here).
    offset = (np.arange(n, dtype=np.int64) << 40)[:, None]
    cum = sub[:, lo:hi].cumsum(axis=1, dtype=np.int64)
    cum += offset
    row_zeros = zeros[rows][:, None]
    rank = (counts[rows] - 1).astype(np.float64)[:, None] * np.asarray(qs, dtype=np.float64)
    # seen = zeros + cum > rank  <=>  cum > floor(rank - zeros) for integer cum
    need = np.floor(rank - row_zeros).astype(np.int64) + offset
    first = cum.ravel().searchsorted(need.ravel(), side="right").reshape(need.shape)
    first -= np.arange(n, dtype=np.int64)[:, None] * width
    np.minimum(np.maximum(first, 0, out=first), width - 1, out=first)
    values = _BUCKET_VALUES[first_key - KEY_MIN + lo + first]
    out[rows] = np.where(rank < row_zeros, 0.0, values)
    for row, extra in (overflow or {}).items():
        if extra:
            out[row] = _sparse_quantiles(
                buckets[row], first_key, int(zeros[row]), int(counts[row]), qs, extra
            )
    return out


def _sparse_quantiles(
    dense: npt.NDArray[np.int32],
    first_key: int,
    zeros: int,
    count: int,
    qs: Sequence[float],
    extra: Mapping[int, int],
) -> list[float]:
    sketch = QuantileSketch()
    sketch.zeros, sketch.count = zeros, count
    for i in np.flatnonzero(dense).tolist():
        sketch.bins[i + first_key] = int(dense[i])
    for key, c in extra.items():
        if c:
            sketch.bins[key] = sketch.bins.get(key, 0) + c
    return [v if (v := sketch.quantile(q)) is not None else float("nan") for q in qs]
