"""Each input partition is processed in offset order, without holes.

Faust can drop records it has fetched: its fetch loop skips records of a partition that is not
active at that moment (paused during a table recovery or a rebalance) and abandons the rest of a
fetch when flow stops or the generation changes, while the client's position has already moved
past them. Faust never commits past such a hole, so the records come back after a restart, but
the pipeline's state is order-sensitive: the events after the hole have moved the partition's
watermark on, so the missing ones would come back late and never be counted. Seen in the fault
runs: a worker that recovered its table for twenty seconds read a partition from offset 1489
while its processing had stopped at 1013, and one record went missing in a running worker.

The runtime knows each partition's next offset (saved with the state, so also after a restart).
When a record lies beyond it, the worker seeks the partition back to that offset and drops the
records that were fetched after the hole until the re-fetched ones arrive. The dropped records
are marked as acknowledged without being counted for commit, so Faust's committed offset cannot
jump over records not yet processed.

A hole can also be real: offsets taken by transaction markers, or records deleted by retention
while no worker ran. Then the first record after the seek lies beyond the awaited offset, but
not beyond the record that showed the hole (everything fetched before the seek does): it is
processed, and the partition goes on from there.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from enum import Enum

__all__ = ["InputSequence", "Verdict"]

log = logging.getLogger(__name__)

TP = tuple[str, int]


class Verdict(Enum):
    PROCESS = "process"
    REWIND = "rewind"  # seek the partition back to the expected offset, drop this record
    DROP = "drop"  # fetched after the hole, before the seek took effect


class InputSequence:
    """``saved`` gives a partition's next offset as saved with its state (None: never seen);
    from there on the sequence follows the records it lets through."""

    def __init__(self, saved: Callable[[TP], int | None]) -> None:
        self._saved = saved
        self._next: dict[TP, int] = {}
        # tp -> (offset awaited, offset of the record that showed the hole)
        self._rewinding: dict[TP, tuple[int, int]] = {}
        self._skipped: list[tuple[TP, int, int]] = []
        self.rewinds = 0

    def assigned(self) -> None:
        """A new assignment: the consumer seeks every partition again, and the state of the
        partitions comes from their changelogs again."""
        self._rewinding.clear()
        self._next.clear()

    def awaited(self, tp: TP) -> int:
        """The offset to seek back to after a REWIND verdict."""
        return self._rewinding[tp][0]

    def take_skipped(self) -> list[tuple[TP, int, int]]:
        """The holes found real since the last call: (partition, first, last offset)."""
        skipped, self._skipped = self._skipped, []
        return skipped

    def judge(self, tp: TP, offset: int) -> Verdict:
        verdict = self._judge(tp, offset)
        if verdict is Verdict.PROCESS:
            self._next[tp] = max(self._next.get(tp, offset + 1), offset + 1)
        return verdict

    def _judge(self, tp: TP, offset: int) -> Verdict:
        rewinding = self._rewinding.get(tp)
        if rewinding is not None:
            awaited, hole = rewinding
            if offset > hole:
                return Verdict.DROP
            del self._rewinding[tp]
            if offset > awaited:
                log.warning(
                    "%s/%d: offsets %d..%d are not in the log (transaction markers, or deleted "
                    "by retention); going on from %d",
                    *tp,
                    awaited,
                    offset - 1,
                    offset,
                )
                self._skipped.append((tp, awaited, offset - 1))
            return Verdict.PROCESS
        want = self._next.get(tp)
        if want is None:
            want = self._saved(tp)
        if want is None or offset <= want:
            return Verdict.PROCESS
        log.warning(
            "%s/%d: offset %d was delivered while processing stopped before %d; seeking back",
            *tp,
            offset,
            want,
        )
        self._rewinding[tp] = (want, offset)
        self.rewinds += 1
        return Verdict.REWIND
