"""Panes: one input partition's accumulators over one pane of event time, per cell, columnar.

A release fills a ``PaneBuilder`` (a row of integer counters per cell, plus the cell's sketch
samples as (slot, key) pairs) and freezes it into a ``Pane``: numpy arrays that are not changed
again (a later release into the same pane, with a release tick shorter than a pane, makes a new
``Pane`` from both). Window closing rolls a step's panes of every partition up to scopes once
(``Block``), adds the block when it enters a window and subtracts it when it leaves.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import compress, repeat

import numpy as np
import numpy.typing as npt

from pipeline.engine.cells import Cells

__all__ = ["Block", "Pane", "PaneBuilder", "summed_rows"]

Ints = npt.NDArray[np.int64]
_EMPTY = np.zeros(0, dtype=np.int64)


def summed_rows(values: Ints, into: Ints, n: int) -> Ints:
    """``n`` rows, row ``r`` the sum of the rows ``values[i]`` with ``into[i] == r``: sorted
    and reduced in runs, about twice as fast as ``np.add.at`` on these shapes."""
    out = np.zeros((n, values.shape[1]), dtype=np.int64)
    if len(into) == 0:
        return out
    order = np.argsort(into, kind="stable")
    ordered = into[order]
    starts = np.flatnonzero(np.concatenate([[True], ordered[1:] != ordered[:-1]]))
    out[ordered[starts]] = np.add.reduceat(values[order], starts, axis=0)
    return out


class Pane:
    """Frozen accumulators of one pane: ``counts[i]`` is cell ``cells[i]``'s counter row; the
    sketch samples are (local cell index, sketch slot, bucket key, count).

    A pane is kept for as long as the longest window holds it (a day, by default, for every
    input partition), and most of its counters are zero (a cell sees a few kinds of
    observation in five minutes). So it keeps only the non-zero counters, as flat positions
    and values, in one array with its cells and samples; ``counts`` and the sample columns are
    made from it when read (at window closing and when encoded).
    """

    __slots__ = ("_data", "_k", "_m", "_n", "_width", "scoped", "start")

    def __init__(
        self, start: int, shape: tuple[int, int, int, int], data: Ints, scoped: bool = False
    ) -> None:
        """``data`` holds the cells, the non-zero counters' flat positions and values, and the
        sample columns, one after the other; ``shape`` is (cells, non-zero counters, samples,
        width)."""
        self.start = start
        # A pane converted from format 1 holds scope rows (already rolled up), not cells.
        self.scoped = scoped
        self._n, self._k, self._m, self._width = shape
        self._data = data

    @classmethod
    def of(
        cls,
        start: int,
        cells: Ints,
        counts: Ints,
        sk_cell: Ints,
        sk_slot: Ints,
        sk_key: Ints,
        sk_n: Ints,
        scoped: bool = False,
    ) -> Pane:
        """A pane from its counters as a dense matrix (cells x width) and its sample columns."""
        flat = counts.reshape(-1)
        where = np.flatnonzero(flat)
        shape = (len(cells), len(where), len(sk_key), counts.shape[1])
        data = np.concatenate(
            [cells, where, flat[where], sk_cell, sk_slot, sk_key, sk_n], dtype=np.int64
        )
        return cls(start, shape, data, scoped)

    @property
    def cells(self) -> Ints:
        return self._data[: self._n]

    @property
    def counts(self) -> Ints:
        n, k, width = self._n, self._k, self._width
        out = np.zeros(n * width, dtype=np.int64)
        out[self._data[n : n + k]] = self._data[n + k : n + 2 * k]
        return out.reshape(n, width)

    def _sample_column(self, i: int) -> Ints:
        at = self._n + 2 * self._k + i * self._m
        return self._data[at : at + self._m]

    @property
    def sk_cell(self) -> Ints:
        return self._sample_column(0)

    @property
    def sk_slot(self) -> Ints:
        return self._sample_column(1)

    @property
    def sk_key(self) -> Ints:
        return self._sample_column(2)

    @property
    def sk_n(self) -> Ints:
        return self._sample_column(3)

    @property
    def nbytes(self) -> int:
        """The bytes its arrays hold."""
        return int(self._data.nbytes)

    def merged(self, other: Pane) -> Pane:
        """This pane's accumulators plus ``other``'s (same start)."""
        if self.scoped != other.scoped:
            raise ValueError("a converted pane is never released into again")
        cells = np.concatenate([self.cells, other.cells])
        unique, inverse = np.unique(cells, return_inverse=True)
        counts = summed_rows(np.concatenate([self.counts, other.counts]), inverse, len(unique))
        sk_cell = inverse[np.concatenate([self.sk_cell, other.sk_cell + len(self.cells)])]
        return Pane.of(
            self.start,
            unique,
            counts,
            sk_cell,
            np.concatenate([self.sk_slot, other.sk_slot]),
            np.concatenate([self.sk_key, other.sk_key]),
            np.concatenate([self.sk_n, other.sk_n]),
            self.scoped,
        )


class PaneBuilder:
    """A pane being filled by a release."""

    __slots__ = ("rows", "samples", "start", "width")

    def __init__(self, start: int, width: int) -> None:
        self.start = start
        self.width = width
        self.rows: dict[int, list[int]] = {}
        self.samples: dict[int, list[tuple[int, int]]] = {}

    def cell(self, cell: int) -> tuple[list[int], list[tuple[int, int]]]:
        row = self.rows.get(cell)
        if row is None:
            row = self.rows[cell] = [0] * self.width
            self.samples[cell] = []
        return row, self.samples[cell]

    def freeze(self) -> Pane:
        # The pane's flat layout written from the rows directly (non-zero positions and values
        # picked out in C by compress and filter): one conversion to numpy instead of a dense
        # matrix, a search for its non-zero counters and seven arrays joined, which cost more
        # than the few events of a typical release.
        width = self.width
        cells = list(self.rows)
        where: list[int] = []
        nonzero: list[int] = []
        base = 0
        for row in self.rows.values():
            where += compress(range(base, base + width), row)
            nonzero += filter(None, row)
            base += width
        local: list[int] = []
        slots: list[int] = []
        keys: list[int] = []
        for i, samples in enumerate(self.samples.values()):
            for slot, key in samples:
                local.append(i)
                slots.append(slot)
                keys.append(key)
        m = len(keys)
        data = cells + where + nonzero + local + slots + keys
        data += repeat(1, m)
        shape = (len(cells), len(where), m, width)
        return Pane(self.start, shape, np.array(data, dtype=np.int64))


class Block:
    """The panes of one window step, of every partition, rolled up from cells to scopes:
    ``counts[i]`` belongs to scope row ``rows[i]`` (rows unique); sketch samples per scope row
    (rows may repeat)."""

    __slots__ = ("counts", "rows", "sk_key", "sk_n", "sk_row", "sk_slot")

    def __init__(
        self, rows: Ints, counts: Ints, sk_row: Ints, sk_slot: Ints, sk_key: Ints, sk_n: Ints
    ) -> None:
        self.rows, self.counts = rows, counts
        self.sk_row, self.sk_slot, self.sk_key, self.sk_n = sk_row, sk_slot, sk_key, sk_n

    @property
    def empty(self) -> bool:
        return len(self.rows) == 0

    @classmethod
    def summed(cls, blocks: Sequence[Block], width: int) -> Block:
        """The block of consecutive blocks' steps together: the same arrays ``of`` makes from
        all their panes (rows sorted, samples summed per row, slot and key), from a few
        blocks already rolled up to scopes rather than from every pane of every partition."""
        filled = [b for b in blocks if not b.empty]
        if not filled:
            return _empty_block(width)
        if len(filled) == 1:
            return filled[0]
        unique, inverse = np.unique(np.concatenate([b.rows for b in filled]), return_inverse=True)
        counts = summed_rows(np.concatenate([b.counts for b in filled]), inverse, len(unique))
        return cls(
            unique,
            counts,
            *_summed_samples(
                np.concatenate([b.sk_row for b in filled]),
                np.concatenate([b.sk_slot for b in filled]),
                np.concatenate([b.sk_key for b in filled]),
                np.concatenate([b.sk_n for b in filled]),
            ),
        )

    @classmethod
    def of(cls, panes: Iterable[Pane], cells: Cells, width: int) -> Block:
        """Every pane's accumulators rolled up to scopes."""
        return cls.of_steps([panes], cells, width)[0]

    @classmethod
    def of_steps(cls, steps: Sequence[Iterable[Pane]], cells: Cells, width: int) -> list[Block]:
        """The block of each step's panes, all at once: every pane of every step side by side
        (sample cell indexes renumbered), each scope row numbered apart per step, so the cost
        is a few array operations for all the steps (a quiet desk closes dozens of steps per
        batch, each with a few cells)."""
        by_cell = _Gathered()
        by_scope = _Gathered()  # converted panes: rows are scope rows already
        for index, panes in enumerate(steps):
            for pane in panes:
                if len(pane.cells):
                    (by_scope if pane.scoped else by_cell).add(pane, index)
        if not by_cell.cells and not by_scope.cells:
            return [_empty_block(width) for _ in steps]
        cell_ids, cell_counts, cell_samples, cell_steps = by_cell.joined(width)
        rows, of_cell = cells.expand(cell_ids)
        scoped_rows, scoped_counts, scoped_samples, scoped_steps = by_scope.joined(width)
        # A row of step i is numbered i * apart + row: rows of different steps never merge,
        # and sorting keeps the steps in order.
        apart = int(max(rows.max(initial=0), scoped_rows.max(initial=0))) + 1
        if len(steps) > 1:
            rows = rows + cell_steps[of_cell] * apart
            scoped_rows = scoped_rows + scoped_steps * apart
        unique, inverse = np.unique(np.concatenate([rows, scoped_rows]), return_inverse=True)
        counts = summed_rows(
            np.concatenate([cell_counts[of_cell], scoped_counts]), inverse, len(unique)
        )
        # Each sample counts in every scope row of its cell: a cell's rows are contiguous in
        # ``rows`` (starting at ``first[cell]``, ``per[cell]`` of them).
        local, slots, keys, ns = cell_samples
        per = np.bincount(of_cell, minlength=len(cell_ids))
        first = np.cumsum(per) - per
        reps = per[local]
        sample = np.repeat(np.arange(len(reps)), reps)
        within = np.arange(len(sample)) - np.repeat(np.cumsum(reps) - reps, reps)
        s_local, s_slots, s_keys, s_ns = scoped_samples
        sk_row, sk_slot, sk_key, sk_n = _summed_samples(
            np.concatenate([rows[first[local][sample] + within], scoped_rows[s_local]]),
            np.concatenate([slots[sample], s_slots]),
            np.concatenate([keys[sample], s_keys]),
            np.concatenate([ns[sample], s_ns]),
        )
        if len(steps) == 1:
            return [cls(unique, counts, sk_row, sk_slot, sk_key, sk_n)]
        bounds = np.arange(len(steps) + 1, dtype=np.int64) * apart
        row_at = np.searchsorted(unique, bounds).tolist()
        sample_at = np.searchsorted(sk_row, bounds).tolist()
        step_rows, step_sk_rows = unique % apart, sk_row % apart
        return [
            cls(
                step_rows[row_at[i] : row_at[i + 1]],
                counts[row_at[i] : row_at[i + 1]],
                step_sk_rows[sample_at[i] : sample_at[i + 1]],
                sk_slot[sample_at[i] : sample_at[i + 1]],
                sk_key[sample_at[i] : sample_at[i + 1]],
                sk_n[sample_at[i] : sample_at[i + 1]],
            )
            for i in range(len(steps))
        ]


