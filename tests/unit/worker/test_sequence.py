"""A partition whose records start beyond the offset where processing stopped is rewound once,
and the records fetched past the hole are dropped until the missing ones come back."""

from __future__ import annotations

import pytest

from pipeline.worker.sequence import InputSequence, Verdict

TP = ("tickets", 2)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def sequence(expected: dict[tuple[str, int], int], clock: Clock | None = None) -> InputSequence:
    return InputSequence(expected.get, give_up_after=30.0, clock=clock or Clock())


def test_records_at_or_before_the_saved_offset_are_processed() -> None:
    seq = sequence({TP: 1013})
    assert seq.judge(TP, 1013) is Verdict.PROCESS
    assert seq.judge(TP, 1000) is Verdict.PROCESS  # a redelivered one: de-duplicated later
    assert seq.judge(("surveys", 0), 5) is Verdict.PROCESS  # nothing saved: a first start
    assert seq.rewinds == 0


def test_a_hole_rewinds_once_and_drops_until_the_expected_offset_comes_back() -> None:
    seq = sequence({TP: 1013})
    assert seq.judge(TP, 1489) is Verdict.REWIND
    assert [seq.judge(TP, o) for o in (1490, 1491)] == [Verdict.DROP, Verdict.DROP]
    assert seq.judge(("tickets", 0), 1548) is Verdict.PROCESS  # other partitions go on
    assert seq.judge(TP, 1013) is Verdict.PROCESS
    assert seq.judge(TP, 1014) is Verdict.PROCESS
    assert seq.rewinds == 1


def test_one_rewind_per_assignment_then_give_up_after_the_timeout() -> None:
    clock = Clock()
    saved = {TP: 100}
    seq = sequence(saved, clock)
    assert seq.judge(TP, 500) is Verdict.REWIND
    clock.now = 29.0
    assert seq.judge(TP, 500) is Verdict.DROP
    clock.now = 31.0  # retention took 100..499: go on
    assert seq.judge(TP, 500) is Verdict.PROCESS
    saved[TP] = 501
    assert seq.judge(TP, 900) is Verdict.PROCESS  # rewound once already in this assignment
    seq.assigned()
    assert seq.judge(TP, 900) is Verdict.REWIND


@pytest.mark.parametrize("first", [1013, 1012])
def test_no_rewind_without_a_hole(first: int) -> None:
    seq = sequence({TP: 1013})
    assert seq.judge(TP, first) is Verdict.PROCESS
