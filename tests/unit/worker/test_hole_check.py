"""After a seek back, a first record beyond the offset awaited is taken for a hole only when the
log confirms it (pipeline.worker.log_probe); records Faust dropped again are sought back again.
The offsets are those of a SIGKILL run where treating 1504..1577 as a hole lost them."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from faust.types import TP as FaustTP

from pipeline.config import Settings
from pipeline.worker import app as worker_app
from pipeline.worker.app import WorkerApp, create_app

TP = ("tickets", 2)


class _Message:  # what the worker reads of a Faust message (weakly referenced by Faust)
    def __init__(self, topic: str, offset: int) -> None:
        self.topic, self.partition, self.offset = topic, TP[1], offset
        self.tp = FaustTP(topic, TP[1])
        self.key, self.value, self.acked = b"k", b"{}", False


class _Kafka:
    """The worker's consumer and log probe, recording what the worker asks of them."""

    def __init__(self, worker: WorkerApp, monkeypatch: pytest.MonkeyPatch, log_first: int) -> None:
        self.seeks: list[int] = []
        self.covered: list[int] = []
        self.probed: list[int] = []
        self.log_first = log_first

        async def seek_wait(positions: dict[Any, int]) -> None:
            self.seeks += positions.values()

        async def covered(consumer: Any, tp: Any, offset: int) -> None:
            self.covered.append(offset)

        async def first_offset(topic: str, partition: int, offset: int) -> int | None:
            self.probed.append(offset)
            return max(offset, self.log_first)

        monkeypatch.setattr(worker.app.consumer, "seek_wait", seek_wait)
        monkeypatch.setattr(worker_app.internals, "covered", covered)
        monkeypatch.setattr(worker.log_probe, "first_offset", first_offset)


def _worker(tmp_path: Path) -> tuple[WorkerApp, str]:
    worker = create_app(Settings(data_dir=tmp_path, store="memory://"))
    worker.engine.assign([TP])
    worker.engine.recover()
    worker.engine.next_offsets[TP] = 1504  # where the saved state ends
    return worker, worker.topic_of["tickets"]


async def _offsets(worker: WorkerApp, topic: str, *offsets: int) -> list[int]:
    events = [SimpleNamespace(message=_Message(topic, o)) for o in offsets]
    return [record[2] for record in await worker.in_sequence(events)]


async def test_records_dropped_again_after_a_seek_back_are_read_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker, topic = _worker(tmp_path)
    kafka = _Kafka(worker, monkeypatch, log_first=1504)  # the records are in the log

    assert await _offsets(worker, topic, 1746, 1747) == []
    assert kafka.seeks == [1504] and kafka.covered == [1504]
    assert await _offsets(worker, topic, 1578, 1579) == []  # 1504..1577 dropped again
    assert kafka.probed == [1504]
    assert kafka.seeks == [1504, 1504] and kafka.covered == [1504]  # marked once
    assert await _offsets(worker, topic, 1504, 1505, 1506) == [1504, 1505, 1506]
    assert worker.sequence.take_skipped() == []


async def test_a_hole_the_log_confirms_is_passed_and_committed_past(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker, topic = _worker(tmp_path)
    kafka = _Kafka(worker, monkeypatch, log_first=1578)  # 1504..1577: markers, or deleted
    skipped: list[tuple[int, int]] = []

    async def skip(consumer: Any, tp: Any, first: int, last: int) -> None:
        skipped.append((first, last))

    monkeypatch.setattr(worker_app.internals, "skip", skip)

    assert await _offsets(worker, topic, 1746) == []
    assert await _offsets(worker, topic, 1578, 1579) == [1578, 1579]
    assert kafka.probed == [1504] and kafka.seeks == [1504]
    assert skipped == [(1504, 1577)]
