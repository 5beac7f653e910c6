"""Closing windows across partitions, incrementally.

A window is final when every input partition has released all events before its end (the
frontier, see ``progress.frontier_of``). For each spec the closer moves its running window
(``WindowState``) from one end to the next: the step's block of panes of every partition enters,
the block ``size`` earlier leaves, and only the scopes those blocks touch are computed again.
A step costs the same whatever the window's length: a 7-day window sliding by an hour costs what
a 1-hour one does. Blocks are built once per step length and kept until every spec with that
step has moved past them (they are subtracted when they leave).

Closing a window and stepping to it are apart: ``advance`` closes windows as the frontier moves
(what is late from then on depends on it), and ``flush``, once per batch of input, steps through
them. A quiet desk closes dozens of windows per batch, each step touching a few scopes: their
blocks are built in one go (``Block.of_steps``) and their values computed in one go, from each
step's snapshot (see ``windows``), rather than paying numpy's per-call cost at every step.
Panes are let go of once stepped past (``stepped_frontier``), not once closed.

After a restart, ``start_at`` resumes after the last window closed before it; the first window
is then summed from its blocks afresh, to the same integers, so to the same values.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from pipeline.core.context import CoreContext
from pipeline.core.windows import WindowSpec
from pipeline.engine.cells import Cells
from pipeline.engine.frames import WindowFrame
from pipeline.engine.layout import Layout
from pipeline.engine.panes import Block, Pane
from pipeline.engine.progress import NEVER
from pipeline.engine.windows import Snapshot, WindowState

__all__ = ["PaneSource", "WindowCloser"]

# Blocks of the finest step built in one go, at most (a flush steps through them in order).
_BUILT_TOGETHER = 64

# The most the snapshots of steps not computed yet hold (bytes): many scopes with wide
# sketches make large snapshots, and a few steps of those already amortise the computing.
_MAX_HELD = 8 << 20


@dataclass(frozen=True, slots=True)
class _Taken:
    """A window step whose values are computed with the other steps of the same close."""

    end: int
    snapshot: Snapshot | None  # None: nothing touched, or computed already
    ordered: npt.NDArray[np.int64]  # the scope rows of the frame, in report order
    frame: WindowFrame | None  # computed at once (the only step until the next flush)

    @property
    def nbytes(self) -> int:
        s = self.snapshot
        return 0 if s is None else s.counters.nbytes + s.copies.nbytes


class PaneSource(Protocol):
    """One input partition's final panes as the closer reads them: the partition's own core in
    the process that owns it, or the copy the closing worker keeps of another worker's."""

    @property
    def panes(self) -> Mapping[int, Pane]: ...


