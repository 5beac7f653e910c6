"""One window spec's running accumulators over every scope.

The window that ends at ``end`` is the sum of the blocks (window steps, see ``Block``) in
``[end - size, end)``. Moving to the next end adds the block that enters and subtracts the one
that leaves: every accumulator is an integer, so this is exact and the result does not depend
on the path (a window reached step by step equals one summed afresh after a restart). Only the
scopes that the entering and leaving blocks touch are computed again; the others keep their
values.

Computing is deferred so that the steps of one flush share it: each step takes a ``Snapshot``
of the counters of the scopes it touched, and ``compute`` turns the snapshots of many steps into
values at once. On a small desk a step touches a few dozen scopes, and computing two dozen KPIs
for them was mostly numpy's per-call cost, paid again at every step. A sketch is copied for the
snapshots only when it changed since its last copy (a step changes a few of the sketches of the
scopes it touches), and its quantiles are computed once per copy.

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
    """One step's counters of the scopes it touched, as they were at that step, and where
    their sketches' copies are (see ``WindowState.snapshot``)."""

    rows: Ints  # the scope rows
    counters: Ints  # rows x counter columns
    copies: Ints  # rows x sketch slots: the copy of that sketch (0: no sketch)


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
        # Per sketch slot, the counter column counting its samples (zeros included): a sketch
        # changed in a step exactly where that column did.
        self._sample_columns = np.array([c for c, _ in layout.sketch_columns], dtype=np.int64)
        # Sketches copied for the snapshots not computed yet: chunks of bucket rows (with the
        # dense column each starts at), their overflow, and per bucket row its copy (0: not
        # copied since it last changed). Copy 0 is the empty sketch.
        self._copies: list[tuple[npt.NDArray[np.int32], int]] = []
        self._copied = 1
        self.copied_bytes = 0  # what the copies hold
        self._copy_overflow: dict[int, dict[int, int]] = {}
        self._copy_of = np.zeros(len(self.buckets), dtype=np.int64)

    def clear(self) -> None:
        """Empty the accumulators (the window is summed afresh). The values stay: a scope is
        in a frame only while it is in the window, and every scope that enters is computed
        when it does; steps not computed yet still read the values they left."""
        self.counts[:] = 0
        self.buckets[:] = 0
        self._overflow.clear()
        self._copy_of[:] = 0

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
        if self._sketches:
            # Sketches whose samples change here are copied again for the next snapshot.
            changed = block.counts[:, self._sample_columns] != 0
            self._copy_of[self._bucket_of[block.rows, : self._sketches][changed]] = 0
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
            self._copy_of = _grown(self._copy_of, len(self.buckets), 0)
        return row

    def refresh(self, rows: Ints) -> None:
        """Compute the KPIs of these scope rows again from the accumulators, now (a step
        alone: read in place, nothing copied)."""
        if len(rows) == 0:
            return
        of = [self._bucket_of[rows, slot] for slot in range(self._sketches)]
        view = SketchView(self.buckets, of, self._overflow, self._dense_columns())
        self.assign(rows, *self.layout.compute(self.counts[rows], view))

    def _dense_columns(self) -> tuple[int, int]:
        """The dense columns any sketch has used (one column before any has)."""
        lo, hi = self._key_span
        return (lo, hi) if lo < hi else (0, 1)

    def snapshot(self, rows: Ints) -> Snapshot:
        """The counters of these scope rows as they are now, and their sketches: those that
        changed since they were last copied are copied now. Every snapshot taken until the
        next ``compute`` must be computed by it (the copies are let go of there)."""
        bucket_of = self._bucket_of[rows, : self._sketches]
        copies = self._copy_of[bucket_of]
        fresh = (copies == 0) & (bucket_of > 0)
        if fresh.any():
            new = np.unique(bucket_of[fresh])
            lo, hi = self._dense_columns()
            chunk = self.buckets[new, lo:hi]
            self._copies.append((chunk, lo))
            self.copied_bytes += chunk.nbytes
            first = self._copied
            self._copy_of[new] = np.arange(first, first + len(new), dtype=np.int64)
            self._copied += len(new)
            if self._overflow:
                for i, b in enumerate(new.tolist(), start=first):
                    if self._overflow.get(b):
                        self._copy_overflow[i] = dict(self._overflow[b])
            copies = self._copy_of[bucket_of]
        return Snapshot(rows, self.counts[rows], copies)

    def compute(self, snapshots: list[Snapshot]) -> list[tuple[Floats, Ints]]:
        """Every KPI's statistics and sample sizes of each snapshot's rows, in one computation
        for all of them; the snapshots must be all those taken since the last call."""
        buckets, first = self._copied_buckets()
        overflow, self._copy_overflow = self._copy_overflow, {}
        self._copies, self._copied, self.copied_bytes = [], 1, 0
        self._copy_of[:] = 0
        one = len(snapshots) == 1
        copies = snapshots[0].copies if one else np.concatenate([s.copies for s in snapshots])
        view = SketchView(
            buckets,
            [copies[:, slot] for slot in range(self._sketches)],
            overflow,
            (0, buckets.shape[1]),
            KEY_MIN + first,
            shared=not one,
        )
        counters = snapshots[0].counters if one else np.concatenate([s.counters for s in snapshots])
        values, samples = self.layout.compute(counters, view)
        out = []
        at = 0
        for s in snapshots:
            n = len(s.rows)
            out.append((values[at : at + n], samples[at : at + n]))
            at += n
        return out

    def _copied_buckets(self) -> tuple[npt.NDArray[np.int32], int]:
        """Every copy in one matrix, over the union of their dense columns (a copy is empty
        outside its own: the columns any sketch used when it was made), and the dense column
        of its first."""
        if not self._copies:
            return np.zeros((1, 1), dtype=np.int32), 0
        first = min(lo for _, lo in self._copies)
        end = max(lo + chunk.shape[1] for chunk, lo in self._copies)
        buckets = np.zeros((self._copied, end - first), dtype=np.int32)
        at = 1
        for chunk, lo in self._copies:
            left = lo - first
            buckets[at : at + len(chunk), left : left + chunk.shape[1]] = chunk
            at += len(chunk)
        return buckets, first

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
