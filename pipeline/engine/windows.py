"""One window spec's running accumulators over every scope.

The window that ends at ``end`` is the sum of the blocks (window steps, see ``Block``) in
``[end - size, end)``. Moving to the next end adds the block that enters and subtracts the one
that leaves: every accumulator is an integer, so this is exact and the result does not depend
on the path (a window reached step by step equals one summed afresh after a restart). Only the
scopes that the entering and leaving blocks touch are computed again; the others keep their
values.

Computing is deferred so that the steps of one close share it: each step takes a ``Snapshot`` of
the accumulators of the scopes it touched, and ``compute`` turns the snapshots of many steps into
values at once. On a small desk a step touches a few dozen scopes, and computing two dozen KPIs
for them was mostly numpy's per-call cost, paid again at every step.

Sketches are dense bucket rows (``DENSE_KEYS`` wide), one per scope and quantile KPI that ever
had a sample, allocated on first use; keys outside the dense range are counted in an overflow
map.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from pipeline.core.sketch import DENSE_KEYS, KEY_MIN
from pipeline.engine.layout import OBSERVATIONS, Layout, SketchView
from pipeline.engine.panes import Block

__all__ = ["Snapshot", "WindowState"]

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One step's accumulators of the scopes it touched, as they were at that step."""

    rows: Ints  # the scope rows
    counters: Ints  # rows x counter columns
    # rows x sketch slots: the row of ``buckets`` holding that sketch (row 0 is empty)
    bucket_of: Ints
    buckets: npt.NDArray[np.int32]  # bucket rows x the dense columns [first, first + width)
    first: int
    overflow: dict[int, dict[int, int]]  # bucket row -> keys outside the dense range


