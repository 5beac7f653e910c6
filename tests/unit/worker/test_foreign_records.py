"""A record of an input partition the worker no longer owns is dropped, never processed: after a
rebalance, a record fetched before it can still reach the agent (one that waited for room in a
full stream buffer is handed on once there is room), while its partition's new owner reads it
again from the committed offset."""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from pipeline.config import Settings
from pipeline.worker.app import create_app


class _Message:  # what the worker reads of a Faust message (weakly referenced by Faust)
    def __init__(self, topic: str, partition: int, offset: int) -> None:
        self.topic, self.partition, self.offset = topic, partition, offset
        self.key, self.value, self.acked = b"k", b"{}", False


def _event(topic: str, partition: int, offset: int) -> Any:
    return SimpleNamespace(message=_Message(topic, partition, offset))


async def test_records_of_partitions_no_longer_owned_are_dropped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    worker = create_app(Settings(data_dir=tmp_path, store="memory://"))
    tickets = next(topic for topic, source in worker.sources.items() if source == "tickets")
    worker.engine.assign([("tickets", 0)])  # partition 1 went to another worker
    events = [_event(tickets, 0, 0), _event(tickets, 1, 7), _event(tickets, 0, 1)]

    with caplog.at_level(logging.INFO, logger="pipeline.worker.app"):
        records = await worker.in_sequence(events)

    assert [(r[0], r[1], r[2]) for r in records] == [("tickets", 0, 0), ("tickets", 0, 1)]
    assert "dropped 1 records of input partitions this worker no longer owns" in caplog.text
    dropped = events[1].message
    # Off Faust's books without its offset counting for commit (the new owner's to commit).
    assert dropped.acked and dropped not in worker.app.consumer.unacked