def _empty_block(width: int) -> Block:
    return Block(_EMPTY, np.zeros((0, width), dtype=np.int64), _EMPTY, _EMPTY, _EMPTY, _EMPTY)


def _summed_samples(rows: Ints, slots: Ints, keys: Ints, ns: Ints) -> tuple[Ints, Ints, Ints, Ints]:
    """One sample per (scope row, slot, bucket key), its count the sum of theirs: a block is
    kept for as long as a window holds it, and the panes' samples repeat the same buckets (a
    scope such as ``all`` takes every cell's)."""
    if len(rows) < 2:
        return rows, slots, keys, ns
    order = np.lexsort((keys, slots, rows))
    rows, slots, keys = rows[order], slots[order], keys[order]
    starts = np.flatnonzero(
        np.concatenate(
            [[True], (rows[1:] != rows[:-1]) | (slots[1:] != slots[:-1]) | (keys[1:] != keys[:-1])]
        )
    )
    return rows[starts], slots[starts], keys[starts], np.add.reduceat(ns[order], starts)


class _Gathered:
    """Panes side by side: cells, counter rows and samples (with renumbered cell indexes), and
    the step each cell belongs to."""

    def __init__(self) -> None:
        self.cells: list[Ints] = []
        self.counts: list[Ints] = []
        self.samples: list[tuple[Ints, Ints, Ints, Ints]] = []
        self.steps: list[tuple[int, int]] = []  # (step index, cells)
        self._offset = 0

    def add(self, pane: Pane, step: int) -> None:
        self.cells.append(pane.cells)
        self.counts.append(pane.counts)
        self.samples.append((pane.sk_cell + self._offset, pane.sk_slot, pane.sk_key, pane.sk_n))
        self.steps.append((step, len(pane.cells)))
        self._offset += len(pane.cells)

    def joined(self, width: int) -> tuple[Ints, Ints, tuple[Ints, Ints, Ints, Ints], Ints]:
        if not self.cells:
            return _EMPTY, np.zeros((0, width), dtype=np.int64), (_EMPTY,) * 4, _EMPTY
        samples = tuple(np.concatenate([s[i] for s in self.samples]) for i in range(4))
        index, n = np.array(self.steps, dtype=np.int64).T
        steps = np.repeat(index, n)
        return np.concatenate(self.cells), np.concatenate(self.counts), samples, steps  # type: ignore[return-value]
