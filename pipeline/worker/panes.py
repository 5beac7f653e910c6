"""The records on the pane topic: what a worker tells the window closer about one input
partition it owns.

A record carries the full current value of the panes it names (never a difference), keyed by
input partition, pane start and scope, and optionally the partition's progress. Sending a
record twice, or an older one after a newer one, therefore never counts anything twice: the
closer keeps the newest value per pane, and each record is a consistent snapshot of its
partition (the panes below its progress are final, whatever came before).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from pipeline.core.scopes import Scope
from pipeline.core.source import NEVER, SourceCore

__all__ = [
    "PaneUpdate",
    "Progress",
    "backlog_total",
    "decode_update",
    "encode_updates",
    "progress_of",
]

# A record holds the scopes of one pane at most, so that it stays far below Kafka's default
# record size limit (1 MB) however many scopes a pane has.
_PANES_PER_RECORD = 1


@dataclass(frozen=True, slots=True)
class Progress:
    """How far an input partition has released its events, as the closer needs it.

    ``has_data``: an event was ever accepted. ``blocking``: no data yet but unread records (or
    an end offset not known yet): its first events may be older than every other partition's
    progress, so it holds closing back. A partition without data and nothing unread does not.
    """

    has_data: bool
    released_through: float
    blocking: bool
    backlog: dict[str, int] = field(default_factory=dict)  # scope (encoded) -> open tickets

    def to_json(self) -> dict[str, Any]:
        through = None if self.released_through == NEVER else self.released_through
        return {"d": self.has_data, "r": through, "b": self.blocking, "o": self.backlog}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Progress:
        through = NEVER if data["r"] is None else float(data["r"])
        return cls(bool(data["d"]), through, bool(data["b"]), dict(data["o"]))

    @property
    def holds_at(self) -> float | None:
        """The frontier this partition allows (None: it does not hold closing back)."""
        if self.blocking:
            return NEVER
        return self.released_through if self.has_data else None

    def same_as(self, other: Progress | None) -> bool:
        return other is not None and self.to_json() == other.to_json()


def progress_of(core: SourceCore | None, blocking: bool) -> Progress:
    if core is None or not core.has_data:
        return Progress(False, NEVER, blocking)
    backlog = {scope.encode(): n for scope, n in core.backlog.items() if n}
    return Progress(True, core.released_through, False, backlog)


@dataclass(frozen=True, slots=True)
class PaneUpdate:
    source: str
    partition: int
    panes: dict[int, dict[str, Any]]  # pane start -> scope (encoded) -> aggregate JSON
    progress: Progress | None

    @property
    def tp(self) -> tuple[str, int]:
        return (self.source, self.partition)


def encode_updates(
    source: str,
    partition: int,
    panes: Mapping[int, dict[str, Any]],
    progress: Progress,
) -> list[tuple[bytes, bytes]]:
    """Records (key, value) with the current value of ``panes`` (pane start -> the pane as
    stored), the partition's progress in the last one: the closer takes the panes before the
    progress that makes them final."""
    key = f"{source}:{partition}".encode()
    held = sorted(panes)
    chunks: list[list[int]] = [
        held[i : i + _PANES_PER_RECORD] for i in range(0, len(held), _PANES_PER_RECORD)
    ] or [[]]
    records = []
    for n, chunk in enumerate(chunks):
        value: dict[str, Any] = {
            "s": source,
            "p": partition,
            "panes": {str(start): panes[start] for start in chunk},
        }
        if n == len(chunks) - 1:
            value["progress"] = progress.to_json()
        records.append((key, orjson.dumps(value)))
    return records


def decode_update(raw: bytes) -> PaneUpdate:
    data = orjson.loads(raw)
    progress = data.get("progress")
    return PaneUpdate(
        str(data["s"]),
        int(data["p"]),
        {int(start): scopes for start, scopes in data["panes"].items()},
        Progress.from_json(progress) if progress is not None else None,
    )


def backlog_total(progress: dict[tuple[str, int], Progress]) -> Counter[Scope]:
    total: Counter[Scope] = Counter()
    for p in progress.values():
        for scope, n in p.backlog.items():
            total[Scope.decode(scope)] += n
    return total
