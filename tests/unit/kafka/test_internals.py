"""The pieces of Faust's consumer the worker takes over, checked against Faust's own commit and
fetch code (faust-streaming is pinned exactly)."""

from __future__ import annotations

import gc
import inspect
from pathlib import Path
from typing import Any

import faust
from aiokafka import AIOKafkaConsumer
from faust.stores import rocksdb
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
