"""The pieces of Faust's consumer the worker takes over, checked against Faust's own commit and
fetch code (faust-streaming is pinned exactly)."""

from __future__ import annotations

import asyncio
import gc
import inspect
from pathlib import Path
from typing import Any

import faust
import pytest
from aiokafka import AIOKafkaConsumer
from faust.stores import rocksdb
from faust.transport.conductor import ConductorCompiler
from faust.transport.consumer import Consumer
from faust.types import TP

from pipeline.kafka import internals

TICKETS = TP("tickets", 1)
CHANGELOG = TP("app-kpi-state-changelog", 1)


def _consumer() -> Any:
    app = faust.App("faust-input-test", broker="kafka://127.0.0.1:1", autodiscover=False)
    return app.consumer


async def test_a_seek_back_past_the_committed_offset_does_not_stop_commits() -> None:
    # The previous process saved its state through 8123 and committed 8121; this one seeks
    # back to 8124 and never reads 8121..8123.
    consumer = _consumer()
    consumer._committed_offset[TICKETS] = 8121
    consumer._acked[TICKETS].extend(range(8124, 8131))
    assert consumer._new_offset(TICKETS) is None  # Faust would wait for 8121..8123 forever

    consumer = _consumer()
    consumer._committed_offset[TICKETS] = 8121
    await internals.covered(consumer, TICKETS, 8124)
    consumer._acked[TICKETS].extend(range(8124, 8131))
    assert consumer._new_offset(TICKETS) == 8131


async def test_offsets_not_in_the_log_may_be_committed_past() -> None:
    consumer = _consumer()
    consumer._committed_offset[TICKETS] = 100
    consumer._acked[TICKETS].extend([100, 101, 103, 104])  # 102: a transaction marker
    await internals.skip(consumer, TICKETS, 102, 102)
    assert consumer._new_offset(TICKETS) == 105


def test_read_offsets_of_input_topics_are_never_known() -> None:
    consumer = _consumer()
    internals.install(consumer, ["tickets"])
    consumer._read_offset[TICKETS] = 500
    consumer._read_offset[CHANGELOG] = 500
    assert consumer._read_offset[TICKETS] is None  # Faust's fetch loop filters nothing here
    assert consumer._read_offset[CHANGELOG] == 500


async def test_a_seek_back_inside_this_process_adds_no_offset_twice() -> None:
    # Processed and acknowledged here through 190, committed through 67; a hole at 191 (a
    # transaction marker) is sought back to 191.
    consumer = _consumer()
    consumer._committed_offset[TICKETS] = 67
    for offset in range(67, 191):
        consumer._acked[TICKETS].append(offset)
        consumer._acked_index[TICKETS].add(offset)
    await internals.covered(consumer, TICKETS, 191)
    await internals.skip(consumer, TICKETS, 191, 191)
    consumer._acked[TICKETS].extend(range(192, 200))
    assert consumer._new_offset(TICKETS) == 200


async def test_the_producer_is_faust_producers_aiokafka_producer() -> None:
    app = faust.App("internals-test", broker="kafka://127.0.0.1:1", autodiscover=False)
    # Not started: the accessor exists and is the one Faust's own send path calls.
    source = inspect.getsource(type(app.producer).send)
    assert "_ensure_producer()" in source
    assert inspect.ismethod(app.producer._ensure_producer)


async def test_a_group_less_consumer_can_refresh_its_metadata() -> None:
    consumer = AIOKafkaConsumer(bootstrap_servers="127.0.0.1:1")
    # A plain method that returns an awaitable: the update the client's background task runs.
    source = inspect.getsource(type(consumer._client).force_metadata_update)
    assert "return asyncio.shield(self._md_update_fut)" in source
    assert inspect.signature(consumer._client.force_metadata_update).parameters == {}
    await consumer.stop()


def _rocksdb_table(datadir: Path) -> Any:
    app = faust.App(
        "internals-rocksdb-test",
        broker="kafka://127.0.0.1:1",
        store="rocksdb://",
        datadir=str(datadir),
        autodiscover=False,
    )
    return app.Table(
        "state", key_type=bytes, value_type=bytes, partitions=4, options={"driver": "rocksdict"}
    )


def test_the_rocksdb_store_sets_a_key_in_its_partitions_database() -> None:
    # write_partition does what the store's own _set does, for a partition given explicitly.
    source = inspect.getsource(rocksdb.Store._set)
    assert "db = self._db_for_partition(partition)" in source
    assert "self._key_index[key] = partition" in source
    assert "db.put(key, value)" in source
    # Its databases are opened in raw mode, as its own changelog batches are written.
    assert "rocksdict.WriteBatch(raw_mode=True)" in inspect.getsource(
        rocksdb.Store.apply_changelog_batch
    )


async def test_a_batch_lands_in_its_partitions_database(tmp_path: Path) -> None:
    table = _rocksdb_table(tmp_path)
    store = table.data
    assert isinstance(store, rocksdb.Store) and store.use_rocksdict
    store._db_for_partition(0)  # another partition's database, open as well
    internals.write_partition(store, 2, [(b"a", b"1"), (b"b", b"2"), (b"gone", b"3")])
    internals.write_partition(store, 2, [(b"a", b"10"), (b"gone", None)])
    # Read back through the store's public mapping, outside any event: the key index finds
    # the partition.
    assert store.get(b"a") == b"10"
    assert store.get(b"b") == b"2"
    assert store.get(b"gone") is None
    assert store._key_index[b"b"] == 2 and b"gone" not in store._key_index
    assert store._db_for_partition(0).get(b"b") is None
    tp = TP("internals-rocksdb-test-state-changelog", 2)
    store.set_persisted_offset(tp, 41)

    # On disk, in that partition's database: a store opened afresh (a restart) finds them.
    await store.stop()
    gc.collect()
    reopened = _rocksdb_table(tmp_path).data
    assert reopened._db_for_partition(2).get(b"a") == b"10"
    assert reopened._db_for_partition(2).get(b"gone") is None
    assert reopened.persisted_offset(tp) == 41


