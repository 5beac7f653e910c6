"""Each input partition is processed in offset order, without holes, across restarts.

The consumer normally starts a partition at its committed offset. But a worker whose table
recovery takes a while lets Faust's fetcher run during the recovery, and records fetched then
can be dropped while the stream's position moves past them: the agent's first record of the
partition then lies beyond the committed offset (seen after SIGKILLs with a recovery of tens of
seconds: offsets 1013..1488 of a partition never reached the agent). Processing on from there
loses those records for good (the events after them advance the watermark, so the missed ones
would be late even if they came back), and Faust never commits past the hole.

The runtime saves each partition's next offset with the state it belongs to. When the first
record of a partition after an assignment lies beyond it, the worker seeks the consumer back
and drops records of that partition until the expected offset arrives. The dropped records are
marked as acknowledged without being counted for commit, so Faust's committed offset cannot
jump over records not yet processed.

A rewind happens at most once per partition and assignment: if the expected offset never comes
back (deleted by retention while no worker ran), the worker goes on after ``give_up_after``
seconds and logs what was lost.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from enum import Enum

__all__ = ["InputSequence", "Verdict"]

log = logging.getLogger(__name__)

TP = tuple[str, int]


class Verdict(Enum):
    PROCESS = "process"
    REWIND = "rewind"  # seek the partition back to the expected offset, drop this record
    DROP = "drop"  # a record after the hole, fetched before the rewind took effect


class InputSequence:
    def __init__(
        self,
        expected: Callable[[TP], int | None],
        give_up_after: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._expected = expected
        self._give_up_after = give_up_after
        self._clock = clock
        self._rewinding: dict[TP, tuple[int, float]] = {}  # tp -> (offset awaited, since)
        self._rewound: set[TP] = set()
        self.rewinds = 0

    def assigned(self) -> None:
        """A new assignment: every partition may be rewound once again."""
        self._rewinding.clear()
        self._rewound.clear()

    def judge(self, tp: TP, offset: int) -> Verdict:
        awaited = self._rewinding.get(tp)
        if awaited is not None:
            want, since = awaited
            if offset <= want:
                del self._rewinding[tp]
                return Verdict.PROCESS
            if self._clock() - since < self._give_up_after:
                return Verdict.DROP
            del self._rewinding[tp]
            log.error(
                "%s/%d: offsets %d..%d did not come back after a rewind (deleted by retention?); "
                "going on from %d",
                tp[0],
                tp[1],
                want,
                offset - 1,
                offset,
            )
            return Verdict.PROCESS
        want_next = self._expected(tp)
        if want_next is None or offset <= want_next or tp in self._rewound:
            return Verdict.PROCESS
        log.warning(
            "%s/%d: the consumer delivered offset %d, but processing stopped before %d: "
            "seeking back to %d",
            tp[0],
            tp[1],
            offset,
            want_next,
            want_next,
        )
        self._rewinding[tp] = (want_next, self._clock())
        self._rewound.add(tp)
        self.rewinds += 1
        return Verdict.REWIND
