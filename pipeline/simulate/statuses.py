"""Status moves for simulated ticket lifecycles (``status_changed`` events), from their own
random stream.

A planned lifecycle (see ``model``) gets the moves a service-desk tool would record:

- ``new`` at ``created``, ``queued`` at ``assigned`` (the desk queue), ``in_progress`` at the
  first agent reply;
- ``awaiting_customer`` from an agent reply that the customer answers (sometimes: not every
  reply asks something), back to ``in_progress`` at the customer's reply;
- tickets that miss first-contact resolution may wait on a vendor (``awaiting_vendor``) or on a
  problem, change or implementation (``awaiting_other``). Such a wait holds the ticket up: it
  starts at a point in the ticket's time in progress, and everything after it (the resolution
  included) moves later by its length.

How often and how long a ticket waits depends on its service (``PROFILES``): network waits on
its carriers and suppliers a lot, which makes it the simulated desk's clear bottleneck. Waits
scale with the priority's SLA (urgent tickets are chased harder) and with the resolution-time
factor of any regression or improvement in force.

Customer waits only relabel time the lifecycle already has, and the draws come from a stream of
their own: with statuses on, the other events keep their content and order, and their times
but for the waits.
"""

from __future__ import annotations

import math
import random
from typing import Final, NamedTuple

from pipeline.schemas.events import Status

__all__ = ["PROFILES", "StatusPlanner", "WaitProfile"]


class WaitProfile(NamedTuple):
    """How a service's tickets wait. ``customer``: the chance that an agent reply the customer
    answers is a wait on the customer; ``vendor``/``other``: the share of tickets missing
    first-contact resolution that wait on a vendor / on another party once, with the median
    wait as a share of the priority's SLA."""

    customer: float
    vendor: float
    vendor_median: float
    other: float
    other_median: float


PROFILES: Final = {
    # Carriers and hardware suppliers: most complicated network tickets wait on one, for long.
    "network": WaitProfile(0.5, 0.6, 0.6, 0.05, 0.1),
    "hardware": WaitProfile(0.5, 0.25, 0.25, 0.05, 0.1),
    # Fixes wait for the next payroll run (a change): the "other" waits.
    "payroll": WaitProfile(0.6, 0.05, 0.1, 0.3, 0.25),
    # Identity checks: the customer has to answer.
    "access": WaitProfile(0.8, 0.03, 0.1, 0.05, 0.1),
}
DEFAULT_PROFILE: Final = WaitProfile(0.6, 0.08, 0.15, 0.05, 0.1)

_WAIT_SIGMA = 0.7
_STATUS_KIND = "status_changed"
_MEMBERS = {status.value: b',"status":"%s"' % status.value.encode() for status in Status}

# A planned event, as in ``model``: (ts, kind, JSON members beyond the common ones).
Planned = tuple[int, str, bytes]
# A status move planned at a time: (ts, status).
_Move = tuple[int, str]


class StatusPlanner:
    """Adds status moves to planned lifecycles; every draw comes from ``rng``."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def add_moves(
        self, events: list[Planned], service: str, sla_seconds: float, fcr: bool, factor: float
    ) -> list[Planned]:
        """``events`` (time-ordered, starting created, assigned, agent_reply, with a resolved)
        with the status moves interleaved and any waits inserted; ``sla_seconds``: the
        resolution SLA of the ticket's priority. A move stamped in the same second as a
        lifecycle event comes after it in the list."""
        profile = PROFILES.get(service, DEFAULT_PROFILE)
        resolved = next(i for i, e in enumerate(events) if e[1] == "resolved")
        moves = self._moves(events, resolved, profile)
        end = events[resolved][0]
        if not fcr:
            scale = sla_seconds * factor
            for status, share, median in (
                ("awaiting_vendor", profile.vendor, profile.vendor_median),
                ("awaiting_other", profile.other, profile.other_median),
            ):
                if self.rng.random() < share:
                    seconds = math.exp(self.rng.gauss(math.log(median * scale), _WAIT_SIGMA))
                    events, moves, end = self._wait(events, moves, end, status, round(seconds) + 60)
        merged = [*events, *((ts, _STATUS_KIND, _MEMBERS[status]) for ts, status in moves)]
        merged.sort(key=_time_then_status)  # stable: lifecycle order kept
        return merged

    def _moves(self, events: list[Planned], resolved: int, profile: WaitProfile) -> list[_Move]:
        """The moves up to the first resolution, on the lifecycle's own times: each event
        decides the status until the next one; only changes are moves."""
        moves: list[_Move] = []
        current = None
        replied = False
        for i in range(resolved):
            ts, kind, _ = events[i]
            if kind == "created":
                status = "new"
            elif kind == "assigned" and not replied:
                status = "queued"
            else:
                replied = replied or kind == "agent_reply"
                if not replied:
                    continue
                answered = kind == "agent_reply" and events[i + 1][1] == "customer_reply"
                waits = answered and self.rng.random() < profile.customer
                status = "awaiting_customer" if waits else "in_progress"
            if status != current:
                moves.append((ts, status))
                current = status
        return moves

    def _wait(
        self, events: list[Planned], moves: list[_Move], end: int, status: str, seconds: int
    ) -> tuple[list[Planned], list[_Move], int]:
        """A wait of ``seconds`` starting strictly inside a stretch in progress (a second
        chosen uniformly over all of them), with everything from then on moved later."""
        stretches = [
            (ts, (moves[k + 1][0] if k + 1 < len(moves) else end) - ts)
            for k, (ts, current) in enumerate(moves)
            if current == "in_progress"
        ]
        # Inner seconds only (a stretch [a, b) offers a+1 .. b-1): the wait never starts at a
        # move. A lifecycle event at its very start moves later with the rest.
        inner = [(ts, length - 1) for ts, length in stretches if length >= 2]
        total = sum(n for _, n in inner)
        if not total:
            return events, moves, end
        point = int(self.rng.random() * total)
        for ts, n in inner:
            if point < n:
                start = ts + 1 + point
                break
            point -= n
        shifted = [(t + seconds if t >= start else t, k, m) for t, k, m in events]
        later = [(t + seconds if t >= start else t, s) for t, s in moves]
        later += [(start, status), (start + seconds, "in_progress")]
        later.sort()
        return shifted, later, end + seconds


def _time_then_status(event: Planned) -> tuple[int, bool]:
    return event[0], event[1] == _STATUS_KIND