def _counting_tasks(monkeypatch: Any) -> list[Any]:
    """The awaitables wrapped in tasks from now on (Faust's ``wait_first`` makes its tasks
    through ``asyncio.ensure_future``)."""
    made: list[Any] = []
    ensure_future = asyncio.ensure_future

    def counting(awaitable: Any, **kwargs: Any) -> Any:
        made.append(awaitable)
        return ensure_future(awaitable, **kwargs)

    monkeypatch.setattr(asyncio, "ensure_future", counting)
    return made


def test_faust_hands_each_record_on_through_wait_first_and_pauses_full_buffers() -> None:
    # What lean_delivery relies on, in the pinned version's own code: the fetch loop's one
    # call with the callback and the suspension, the conductor reading the consumer's
    # on_buffer_full when it builds a partition's handler, and the second-long sleep once every
    # partition is paused.
    drain = " ".join(inspect.getsource(Consumer._drain_messages).split())
    assert "await self.wait_first( callback(message), self.suspend_flow.wait() )" in drain
    assert "consumer_on_buffer_full = app.consumer.on_buffer_full" in inspect.getsource(
        ConductorCompiler.build
    )
    waiting = inspect.getsource(Consumer._wait_next_records)
    assert "await self.sleep(1)" in waiting
    assert isinstance(_consumer().suspend_flow, asyncio.Event)


async def test_a_record_the_buffer_takes_is_handed_on_without_a_task(monkeypatch: Any) -> None:
    delivered: list[int] = []

    async def callback(n: int) -> None:
        delivered.append(n)

    made = _counting_tasks(monkeypatch)
    faust_consumer = _consumer()
    await faust_consumer.wait_first(callback(1), faust_consumer.suspend_flow.wait())
    assert len(made) == 4  # Faust: the callback, the suspension, stopped and crashed

    consumer = _consumer()
    internals.lean_delivery(consumer)
    made.clear()
    await consumer.wait_first(callback(2), consumer.suspend_flow.wait())
    assert delivered == [1, 2]
    assert made == []


async def test_a_callback_that_fails_at_once_raises_as_with_faust() -> None:
    async def callback() -> None:
        raise ValueError("broken record")

    for lean in (False, True):
        consumer = _consumer()
        if lean:
            internals.lean_delivery(consumer)
        suspended = consumer.suspend_flow.wait()
        with pytest.raises(ValueError, match="broken record"):
            await consumer.wait_first(callback(), suspended)
        if lean:
            assert suspended.cr_frame is None  # closed, never left un-awaited


async def test_a_record_that_waits_for_room_is_handed_on_once_there_is(monkeypatch: Any) -> None:
    consumer = _consumer()
    internals.lean_delivery(consumer)
    room = asyncio.get_running_loop().create_future()
    delivered: list[str] = []

    async def callback() -> str:
        delivered.append("started")
        delivered.append(await room)
        return "done"

    made = _counting_tasks(monkeypatch)
    waiting = asyncio.ensure_future(consumer.wait_first(callback(), consumer.suspend_flow.wait()))
    await asyncio.sleep(0.01)
    assert delivered == ["started"] and not waiting.done()
    room.set_result("handed on")
    results = await asyncio.wait_for(waiting, 1)
    assert delivered == ["started", "handed on"]
    assert results.results == ["done"] and not results.stopped
    assert len(made) == 5  # the test's own task, then Faust's four for the rest


async def test_a_record_that_waits_for_room_gives_way_when_flow_is_suspended() -> None:
    consumer = _consumer()
    internals.lean_delivery(consumer)
    never = asyncio.get_running_loop().create_future()
    seen: list[str] = []

    async def callback() -> None:
        try:
            await never
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise

    waiting = asyncio.ensure_future(consumer.wait_first(callback(), consumer.suspend_flow.wait()))
    await asyncio.sleep(0.01)
    consumer.suspend_flow.set()  # a rebalance
    results = await asyncio.wait_for(waiting, 1)
    assert results.results == [True]  # what the suspension's wait returned, and nothing else
    await asyncio.sleep(0)
    assert seen == ["cancelled"]


async def test_while_flow_is_suspended_records_go_the_way_faust_hands_them_on(
    monkeypatch: Any,
) -> None:
    consumer = _consumer()
    internals.lean_delivery(consumer)
    consumer.suspend_flow.set()

    async def callback() -> None:
        pass

    made = _counting_tasks(monkeypatch)
    await consumer.wait_first(callback(), consumer.suspend_flow.wait())
    assert len(made) == 4


def test_a_full_buffer_leaves_its_partition_in_the_fetch() -> None:
    faust_consumer = _consumer()
    faust_consumer._active_partitions = {TICKETS}
    faust_consumer.on_buffer_full(TICKETS)
    assert TICKETS not in faust_consumer._active_partitions  # Faust pauses it

    consumer = _consumer()
    internals.lean_delivery(consumer)
    consumer._active_partitions = {TICKETS}
    consumer.on_buffer_full(TICKETS)
    assert consumer._active_partitions == {TICKETS}
    assert not consumer._buffered_partitions
