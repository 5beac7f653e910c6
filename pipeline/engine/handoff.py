"""The pane hand-off between workers: what a worker that does not close windows tells the one
that does, about each input partition it owns.

In one process (one worker, replay, tests) the closer reads the partition cores directly and
nothing here is used. With several workers, each publishes to the one-partition pane topic,
with its batch, the full value of every pane its releases changed and then the partition's
progress; the worker that owns the pane topic keeps them as ``RemotePartition`` sources of its
closer. Full values, never differences: a record delivered twice, or an older one after a newer
one, never counts anything twice (panes are frozen once released, progress only moves on), and
a record with progress is a consistent snapshot (its panes below the progress are final).

Record: key ``<source>:<partition>``, value ``{"format": "pane-update/2", "source",
"partition", "panes": [PaneRecord, ...], "progress": Progress | null}`` (see formats).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from pipeline.engine import formats
from pipeline.engine.cells import Cells
from pipeline.engine.layout import Layout
from pipeline.engine.panes import Pane
from pipeline.engine.progress import Progress

__all__ = ["UPDATE_FORMAT", "PaneUpdate", "RemotePartition", "decode_update", "encode_update"]

UPDATE_FORMAT = "pane-update/2"


@dataclass(frozen=True, slots=True)
class PaneUpdate:
    source: str
    partition: int
    panes: list[Pane]
    progress: Progress | None

    @property
    def tp(self) -> tuple[str, int]:
        return (self.source, self.partition)


def encode_update(
    source: str,
    partition: int,
    panes: list[Pane],
    progress: Progress | None,
    layout: Layout,
    cells: Cells,
) -> tuple[bytes, bytes]:
    value = {
        "format": UPDATE_FORMAT,
        "source": source,
        "partition": partition,
        "panes": [formats.encode_pane(p, layout, cells) for p in panes],
        "progress": progress.to_json() if progress is not None else None,
    }
    return f"{source}:{partition}".encode(), orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY)


def decode_update(raw: bytes | None, layout: Layout, cells: Cells) -> PaneUpdate:
    if raw is None:  # records come typed as the input topics' records, which may be tombstones
        raise ValueError("not a pane update: a record without a value")
    data: dict[str, Any] = orjson.loads(raw)
    if data.get("format") != UPDATE_FORMAT:
        raise ValueError(f"not a pane update of format {UPDATE_FORMAT}: {data.get('format')!r}")
    progress = data["progress"]
    return PaneUpdate(
        str(data["source"]),
        int(data["partition"]),
        [formats.decode_pane(p, layout, cells) for p in data["panes"]],
        Progress.from_json(progress) if progress is not None else None,
    )


class RemotePartition:
    """An input partition processed by another worker, as the closer knows it."""

    def __init__(self) -> None:
        self.progress: Progress | None = None
        self.panes: dict[int, Pane] = {}

    def take(self, update: PaneUpdate) -> None:
        for pane in update.panes:
            self.panes[pane.start] = pane
        new = update.progress
        if new is None:
            return
        old = self.progress
        # Progress only moves on; an older record read after a newer one changes nothing.
        if old is None or not old.has_data or new.released_through >= old.released_through:
            self.progress = new

    def prune(self, oldest_needed: int) -> None:
        for start in [s for s in self.panes if s < oldest_needed]:
            del self.panes[start]
