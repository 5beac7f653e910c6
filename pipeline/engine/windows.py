"""One window spec's running accumulators over every scope.

The window that ends at ``end`` is the sum of the blocks (window steps, see ``Block``) in
``[end - size, end)``. Moving to the next end adds the block that enters and subtracts the one
that leaves: every accumulator is an integer, so this is exact and the result does not depend
on the path (a window reached step by step equals one summed afresh after a restart). Only the
scopes that the entering and leaving blocks touch are computed again; the others keep their
values.

Sketches are dense bucket rows (``DENSE_KEYS`` wide), one per scope and quantile KPI that ever
had a sample, allocated on first use; keys outside the dense range are counted in an overflow
map.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from pipeline.core.sketch import DENSE_KEYS, KEY_MIN
from pipeline.engine.layout import OBSERVATIONS, Layout, SketchView
from pipeline.engine.panes import Block

__all__ = ["WindowState"]

Ints = npt.NDArray[np.int64]


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
        self.counts[:] = 0
        self.buckets[:] = 0
        self._overflow.clear()
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
        if len(rows) == 0:
            return
        counters = self.counts[rows]
        of = [self._bucket_of[rows, slot] for slot in range(self._sketches)]
        lo, hi = self._key_span
        view = SketchView(self.buckets, of, self._overflow, (lo, hi) if lo < hi else (0, 1))
        values, samples = self.layout.compute(counters, view)
        self.values[rows] = values
        self.samples[rows] = samples

    def present(self, scopes: int) -> Ints:
        """Scope rows with any observation in the window."""
        return np.flatnonzero(self.counts[: min(scopes, len(self.counts)), OBSERVATIONS] > 0)


def _grown(array: Any, rows: int, fill: float) -> Any:
    out = np.full((rows, *array.shape[1:]), fill, dtype=array.dtype)
    out[: len(array)] = array
    return out
