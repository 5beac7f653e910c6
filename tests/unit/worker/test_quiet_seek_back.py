"""A partition whose unread records stopped coming is sought back to where its state ends; when
nothing of it was read since the assignment, the records before that offset are also marked
committable, as the records' own seek back does: the previous process may have saved its state
past its last commit, and those records are not read again, so Faust could not commit the
partition for the rest of the run."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from pipeline.config import Settings
from pipeline.worker import app as worker_app
from pipeline.worker.app import UNREAD_QUIET_S, create_app

READ, UNREAD = ("tickets", 0), ("tickets", 1)


async def test_a_quiet_partition_is_sought_back_and_marked_covered_if_nothing_was_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker = create_app(Settings(data_dir=tmp_path, store="memory://"))
    topic = worker.topic_of["tickets"]
    engine = worker.engine
    engine.assign([READ, UNREAD])
    engine.recover()
    now = [1000.0]
    engine.clock = lambda: now[0]
    engine.next_offsets.update({READ: 3, UNREAD: 5})  # where the saved state ends
    engine.end_offsets = {READ: 8, UNREAD: 9}
    message = SimpleNamespace(topic=topic, partition=READ[1], offset=3, key=b"k", value=b"{}")
    assert len(await worker.in_sequence([SimpleNamespace(message=message)])) == 1

    seeks: dict[Any, int] = {}
    covered: list[tuple[Any, int]] = []

    async def seek_wait(positions: dict[Any, int]) -> None:
        seeks.update(positions)

    async def mark_covered(consumer: Any, tp: Any, offset: int) -> None:
        covered.append((tp, offset))

    monkeypatch.setattr(worker.app.consumer, "seek_wait", seek_wait)
    monkeypatch.setattr(worker_app.internals, "covered", mark_covered)

    await worker.read_again_where_quiet()
    assert seeks == {}  # quiet only from now on
    now[0] += UNREAD_QUIET_S
    await worker.read_again_where_quiet()

    assert {(tp.topic, tp.partition): offset for tp, offset in seeks.items()} == {
        (topic, READ[1]): 3,
        (topic, UNREAD[1]): 5,
    }
    # A partition read since the assignment acknowledged its records from the committed
    # offset on itself: only the other one needs the records before its state's end marked.
    assert [((tp.topic, tp.partition), offset) for tp, offset in covered] == [
        ((topic, UNREAD[1]), 5)
    ]
