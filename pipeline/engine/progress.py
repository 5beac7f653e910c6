"""How far each input partition has got, and the one rule that turns that into the frontier up
to which windows close.

Every input partition of the input topics counts, wherever it is processed:

- a partition never heard of (no progress known) holds closing back;
- a partition with data holds it at its release progress (``released_through``: every event
  before it is in its panes, and an event before it is late there). An idle partition's own
  core moves that progress on with the wall clock (see ``PartitionCore.idle_until``), so the
  rule needs no exception for quiet inputs;
- a partition without data holds closing back while ``blocking`` (records unread, its end not
  known yet, or, where the closer cannot check its first events, not yet idle); otherwise it
  does not hold closing back.

The frontier is the minimum over the partitions that hold it: the same rule in a replay, in a
single worker and on the worker that closes windows for several.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["NEVER", "Progress", "frontier_of"]

NEVER = -math.inf


@dataclass(frozen=True, slots=True)
class Progress:
    has_data: bool
    released_through: float
    blocking: bool
    backlog: dict[str, int] = field(default_factory=dict)  # scope (encoded) -> open tickets

    @property
    def holds_at(self) -> float | None:
        """The frontier this partition allows (None: it does not hold closing back)."""
        if self.blocking:
            return NEVER
        return self.released_through if self.has_data else None

    def to_json(self) -> dict[str, Any]:
        through = None if self.released_through == NEVER else self.released_through
        return {
            "has_data": self.has_data,
            "released_through": through,
            "blocking": self.blocking,
            "backlog": self.backlog,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Progress:
        through = data["released_through"]
        return cls(
            bool(data["has_data"]),
            NEVER if through is None else float(through),
            bool(data["blocking"]),
            {str(k): int(v) for k, v in data["backlog"].items()},
        )


def frontier_of(progress: Iterable[Progress | None]) -> float:
    """Every window ending at or before this may close (NEVER: none yet)."""
    held = []
    for p in progress:
        if p is None:
            return NEVER
        at = p.holds_at
        if at is not None:
            held.append(at)
    return min(held) if held else NEVER
