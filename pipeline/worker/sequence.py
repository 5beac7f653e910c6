"""Each input partition is processed in offset order, without holes.

Faust can drop records it has fetched: its fetch loop skips records of a partition that is not
active at that moment (paused during a table recovery or a rebalance) and abandons the rest of a
fetch when flow stops or the generation changes, while the client's position has already moved
past them. The pipeline's state is order-sensitive: the events after such a hole move the
partition's watermark on, so the missing ones would come back late (after a restart) and never
be counted. Seen in the fault runs: a worker that recovered its table for twenty seconds read a
partition from offset 1489 while its processing had stopped at 1013.

A partition's offsets also have holes that are no loss: transaction markers take an offset
each, and retention deletes old records. They cannot be told from a loss without reading the
log again, and some of Faust's drops cannot be seen from outside it (records fetched while a
table recovery reads the changelogs go to the recovery's loop), so every hole is sought back:
the records fetched after it are dropped until the re-fetched ones arrive. The first record of
a partition after an assignment is compared with the next offset saved with the partition's
state, since a previous process may have lost records and nothing else tells.

After a seek back the first record may still lie beyond the awaited offset (it is not beyond
the record that showed the hole: everything fetched before the seek is). Either those offsets
hold no record, or Faust dropped the re-fetched records again (a seek made while the partition
was not yet active after a table recovery). The verdict is then CHECK: the worker asks the log
itself (``pipeline.worker.log_probe``) and hands the answer to ``checked``. A hole confirmed by
the log is passed and reported as skipped; otherwise the partition is sought back again.

A hole at a partition's end has no next record to show it (its last records dropped, or every
record fetched during a slow start): the worker's refresh timer seeks back a partition that
has unread records and delivers none for a while (``Engine.unread_and_quiet``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from enum import Enum

__all__ = ["InputSequence", "Verdict"]

log = logging.getLogger(__name__)

TP = tuple[str, int]
_DROPS_WORTH_A_WARNING = 1_000


class Verdict(Enum):
    PROCESS = "process"
    REWIND = "rewind"  # seek the partition back to the expected offset, drop this record
    DROP = "drop"  # fetched after the hole, before the seek took effect
    # The first record after a seek back lies beyond the offset awaited: ask the log whether
    # the offsets between hold records (then ``checked``).
    CHECK = "check"


class InputSequence:
    """``saved`` gives a partition's next offset as saved with its state (None: never seen);
    from there on the sequence follows the records it lets through."""

    def __init__(self, saved: Callable[[TP], int | None]) -> None:
        self._saved = saved
        self._next: dict[TP, int] = {}
        # tp -> (offset awaited, offset of the record that showed the hole)
        self._rewinding: dict[TP, tuple[int, int]] = {}
        self._dropped: dict[TP, int] = {}  # records dropped while rewinding, per partition
        self._skipped: list[tuple[TP, int, int]] = []
        self._from_saved: dict[TP, bool] = {}
        self.rewinds = 0

    def assigned(self) -> None:
        """A new assignment: the consumer seeks every partition again, and the state of the
        partitions comes from their changelogs again."""
        self._rewinding.clear()
        self._dropped.clear()
        self._next.clear()

    def delivered(self, tp: TP) -> bool:
        """A record of ``tp`` was let through since the last assignment."""
        return tp in self._next

    def rewinding(self, tp: TP) -> bool:
        """A seek back of ``tp`` is under way (its records are awaited)."""
        return tp in self._rewinding

    def awaited(self, tp: TP) -> int:
        """The offset to seek back to after a REWIND verdict."""
        return self._rewinding[tp][0]

    def resumes_saved_state(self, tp: TP) -> bool:
        """After a REWIND verdict: whether the offset awaited is where the saved state ends
        (the partition's first record in this assignment), rather than the next one after
        records this process handled itself."""
        return self._from_saved.get(tp, False)

    def take_skipped(self) -> list[tuple[TP, int, int]]:
        """The holes found not in the log since the last call: (partition, first, last)."""
        skipped, self._skipped = self._skipped, []
        return skipped

    def judge(self, tp: TP, offset: int) -> Verdict:
        verdict = self._judge(tp, offset)
        if verdict is Verdict.PROCESS:
            self._processed(tp, offset)
        return verdict

    def _processed(self, tp: TP, offset: int) -> None:
        self._next[tp] = max(self._next.get(tp, offset + 1), offset + 1)

    def _judge(self, tp: TP, offset: int) -> Verdict:
        rewinding = self._rewinding.get(tp)
        if rewinding is not None:
            awaited, hole = rewinding
            if offset > hole:
                self._drop(tp, awaited)
                return Verdict.DROP
            if offset > awaited:
                return Verdict.CHECK
            self._read_again(tp, offset)
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
        self._from_saved[tp] = not self.delivered(tp)
        self.rewinds += 1
        return Verdict.REWIND

    def checked(self, tp: TP, offset: int, first_in_log: int | None) -> Verdict:
        """After a CHECK verdict for the record at ``offset``: ``first_in_log`` is the first
        offset the log holds at or after the one awaited (None: the log could not be read).
        PROCESS when the offsets before ``offset`` hold no record (reported as skipped);
        REWIND when they do (dropped again on the way) or the log did not say; DROP when a new
        assignment came while the log was read (the consumer seeks every partition again)."""
        rewinding = self._rewinding.get(tp)
        if rewinding is None:
            return Verdict.DROP
        awaited = rewinding[0]
        if first_in_log is not None and first_in_log >= offset:
            self._read_again(tp, offset)
            self._skip(tp, awaited, offset)
            self._processed(tp, offset)
            return Verdict.PROCESS
        if first_in_log is None:
            said = "the log could not be read to tell a hole from records dropped again"
        else:
            said = f"the log holds offset {first_in_log}: records were dropped again"
        log.warning(
            "%s/%d: the first record after seeking back to %d was %d, and %s; seeking back again",
            *tp,
            awaited,
            offset,
            said,
        )
        self._rewinding[tp] = (awaited, offset)
        # The offsets before a saved state's end were marked committable at the first seek.
        self._from_saved[tp] = False
        self.rewinds += 1
        return Verdict.REWIND

    def _read_again(self, tp: TP, offset: int) -> None:
        del self._rewinding[tp]
        log.info(
            "%s/%d: read again from offset %d (%d records fetched past the hole dropped)",
            *tp,
            offset,
            self._dropped.pop(tp, 0),
        )

    def _drop(self, tp: TP, awaited: int) -> None:
        # Records fetched before the seek took effect: a fetch's worth, normally. Many more
        # mean the records sought back are not coming; said at every power of ten from 1,000.
        dropped = self._dropped[tp] = self._dropped.get(tp, 0) + 1
        if dropped >= _DROPS_WORTH_A_WARNING and _is_power_of_ten(dropped):
            log.warning(
                "%s/%d: still waiting for offset %d after dropping %d records fetched past it",
                *tp,
                awaited,
                dropped,
            )

    def _skip(self, tp: TP, awaited: int, offset: int) -> None:
        log.info(
            "%s/%d: offsets %d..%d are not in the log (transaction markers, or deleted by "
            "retention); going on from %d",
            *tp,
            awaited,
            offset - 1,
            offset,
        )
        self._skipped.append((tp, awaited, offset - 1))


def _is_power_of_ten(n: int) -> bool:
    while n % 10 == 0:
        n //= 10
    return n == 1
