"""A mergeable, serialisable quantile sketch with a guaranteed relative error (DDSketch).

The index mapping (value -> bucket and back, with the relative-accuracy guarantee) is ddsketch's
``LogarithmicMapping``; buckets are kept in a sparse dict so that a sketch serialises to a small
JSON object for table state and merges by adding counts. Quantiles use ddsketch's rank rule
(rank = q * (n - 1), lower value), so a reference can compute the exact value it approximates.
"""

from __future__ import annotations

from typing import Any

from ddsketch.mapping import LogarithmicMapping

__all__ = ["RELATIVE_ACCURACY", "QuantileSketch"]

RELATIVE_ACCURACY = 0.01
_MAPPING = LogarithmicMapping(RELATIVE_ACCURACY)


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
        if value > _MAPPING.min_possible:
            key = _MAPPING.key(value)
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
                return float(_MAPPING.value(key))
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
