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
    """The sketches of the scopes being computed: ``matrix`` holds dense bucket rows
    (``DENSE_KEYS`` wide), ``rows[slot][i]`` is the bucket row of scope ``i``'s sketch of that
    slot, and ``overflow`` maps a bucket row to its keys outside the dense range. Rows are
    gathered only for the sketches that have samples, and only the dense columns
    ``[columns[0], columns[1])``, outside which every bucket row is empty (a desk's durations
    span a few hundred of the dense range's keys). Column 0 of ``matrix`` holds the bucket key
    ``key_of_column_0`` (the dense range's first, unless the matrix holds only part of it)."""

    def __init__(
        self,
        matrix: npt.NDArray[np.int32],
        rows: list[npt.NDArray[np.int64]],
        overflow: dict[int, dict[int, int]] | None = None,
        columns: tuple[int, int] = (0, DENSE_KEYS),
        key_of_column_0: int = KEY_MIN,
        shared: bool = False,
    ) -> None:
        self.matrix = matrix
        self.rows = rows
        self.overflow = overflow or {}
        self.columns = columns
        self._key_of_column_0 = key_of_column_0
        # Scopes may share a bucket row (several steps' snapshots of one sketch that did not
        # change), with the same counts: quantiles are computed once per bucket row.
        self.shared = shared

    @property
    def first_key(self) -> int:
        """The bucket key of the first column ``dense`` gives."""
        return self._key_of_column_0 + self.columns[0]

    def dense(self, slot: int, which: npt.NDArray[np.int64]) -> npt.NDArray[np.int32]:
        lo, hi = self.columns
        return self.matrix[self.rows[slot][which], lo:hi]

    def extra(self, slot: int, which: npt.NDArray[np.int64]) -> dict[int, dict[int, int]]:
        """Overflow of these scopes' sketches, by position in ``which``."""
        if not self.overflow:
            return {}
        found = {}
        for i, b in enumerate(self.rows[slot][which].tolist()):
            keys = self.overflow.get(b)
            if keys:
                found[i] = keys
        return found

    def distinct(
        self, slot: int, which: npt.NDArray[np.int64]
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]] | None:
        """With ``shared`` bucket rows: positions in ``which`` of one scope per bucket row, and
        for each scope the index of its bucket row's among those; None when all differ.
        Scopes without a bucket row (all their samples zero) never share one."""
        if not self.shared or len(which) < 2:
            return None
        rows = self.rows[slot][which]
        key = np.where(rows > 0, rows, -1 - np.arange(len(rows)))
        _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
        if len(first) == len(rows):
            return None
        return first, inverse


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
        counts = self._counters[:, count]
        out = np.full((len(counts), len(qs)), np.nan)
        filled = np.flatnonzero(counts > 0)  # empty sketches stay NaN, and are not gathered
        if len(filled) == 0:
            return out
        # With steps computed together, one sketch may stand for several rows: once each.
        distinct = self._sketches.distinct(sketch, filled)
        once = filled if distinct is None else filled[distinct[0]]
        found = quantiles_of(
            self._sketches.dense(sketch, once),
            self._counters[once, zeros],
            counts[once],
            qs,
            self._sketches.extra(sketch, once),
            self._sketches.first_key,
        )
        out[filled] = found if distinct is None else found[distinct[1]]
        return out


def values_of(layout: Layout, observations: Iterable[Observation]) -> dict[str, dict[str, float]]:
    """Every KPI's statistics over some observations counted in one cell (None left out): the
    engine's own arithmetic on one row, for tests and single series."""
    row = layout.new_row()
    samples: list[tuple[int, int]] = []
    for obs in observations:
        layout.observe(obs, row, samples)
    counters = np.array([row], dtype=np.int64)
    slots = len(layout.sketches)
    matrix = np.zeros((max(slots, 1), DENSE_KEYS), dtype=np.int32)
    overflow: dict[int, dict[int, int]] = {}
    for s, key in samples:
        if 0 <= key - KEY_MIN < DENSE_KEYS:
            matrix[s, key - KEY_MIN] += 1
        else:
            extra = overflow.setdefault(s, {})
            extra[key] = extra.get(key, 0) + 1
    rows = [np.array([slot], dtype=np.int64) for slot in range(slots)]
    values, _ = layout.compute(counters, SketchView(matrix, rows, overflow))
    out: dict[str, dict[str, float]] = {}
    for k, kpi in enumerate(layout.kpis):
        out[kpi.name] = {
            stat: float(values[0, col])
            for stat, col in layout.stat_columns[k].items()
            if not np.isnan(values[0, col])
        }
    return out