class WindowCloser:
    def __init__(self, ctx: CoreContext, cells: Cells) -> None:
        self._grid = ctx.grid
        self._layout: Layout = ctx.layout
        self._cells = cells
        self.closed_through: dict[str, float] = {spec.name: NEVER for spec in ctx.windows}
        # Every window ending at or before this is closed: read for every input record, so
        # kept (by ``_closed``) rather than computed.
        self.frontier = NEVER
        # Window steps taken and the CPU time they took (the bench's closing cost per step).
        self.steps = 0
        self.step_cpu_seconds = 0.0
        self.latest: dict[str, WindowFrame] = {}
        self._states = {spec.name: WindowState(self._layout) for spec in ctx.windows}
        # The block range [from, to) each spec's state holds, or None (empty).
        self._covered: dict[str, tuple[int, int] | None] = {s.name: None for s in ctx.windows}
        self._blocks: dict[tuple[int, int], Block] = {}  # (step, start) -> block
        self._finest_step = min((spec.step for spec in ctx.windows), default=0)
        # No window can close before the frontier reaches this (the earliest next end).
        self._next_due = NEVER
        # Windows closed by ``advance`` and not stepped yet: per spec, the first end to step;
        # the order they closed in (spec and end, per call); the sources to read them from.
        self._due: dict[str, int] = {}
        self._closings: list[tuple[WindowSpec, float]] = []
        self._sources: Sequence[PaneSource] = ()
        # Blocks starting before this are final (their windows are closed): built together.
        self._build_until = 0
        # Every window ending at or before this is stepped: its panes are no longer needed.
        self.stepped_through: dict[str, float] = {spec.name: NEVER for spec in ctx.windows}
        self.stepped_frontier = NEVER

    def _closed(self, spec: WindowSpec, through: float) -> None:
        self.closed_through[spec.name] = through
        self.frontier = min(self.closed_through.values())

    def _stepped(self, spec: WindowSpec, through: float) -> None:
        self.stepped_through[spec.name] = through
        self.stepped_frontier = min(self.stepped_through.values())

    def start_at(self, frontier: float) -> None:
        """After recovery: windows up to ``frontier`` were closed before the restart."""
        if self._due:
            raise RuntimeError("recovery with windows closed but not flushed")
        for spec in self._grid.specs:
            through = spec.last_end_at(frontier) if frontier > NEVER else NEVER
            self._closed(spec, through)
            self._stepped(spec, through)
            self._covered[spec.name] = None
            self._states[spec.name].clear()
        self._blocks.clear()
        self._next_due = NEVER

    def close(self, sources: Sequence[PaneSource], frontier: float) -> list[WindowFrame]:
        """Every window that ``frontier`` makes final, oldest first per spec, after those of
        earlier ``advance`` calls."""
        self.advance(sources, frontier)
        return self.flush()

    def closes_at(self, frontier: float) -> bool:
        """Whether ``frontier`` makes any window final that is not closed yet."""
        return frontier != NEVER and frontier >= self._next_due

    def advance(self, sources: Sequence[PaneSource], frontier: float) -> None:
        """Close every window that ``frontier`` makes final. The closed marks move at once
        (what is late depends on them); the windows are stepped and computed by ``flush``,
        with those of later calls: the engine flushes once per batch of input, so the steps
        of a batch share their blocks' building and their values' computing."""
        if not self.closes_at(frontier):
            return
        self._sources = sources
        for spec in self._grid.specs:
            done = self.closed_through[spec.name]
            if done == NEVER:
                # First close: start with the first window that can hold any data.
                oldest = min((s for src in sources for s in src.panes), default=None)
                if oldest is None:
                    continue
                done = oldest
            last = spec.last_end_at(frontier)
            first = (math.floor(done / spec.step) + 1) * spec.step
            if first > last:
                continue
            self._due.setdefault(spec.name, first)
            self._closings.append((spec, last))
            self._closed(spec, last)
        self._next_due = min(
            self.closed_through[s.name] + s.step if self.closed_through[s.name] > NEVER else NEVER
            for s in self._grid.specs
        )

    def flush(self) -> list[WindowFrame]:
        """The frames of every window closed since the last flush, in the order they closed
        (oldest first per spec)."""
        if not self._due:
            return []
        started = time.process_time()
        by_spec: dict[str, list[WindowFrame]] = {}
        for spec in self._grid.specs:
            first = self._due.get(spec.name)
            if first is not None:
                by_spec[spec.name] = self._step_through(spec, first, self.closed_through[spec.name])
        self._due = {}
        self._drop_blocks()
        frames = []
        emitted = dict.fromkeys(by_spec, 0)
        for spec, last in self._closings:
            done = by_spec[spec.name]
            at = emitted[spec.name]
            while at < len(done) and done[at].end <= last:
                if len(done[at]):
                    frames.append(done[at])
                at += 1
            emitted[spec.name] = at
        self._closings = []
        self.step_cpu_seconds += time.process_time() - started
        return frames

    def _step_through(self, spec: WindowSpec, end: int, last: float) -> list[WindowFrame]:
        """Step the spec's window from ``end`` through ``last``: its frames, empty ones
        included."""
        sources = self._sources
        self._build_until = int(last)
        frames: list[WindowFrame] = []
        taken: list[_Taken] = []
        held = 0  # bytes the snapshots in ``taken`` hold
        alone = end + spec.step > last  # one step: computed at once, no snapshot to take
        while end <= last:
            step = self._step(spec, end, sources, alone)
            taken.append(step)
            held += step.nbytes
            self.steps += 1
            self._stepped(spec, end)
            end = self._next_end(spec, end, int(last), sources)
            if held + self._states[spec.name].copied_bytes > _MAX_HELD:
                frames += self._computed(spec, taken)
                taken, held = [], 0
        frames += self._computed(spec, taken)
        if frames:
            self.latest[spec.name] = frames[-1]
        return frames

    def _computed(self, spec: WindowSpec, taken: list[_Taken]) -> list[WindowFrame]:
        """The frames of the steps taken, their values computed at once and applied in order
        (a scope a step did not touch keeps the value of the last step that did)."""
        state = self._states[spec.name]
        pending = [t.snapshot for t in taken if t.snapshot is not None]
        computed = iter(state.compute(pending) if pending else [])
        frames = []
        for t in taken:
            if t.frame is not None:
                frames.append(t.frame)
                continue
            if t.snapshot is not None:
                state.assign(t.snapshot.rows, *next(computed))
            frames.append(self._frame(spec, t.end, t.ordered))
        return frames

    def _frame(self, spec: WindowSpec, end: int, ordered: npt.NDArray[np.int64]) -> WindowFrame:
        state = self._states[spec.name]
        scopes = self._cells.scopes.scopes
        return WindowFrame(
            spec.name,
            end - spec.size,
            end,
            tuple(scopes[r] for r in ordered.tolist()),
            state.values[ordered],
            state.samples[ordered],
            self._layout,
        )

    def _next_end(
        self, spec: WindowSpec, end: int, last: int, sources: Sequence[PaneSource]
    ) -> int:
        """The next end to close: the next step, or, when the window is empty and nothing
        enters for a while, the first end whose window holds the next pane with data."""
        following = end + spec.step
        covered = self._covered[spec.name]
        if covered is not None or following > last:
            return following
        upcoming = min((s for src in sources for s in src.panes if s >= end), default=None)
        if upcoming is None:
            return max(following, last)  # only empty windows up to ``last``
        first_holding = (upcoming // spec.step + 1) * spec.step
        return max(following, min(first_holding, last))

    def _step(
        self, spec: WindowSpec, end: int, sources: Sequence[PaneSource], alone: bool
    ) -> _Taken:
        """Move the spec's window to ``end``; ``alone``: computed at once (no snapshot to
        take)."""
        state = self._states[spec.name]
        lo, hi = end - spec.size, end
        covered = self._covered[spec.name]
        touched: list[np.ndarray] = []
        if covered is None or covered[1] <= lo or covered[0] > lo:
            state.clear()  # summed afresh
            entering = range(lo, hi, spec.step)
            leaving: range = range(0)
        else:
            entering = range(covered[1], hi, spec.step)
            leaving = range(covered[0], lo, spec.step)
        for start in entering:
            block = self._block(spec.step, start, sources)
            state.apply(block, 1)
            touched.append(block.rows)
        for start in leaving:
            block = self._block(spec.step, start, sources)
            state.apply(block, -1)
            touched.append(block.rows)
        scopes = self._cells.scopes
        rows = np.unique(np.concatenate(touched)) if touched else np.zeros(0, dtype=np.int64)
        present = state.present(len(scopes))
        self._covered[spec.name] = (lo, hi) if len(present) else None
        ordered = scopes.in_report_order(present)
        if alone:
            state.refresh(rows)
            return _Taken(end, None, ordered, self._frame(spec, end, ordered))
        snapshot = state.snapshot(rows) if len(rows) else None
        return _Taken(end, snapshot, ordered, None)

    def _block(self, step: int, start: int, sources: Sequence[PaneSource]) -> Block:
        key = (step, start)
        block = self._blocks.get(key)
        if block is not None:
            return block
        fine = self._finest_step
        if 0 < fine < step and step % fine == 0:
            # A longer step is the sum of the finest step's blocks, which the finest spec's
            # window holds or will take: a few blocks summed instead of every pane again.
            parts = [self._block(fine, s, sources) for s in range(start, start + step, fine)]
            block = self._blocks[key] = Block.summed(parts, self._layout.width)
        else:
            # This block and the following ones this flush will step into, built together.
            starts = [
                s
                for s in range(start, min(self._build_until, start + _BUILT_TOGETHER * step), step)
                if (step, s) not in self._blocks
            ] or [start]
            pane = self._grid.pane
            built = Block.of_steps(
                [
                    [
                        p
                        for src in sources
                        for s in range(first, first + step, pane)
                        if (p := src.panes.get(s)) is not None
                    ]
                    for first in starts
                ],
                self._cells,
                self._layout.width,
            )
            self._blocks.update(((step, s), b) for s, b in zip(starts, built, strict=True))
            block = self._blocks[key]
        return block

    def _drop_blocks(self) -> None:
        """Blocks that no spec's window still holds or will take."""
        oldest: dict[int, float] = {}
        for spec in self._grid.specs:
            covered = self._covered[spec.name]
            # The oldest block the window holds (it leaves next), or, for an empty window, the
            # first block the next window takes.
            keep = (
                covered[0]
                if covered is not None
                else self.closed_through[spec.name] + spec.step - spec.size
            )
            oldest[spec.step] = min(oldest.get(spec.step, math.inf), keep)
        for key in [k for k in self._blocks if k[1] < oldest.get(k[0], math.inf)]:
            del self._blocks[key]
