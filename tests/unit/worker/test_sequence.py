"""A partition whose records continue beyond the offset where processing stopped is sought back,
and the records fetched after the hole are dropped until the missing ones come back."""

from __future__ import annotations

import pytest

from pipeline.worker.sequence import InputSequence, Verdict

TP = ("tickets", 2)


def test_records_at_or_before_the_expected_offset_are_processed() -> None:
    seq = InputSequence({TP: 1013}.get)
    assert seq.judge(TP, 1013) is Verdict.PROCESS
    assert seq.judge(TP, 1000) is Verdict.PROCESS  # a redelivered one: de-duplicated later
    assert seq.judge(("surveys", 0), 5) is Verdict.PROCESS  # nothing known: a first start
    assert seq.rewinds == 0


def test_a_hole_rewinds_and_drops_until_the_expected_offset_comes_back() -> None:
    seq = InputSequence({TP: 1013}.get)
    assert seq.judge(TP, 1489) is Verdict.REWIND
    assert seq.resumes_saved_state(TP)
    assert [seq.judge(TP, o) for o in (1490, 1491)] == [Verdict.DROP, Verdict.DROP]
    assert seq.judge(("tickets", 0), 1548) is Verdict.PROCESS  # other partitions go on
    assert seq.judge(TP, 1013) is Verdict.PROCESS
    assert seq.take_skipped() == []  # the records came back: nothing to skip
    assert seq.rewinds == 1


def test_a_hole_the_log_confirms_is_passed_from_the_first_record_after_the_seek() -> None:
    expected = {TP: 100}
    seq = InputSequence(expected.get)
    assert seq.judge(TP, 500) is Verdict.REWIND  # 100..499 were deleted by retention
    assert seq.judge(TP, 501) is Verdict.DROP  # fetched before the seek
    # Fetched again after it, and still beyond 100: the log is asked.
    assert seq.judge(TP, 500) is Verdict.CHECK
    assert seq.take_skipped() == []
    assert seq.checked(TP, 500, first_in_log=500) is Verdict.PROCESS  # go on from here
    assert seq.take_skipped() == [(TP, 100, 499)]  # may be committed past
    assert seq.take_skipped() == []
    expected[TP] = 501
    assert seq.judge(TP, 501) is Verdict.PROCESS
    assert seq.rewinds == 1


@pytest.mark.parametrize("first_in_log", [1504, 1530, None])
def test_records_dropped_again_after_the_seek_are_sought_back_again(
    first_in_log: int | None,
) -> None:
    # Seen in a SIGKILL run: the state ended at 1504, the first record delivered was 1746, and
    # after the seek back the first was 1578; Faust had dropped 1504..1577 again. Taken for a
    # hole, they were lost.
    seq = InputSequence({TP: 1504}.get)
    assert seq.judge(TP, 1746) is Verdict.REWIND
    assert seq.resumes_saved_state(TP)
    assert seq.judge(TP, 1578) is Verdict.CHECK
    assert seq.checked(TP, 1578, first_in_log) is Verdict.REWIND
    assert seq.awaited(TP) == 1504
    # Marked committable at the first seek back already: not twice.
    assert not seq.resumes_saved_state(TP)
    assert seq.judge(TP, 1579) is Verdict.DROP  # fetched before the second seek took effect
    assert seq.judge(TP, 1504) is Verdict.PROCESS
    assert seq.take_skipped() == []
    assert seq.judge(TP, 1505) is Verdict.PROCESS
    assert seq.rewinds == 2


def test_a_new_assignment_while_the_log_is_read_drops_the_record() -> None:
    seq = InputSequence({TP: 1504}.get)
    assert seq.judge(TP, 1746) is Verdict.REWIND
    assert seq.judge(TP, 1578) is Verdict.CHECK
    seq.assigned()  # a rebalance while the worker awaited the log
    assert seq.checked(TP, 1578, 1504) is Verdict.DROP
    assert seq.take_skipped() == []
    assert seq.judge(TP, 1504) is Verdict.PROCESS


@pytest.mark.parametrize("first", [1013, 1012])
def test_no_rewind_without_a_hole(first: int) -> None:
    seq = InputSequence({TP: 1013}.get)
    assert seq.judge(TP, first) is Verdict.PROCESS


def test_a_new_assignment_forgets_a_rewind_in_progress() -> None:
    seq = InputSequence({TP: 10}.get)
    assert seq.judge(TP, 20) is Verdict.REWIND
    seq.assigned()
    assert seq.judge(TP, 10) is Verdict.PROCESS


def test_the_sequence_follows_the_records_it_lets_through() -> None:
    # The saved offset moves only when a batch is processed; the records of one batch follow
    # each other without a hole.
    seq = InputSequence({TP: 10}.get)
    assert [seq.judge(TP, o) for o in range(10, 20)] == [Verdict.PROCESS] * 10
    assert seq.judge(TP, 25) is Verdict.REWIND
    assert seq.awaited(TP) == 20
    assert not seq.resumes_saved_state(TP)  # 10..19 are this process's own records
    assert seq.judge(TP, 26) is Verdict.DROP
    assert seq.judge(TP, 20) is Verdict.PROCESS


def test_a_rewind_says_when_the_records_come_back_and_how_many_were_dropped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    seq = InputSequence({TP: 1013}.get)
    assert seq.judge(TP, 1489) is Verdict.REWIND
    for o in range(1490, 1495):
        seq.judge(TP, o)
    with caplog.at_level("INFO", logger="pipeline.worker.sequence"):
        assert seq.judge(TP, 1013) is Verdict.PROCESS
    assert "tickets/2: read again from offset 1013 (5 records fetched past the hole dropped)" in (
        caplog.text
    )


def test_a_rewind_that_keeps_dropping_warns_at_each_power_of_ten(
    caplog: pytest.LogCaptureFixture,
) -> None:
    seq = InputSequence({TP: 10}.get)
    assert seq.judge(TP, 20) is Verdict.REWIND
    with caplog.at_level("WARNING", logger="pipeline.worker.sequence"):
        for o in range(21, 21 + 999):
            assert seq.judge(TP, o) is Verdict.DROP
        assert "still waiting" not in caplog.text
        seq.judge(TP, 5000)
        assert caplog.text.count("still waiting") == 1
        assert "tickets/2: still waiting for offset 10 after dropping 1000 records" in caplog.text
        for o in range(5001, 5001 + 9000):
            seq.judge(TP, o)
        assert caplog.text.count("still waiting") == 2  # 10,000
    seq.assigned()  # a new assignment starts the count again
    assert seq.judge(TP, 30) is Verdict.REWIND
    with caplog.at_level("INFO", logger="pipeline.worker.sequence"):
        seq.judge(TP, 31)
        seq.judge(TP, 10)
    assert "(1 records fetched past the hole dropped)" in caplog.text
