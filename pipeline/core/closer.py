"""Closing windows across partitions.

A window is final when every source partition has released all events before its end: the
frontier is the minimum of the partitions' release progress. The closer merges the partitions'
partial panes for each newly final window and computes every KPI in every scope that saw data.
It keeps the newest closed window of each window spec for /metrics.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Protocol

from pipeline.core.aggregate import Aggregate
from pipeline.core.context import CoreContext
from pipeline.core.results import WindowResult
from pipeline.core.scopes import Scope
from pipeline.core.source import NEVER, SourceCore
from pipeline.core.windows import WindowSpec

__all__ = ["PaneSource", "Panes", "WindowCloser", "frontier_of", "panes_between"]

# One input partition's partial aggregates: pane start -> scope -> aggregate.
Panes = Mapping[int, Mapping[Scope, Aggregate]]


class PaneSource(Protocol):
    """One input partition's panes as the closer reads them: a ``SourceCore`` in the process
    that owns the partition, or the copy the window-closing worker keeps of another worker's
    partition. ``tag`` names the partition the same way wherever the panes are held, so cached
    blocks stay valid while the same partitions contribute."""

    @property
    def tag(self) -> str: ...

    @property
    def panes(self) -> Panes: ...


def panes_between(panes: Panes, first: int, end: int) -> Iterator[Mapping[Scope, Aggregate]]:
    """The panes starting in ``[first, end)``, in time order, not insertion order (which
    differs after a restore): floating-point sums then merge in the same order wherever the
    panes come from, so a window closed again after a crash, or by another worker, or in a
    replay, has bit-identical values."""
    for start in sorted(panes):
        if first <= start < end:
            yield panes[start]


def frontier_of(cores: Iterable[SourceCore], blocking_empty: int = 0) -> float:
    """Minimum release progress over the partitions that have data. ``blocking_empty`` counts
    partitions that have no data yet but are known to have records coming: they hold the
    frontier back, since their first events may be older than the others' progress."""
    if blocking_empty:
        return NEVER
    progress = [core.released_through for core in cores if core.has_data]
    return min(progress) if progress else NEVER


class WindowCloser:
    def __init__(self, ctx: CoreContext) -> None:
        self._grid = ctx.grid
        self._kpis = ctx.kpis
        self.closed_through: dict[str, float] = {spec.name: NEVER for spec in ctx.windows}
        self.latest: dict[str, list[WindowResult]] = {spec.name: [] for spec in ctx.windows}
        # Blocks: the partitions' panes of one window step merged once, (step, start) -> scope ->
        # aggregate. Consecutive windows of a spec share all but one block (a 24 h window moving
        # by 1 h shares 23), so each pane of each partition is merged once per spec instead of
        # once per window. Blocks lie before the frontier, where panes no longer change (an
        # event there is late); they are kept only for the same set of partitions.
        self._blocks: dict[tuple[int, int], dict[Scope, Aggregate]] = {}
        self._blocks_of: tuple[str, ...] = ()

    @property
    def frontier(self) -> float:
        """Every window ending at or before this is closed."""
        return min(self.closed_through.values())

    def start_at(self, frontier: float) -> None:
        """After recovery: windows up to ``frontier`` were closed before the restart."""
        for spec in self._grid.specs:
            self.closed_through[spec.name] = (
                spec.last_end_at(frontier) if frontier > NEVER else NEVER
            )

    def forget_blocks(self) -> None:
        """A pane before the frontier changed (the first events of a partition that had none
        while windows closed): merged blocks may no longer hold it."""
        self._blocks = {}

    def close(self, cores: Sequence[PaneSource], frontier: float) -> list[WindowResult]:
        """Results of every window that ``frontier`` makes final, oldest first per spec."""
        if frontier == NEVER:
            return []
        tags = tuple(core.tag for core in cores)
        if tags != self._blocks_of:
            self._blocks, self._blocks_of = {}, tags
        results: list[WindowResult] = []
        for spec in self._grid.specs:
            done = self.closed_through[spec.name]
            if done == NEVER:
                # First close: start with the first window that can hold any data.
                oldest = min((s for c in cores for s in c.panes), default=None)
                if oldest is None:
                    continue
                done = oldest
            ends = list(spec.ends_between(done, frontier))
            for end in ends:
                window_results = self._close_one(spec, end, cores)
                results.extend(window_results)
                self.latest[spec.name] = window_results
            if ends:
                self.closed_through[spec.name] = ends[-1]
                # Blocks older than the next window of this spec are done with.
                oldest = ends[-1] + spec.step - spec.size
                for key in [k for k in self._blocks if k[0] == spec.step and k[1] < oldest]:
                    del self._blocks[key]
        return results

    def _block(
        self, cores: Sequence[PaneSource], start: int, length: int
    ) -> dict[Scope, Aggregate]:
        key = (length, start)
        merged = self._blocks.get(key)
        if merged is None:
            merged = self._blocks[key] = {}
            for core in cores:
                for by_scope in panes_between(core.panes, start, start + length):
                    for scope, agg in by_scope.items():
                        target = merged.get(scope)
                        if target is None:
                            target = merged[scope] = Aggregate()
                        target.merge(agg)
        return merged

    def _close_one(
        self, spec: WindowSpec, end: int, cores: Sequence[PaneSource]
    ) -> list[WindowResult]:
        start = end - spec.size
        merged: dict[Scope, Aggregate] = {}
        for block_start in range(start, end, spec.step):
            for scope, agg in self._block(cores, block_start, spec.step).items():
                target = merged.get(scope)
                if target is None:
                    target = merged[scope] = Aggregate()
                target.merge(agg)
        results = []
        for scope in sorted(merged, key=Scope.encode):
            agg = merged[scope]
            for kpi in self._kpis:
                value = kpi.compute(agg)
                for stat in kpi.stats:
                    results.append(
                        WindowResult(
                            spec.name,
                            start,
                            end,
                            scope,
                            kpi.name,
                            kpi.version,
                            kpi.kpi_class.value,
                            kpi.unit,
                            stat,
                            value.stats.get(stat),
                            value.sample_size,
                        )
                    )
        return results
