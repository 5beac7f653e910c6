"""A pane's (or a window's) accumulators: named counters and named quantile sketches.

Accumulator names belong to KPI definitions and carry the KPI's version, so a changed formula
starts from fresh accumulators instead of mixing with state computed by the old one.
"""

from __future__ import annotations

from typing import Any

from pipeline.core.sketch import QuantileSketch

__all__ = ["Aggregate"]


class Aggregate:
    __slots__ = ("counters", "sketches")

    def __init__(self) -> None:
        self.counters: dict[str, float] = {}
        self.sketches: dict[str, QuantileSketch] = {}

    def add(self, name: str, amount: float = 1) -> None:
        self.counters[name] = self.counters.get(name, 0) + amount

    def sample(self, name: str, value: float) -> None:
        sketch = self.sketches.get(name)
        if sketch is None:
            sketch = self.sketches[name] = QuantileSketch()
        sketch.add(value)

    def count(self, name: str) -> float:
        return self.counters.get(name, 0)

    def sketch(self, name: str) -> QuantileSketch:
        return self.sketches.get(name) or QuantileSketch()

    def merge(self, other: Aggregate) -> None:
        for name, amount in other.counters.items():
            self.counters[name] = self.counters.get(name, 0) + amount
        for name, sketch in other.sketches.items():
            mine = self.sketches.get(name)
            if mine is None:
                mine = self.sketches[name] = QuantileSketch()
            mine.merge(sketch)

    def to_json(self) -> dict[str, Any]:
        return {"c": self.counters, "s": {k: v.to_json() for k, v in self.sketches.items()}}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Aggregate:
        agg = cls()
        agg.counters = dict(data["c"])
        agg.sketches = {k: QuantileSketch.from_json(v) for k, v in data["s"].items()}
        return agg