class WindowState:
    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self._sketches = len(layout.sketches)
        self.counts = np.zeros((64, layout.width), dtype=np.int64)
        self.values = np.full((64, len(layout.stats)), np.nan)
        self.samples = np.zeros((64, len(layout.kpis)), dtype=np.int64)
        # Bucket rows; row 0 stays empty and stands for every (scope, slot) without samples.
        self.buckets = np.zeros((16, DENSE_KEYS), dtype=np.int32)
        self._bucket_rows_used = 1
        # The dense columns any bucket row ever used, [lo, hi): quantiles read only those.
        self._key_span = (DENSE_KEYS, 0)
        self._overflow: dict[int, dict[int, int]] = {}  # bucket row -> key -> count
        # Per scope row and sketch slot, its bucket row (0: none yet).
        self._bucket_of = np.zeros((64, max(1, self._sketches)), dtype=np.int64)

    def clear(self) -> None:
        self.clear_accumulators()
        self.clear_values()

    def clear_accumulators(self) -> None:
        self.counts[:] = 0
        self.buckets[:] = 0
        self._overflow.clear()

    def clear_values(self) -> None:
        self.values[:] = np.nan
        self.samples[:] = 0

    def _grow(self, rows: int) -> None:
        if rows <= len(self.counts):
            return
        size = max(rows, 2 * len(self.counts))
        self.counts = _grown(self.counts, size, 0)
        self.values = _grown(self.values, size, np.nan)
        self.samples = _grown(self.samples, size, 0)
        self._bucket_of = _grown(self._bucket_of, size, 0)

    def apply(self, block: Block, sign: int) -> None:
        """Add (sign 1) or subtract (sign -1) a block."""
        if block.empty:
            return
        self._grow(int(block.rows.max()) + 1)
        if sign > 0:
            self.counts[block.rows] += block.counts
        else:
            self.counts[block.rows] -= block.counts
        if len(block.sk_row):
            target = self._bucket_rows(block.sk_row, block.sk_slot)
            offset = block.sk_key - KEY_MIN
            dense = (offset >= 0) & (offset < DENSE_KEYS)
            n = block.sk_n if sign > 0 else -block.sk_n
            columns = offset[dense]
            np.add.at(self.buckets, (target[dense], columns), n[dense].astype(np.int32))
            if len(columns):
                lo, hi = self._key_span
                self._key_span = (min(lo, int(columns.min())), max(hi, int(columns.max()) + 1))
            if not dense.all():
                for row, key, c in zip(
                    target[~dense].tolist(),
                    block.sk_key[~dense].tolist(),
                    n[~dense].tolist(),
                    strict=True,
                ):
                    extra = self._overflow.setdefault(row, {})
                    extra[key] = extra.get(key, 0) + c

    def _bucket_rows(self, rows: Ints, slots: Ints) -> Ints:
        found = self._bucket_of[rows, slots]
        missing = found == 0
        if missing.any():
            for row, slot in zip(rows[missing].tolist(), slots[missing].tolist(), strict=True):
                if self._bucket_of[row, slot] == 0:
                    self._bucket_of[row, slot] = self._new_bucket_row()
            found = self._bucket_of[rows, slots]
        return found

    def _new_bucket_row(self) -> int:
        row = self._bucket_rows_used
        self._bucket_rows_used += 1
        if row >= len(self.buckets):
            self.buckets = _grown(self.buckets, 2 * len(self.buckets), 0)
        return row

    def refresh(self, rows: Ints) -> None:
        """Compute the KPIs of these scope rows again from the accumulators."""
        if len(rows):
            self.assign(rows, *self.compute([self.snapshot(rows)])[0])

    def snapshot(self, rows: Ints) -> Snapshot:
        """The accumulators of these scope rows as they are now, for ``compute``."""
        bucket_of = self._bucket_of[rows, : self._sketches]
        used = bucket_of > 0
        taken = bucket_of[used]
        lo, hi = self._key_span
        if lo >= hi:
            lo, hi = 0, 1
        buckets = np.empty((len(taken) + 1, hi - lo), dtype=np.int32)
        buckets[0] = 0
        buckets[1:] = self.buckets[taken, lo:hi]
        local = np.zeros_like(bucket_of)
        local[used] = np.arange(1, len(taken) + 1, dtype=np.int64)
        overflow = {}
        if self._overflow:
            for i, b in enumerate(taken.tolist(), start=1):
                if self._overflow.get(b):
                    overflow[i] = dict(self._overflow[b])
        return Snapshot(rows, self.counts[rows], local, buckets, lo, overflow)

    def compute(self, snapshots: list[Snapshot]) -> list[tuple[Floats, Ints]]:
        """Every KPI's statistics and sample sizes of each snapshot's rows, in one computation
        for all of them."""
        if len(snapshots) == 1:
            one = snapshots[0]
            view = SketchView(
                one.buckets,
                [one.bucket_of[:, slot] for slot in range(self._sketches)],
                one.overflow,
                (0, one.buckets.shape[1]),
                KEY_MIN + one.first,
            )
            return [self.layout.compute(one.counters, view)]
        counters = np.concatenate([s.counters for s in snapshots])
        buckets, bucket_of, overflow, first = _stacked(snapshots)
        view = SketchView(
            buckets,
            [bucket_of[:, slot] for slot in range(self._sketches)],
            overflow,
            (0, buckets.shape[1]),
            KEY_MIN + first,
        )
        values, samples = self.layout.compute(counters, view)
        out = []
        at = 0
        for s in snapshots:
            n = len(s.rows)
            out.append((values[at : at + n], samples[at : at + n]))
            at += n
        return out

    def assign(self, rows: Ints, values: Floats, samples: Ints) -> None:
        """Computed values of these rows (``compute``) become the window's."""
        self.values[rows] = values
        self.samples[rows] = samples

    def present(self, scopes: int) -> Ints:
        """Scope rows with any observation in the window."""
        return np.flatnonzero(self.counts[: min(scopes, len(self.counts)), OBSERVATIONS] > 0)


def _grown(array: Any, rows: int, fill: float) -> Any:
    out = np.full((rows, *array.shape[1:]), fill, dtype=array.dtype)
    out[: len(array)] = array
    return out


def _stacked(
    snapshots: list[Snapshot],
) -> tuple[npt.NDArray[np.int32], Ints, dict[int, dict[int, int]], int]:
    """The bucket rows of several snapshots in one matrix over the union of their columns,
    with every snapshot's ``bucket_of`` pointing into it."""
    first = min(s.first for s in snapshots)
    end = max(s.first + s.buckets.shape[1] for s in snapshots)
    if all(s.first == first and s.first + s.buckets.shape[1] == end for s in snapshots):
        buckets = np.concatenate([s.buckets for s in snapshots])
    else:
        buckets = np.zeros((sum(len(s.buckets) for s in snapshots), end - first), dtype=np.int32)
        at = 0
        for s in snapshots:
            left = s.first - first
            buckets[at : at + len(s.buckets), left : left + s.buckets.shape[1]] = s.buckets
            at += len(s.buckets)
    parts = []
    overflow: dict[int, dict[int, int]] = {}
    at = 0
    for s in snapshots:
        parts.append(s.bucket_of + at)  # a snapshot's own row 0 is empty as well
        for b, extra in s.overflow.items():
            overflow[b + at] = extra
        at += len(s.buckets)
    return buckets, np.concatenate(parts), overflow, first
