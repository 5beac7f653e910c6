"""The accumulator layout of a catalogue: every KPI's counters as columns of one integer
matrix, its sketch as a slot, and its statistics as columns of the value table.

Names are resolved to positions once, here; the event path and window closing only use the
positions. Column 0 counts observations: a scope is part of a window's results when any
observation counted in it, whatever the KPIs made of it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from pipeline.core.kpis import Columns, KpiDefinition, Observe
from pipeline.core.observations import Observation, ObsKind
from pipeline.core.sketch import DENSE_KEYS, KEY_MIN, quantiles_of

__all__ = ["OBSERVATIONS", "Layout", "values_of"]

OBSERVATIONS = 0  # the column counting observations


@dataclass(frozen=True)
class Layout:
    kpis: tuple[KpiDefinition, ...]
    columns: tuple[str, ...]  # counter column names (versioned)
    sketches: tuple[str, ...]  # sketch names (versioned)
    slots: tuple[tuple[int, ...], ...]  # per KPI: its counter columns, then its sketch slot
    # Per observation kind: the (observe, slots) of every KPI listening to it.
    updates: dict[ObsKind, tuple[tuple[Observe, tuple[int, ...]], ...]]
    stats: tuple[tuple[int, str], ...]  # value-table columns: (KPI index, stat)
    stat_columns: tuple[dict[str, int], ...]  # per KPI: stat -> value-table column
    # Per sketch slot: the counter columns holding its sample count and its zeros.
    sketch_columns: tuple[tuple[int, int], ...]

    @classmethod
    def of(cls, kpis: Iterable[KpiDefinition]) -> Layout:
        kpis = tuple(kpis)
        columns: list[str] = ["observations"]
        sketches: list[str] = []
        sketch_columns: list[tuple[int, int]] = []
        slots: list[tuple[int, ...]] = []
        for kpi in kpis:
            mine = list(range(len(columns), len(columns) + len(kpi.counters)))
            columns += kpi.columns
            if kpi.sketch_name is not None:
                # Quantile KPIs count their samples first and their zeros third.
                sketch_columns.append((mine[0], mine[2]))
                mine.append(len(sketches))
                sketches.append(kpi.sketch_name)
            slots.append(tuple(mine))
        if len(set(columns)) != len(columns):
            raise ValueError("two KPI definitions share an accumulator name")
        updates = {
            kind: tuple(
                (kpi.observe_fn, slots[i]) for i, kpi in enumerate(kpis) if kind in kpi.listens_to
            )
            for kind in ObsKind
        }
        stats = tuple((i, stat) for i, kpi in enumerate(kpis) for stat in kpi.stats)
        stat_columns = tuple(
            {stat: j for j, (i, stat) in enumerate(stats) if i == k} for k in range(len(kpis))
        )
        return cls(
            kpis,
            tuple(columns),
            tuple(sketches),
            tuple(slots),
            updates,
            stats,
            stat_columns,
            tuple(sketch_columns),
        )

    @property
    def width(self) -> int:
        return len(self.columns)

    def new_row(self) -> list[int]:
        return [0] * len(self.columns)

    def observe(self, obs: Observation, row: list[int], samples: list[tuple[int, int]]) -> None:
        """Count one observation in one cell's row (and its sketch samples)."""
        row[OBSERVATIONS] += 1
        for update, slots in self.updates[obs.kind]:
            update(obs, row, samples, slots)

    def compute(
        self, counters: npt.NDArray[np.int64], sketch_view: SketchView
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
        """Every KPI's statistics (rows x stats, NaN for none) and sample sizes (rows x KPIs)
        for the accumulators of some scopes."""
        n = len(counters)
        values = np.full((n, len(self.stats)), np.nan)
        samples = np.zeros((n, len(self.kpis)), dtype=np.int64)
        view = _View(counters, sketch_view, self.sketch_columns)
        for k, kpi in enumerate(self.kpis):
            stats, sample = kpi.compute_fn(view, self.slots[k])
            for stat, column in self.stat_columns[k].items():
                values[:, column] = stats[stat]
            samples[:, k] = sample
        return values, samples


class SketchView:
    """The dense sketch rows of the scopes being computed, per sketch slot (rows x DENSE_KEYS),
    and their overflow (row -> key -> count) for keys outside the dense range."""

    def __init__(
        self,
        buckets: list[npt.NDArray[np.int32]],
        overflow: list[dict[int, dict[int, int]]] | None = None,
    ) -> None:
        self.buckets = buckets
        self.overflow = overflow


class _View(Columns):
    def __init__(
        self,
        counters: npt.NDArray[np.int64],
        sketches: SketchView,
        sketch_columns: tuple[tuple[int, int], ...],
    ) -> None:
        self._counters = counters
        self._sketches = sketches
        self._sketch_columns = sketch_columns

    def counter(self, column: int) -> npt.NDArray[np.int64]:
        return self._counters[:, column]

    def quantiles(self, sketch: int, qs: tuple[float, ...]) -> npt.NDArray[np.float64]:
        count, zeros = self._sketch_columns[sketch]
        extra = self._sketches.overflow[sketch] if self._sketches.overflow else None
        return quantiles_of(
            self._sketches.buckets[sketch],
            self._counters[:, zeros],
            self._counters[:, count],
            qs,
            extra,
        )


def values_of(layout: Layout, observations: Iterable[Observation]) -> dict[str, dict[str, float]]:
    """Every KPI's statistics over some observations counted in one cell (None left out): the
    engine's own arithmetic on one row, for tests and single series."""
    row = layout.new_row()
    samples: list[tuple[int, int]] = []
    for obs in observations:
        layout.observe(obs, row, samples)
    counters = np.array([row], dtype=np.int64)
    buckets: list[npt.NDArray[np.int32]] = []
    overflow: list[dict[int, dict[int, int]]] = []
    for slot in range(len(layout.sketches)):
        dense = np.zeros((1, DENSE_KEYS), dtype=np.int32)
        extra: dict[int, int] = {}
        for s, key in samples:
            if s == slot:
                if 0 <= key - KEY_MIN < DENSE_KEYS:
                    dense[0, key - KEY_MIN] += 1
                else:
                    extra[key] = extra.get(key, 0) + 1
        buckets.append(dense)
        overflow.append({0: extra} if extra else {})
    values, _ = layout.compute(counters, SketchView(buckets, overflow))
    out: dict[str, dict[str, float]] = {}
    for k, kpi in enumerate(layout.kpis):
        out[kpi.name] = {
            stat: float(values[0, col])
            for stat, col in layout.stat_columns[k].items()
            if not np.isnan(values[0, col])
        }
    return out
