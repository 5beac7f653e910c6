"""Partition cores and closers by hand, with a store written the way the engine writes it
(everything a call changed, at once)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pipeline.core.context import CoreContext
from pipeline.core.results import WindowResult
from pipeline.core.store import DictStore
from pipeline.engine.cells import Cells
from pipeline.engine.closing import PaneSource, WindowCloser
from pipeline.engine.frames import frame_results
from pipeline.engine.partition import PartitionCore
from pipeline.engine.progress import Progress, frontier_of

CELLS: dict[int, Cells] = {}


def cells_for(ctx: CoreContext) -> Cells:
    found = CELLS.get(id(ctx))
    if found is None:
        found = CELLS[id(ctx)] = Cells(ctx.breakdowns)
    return found


class StoredCore(PartitionCore):
    """A core that writes its changes to ``store`` after every accept and release."""

    def __init__(
        self, source: str, partition: int, ctx: CoreContext, store: DictStore | None = None
    ) -> None:
        super().__init__(source, partition, ctx, cells_for(ctx), persist=store is not None)
        self.store = store

    def _save(self) -> None:
        if self.store is not None:
            self.store.write(self.drain_writes())

    def accept(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        outcome = super().accept(*args, **kwargs)
        self._save()
        return outcome

    def release(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        rejections = super().release(*args, **kwargs)
        self._save()
        return rejections

    def restore_from(self, store: DictStore) -> None:
        self.restore(store.load())


def frontier(cores: Iterable[PartitionCore], blocking_empty: int = 0) -> float:
    """The engine's rule over partitions with data (and ``blocking_empty`` without)."""
    progress: list[Progress | None] = [
        Progress(True, c.released_through, False) for c in cores if c.has_data
    ]
    progress += [Progress(False, float("-inf"), True)] * blocking_empty
    return frontier_of(progress)


def closer(ctx: CoreContext) -> WindowCloser:
    return WindowCloser(ctx, cells_for(ctx))


def close(closer: WindowCloser, cores: Sequence[PaneSource], at: float) -> list[WindowResult]:
    return list(frame_results(closer.close(cores, at)))
