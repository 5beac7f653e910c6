"""The one place where the package reaches into Faust and aiokafka internals (faust-streaming
0.15.3 and aiokafka 0.14.0, pinned exactly for this). Each access is typed here and checked by
tests/unit/kafka/test_internals.py against the pinned versions' own code, so an upgrade that
changes one fails there, not in production. Everything else uses public API only (ruff's
SLF001 rule is on outside this module).

1. The aiokafka producer under Faust's producer (``producer``): the worker appends records to
   aiokafka batches itself (a few microseconds a record instead of tens through
   ``Topic.send``), and Faust's flush before each commit still waits for them.

2. Input offsets. The worker keeps each input partition in offset order itself
   (pipeline.worker.sequence) and seeks a partition back when a record arrives beyond a hole
   (Faust can drop records it fetched while a partition was paused). Three pieces of Faust's
   consumer would defeat that, so they are replaced or bypassed for the input topics only:

- Its fetch loop drops every record below the highest offset it has handed on ("read offset"),
  so after a seek back, the re-fetched records would be dropped until the stale ones fetched
  after the hole were passed again: the partition stalls. The read offsets of input topics read
  as unknown here, so the fetch loop hands on every record and leaves ordering to the worker.
- The same loop marks offsets it saw skipped as a "gap" that may be committed without being
  processed; with unknown read offsets it no longer does that for input topics, and the worker
  adds a gap only for offsets that are really not in the log (see ``skip``).
- A dropped record must not count for commit (its offset lies past the hole), but it must stop
  being pending, or Faust waits for it forever before the next rebalance (``wait_empty``).

3. Replay's group-less aiokafka consumer: its metadata is refreshed on demand
   (``refresh_metadata``), since aiokafka has no public call that updates it.

4. Faust's RocksDB table store (``write_partition``): its public ``__setitem__`` picks the
   partition's database from the current event, and the worker writes a whole batch of a
   changelog partition at once, outside any event, after the broker acknowledged it. So the
   batch goes to that partition's database directly, as one RocksDB write batch, and the key
   index Faust keeps for reads without an event learns where each key lives.

5. Faust's per-record delivery (``lean_delivery``). Its fetch loop hands each record to the
   streams through ``wait_first(callback(message), suspend_flow.wait())``: four tasks and an
   ``asyncio.wait`` a record, so that a callback blocked on a full stream buffer gives way when
   flow is suspended for a rebalance. That was the largest single cost of the worker. Here the
   callback runs in place first; only when it has to wait (the buffer is full) does the rest
   of it go through Faust's own ``wait_first``, with the same suspension. And a full buffer no
   longer takes its partition out of the fetch: once every partition was out, the fetch loop
   slept a whole second before it looked again, however soon the buffers drained; the loop
   now waits on the full buffer itself, which is the back-pressure Faust has for it anyway.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Coroutine, Generator, Iterable, Sequence
from typing import Any

__all__ = [
    "InputReadOffsets",
    "covered",
    "forget",
    "install",
    "lean_delivery",
    "producer",
    "refresh_metadata",
    "skip",
    "write_partition",
]


async def refresh_metadata(consumer: Any) -> None:
    """Fetch the cluster metadata of an aiokafka consumer now (3.). A consumer without a group
    learns of a topic only once something asks for it, and ``partitions_for_topic`` does not."""
    await consumer._client.force_metadata_update()


def producer(app: Any) -> Any:
    """The started aiokafka ``AIOKafkaProducer`` of a Faust app's producer."""
    return app.producer._ensure_producer()


class InputReadOffsets(defaultdict[Any, int | None]):
    """Faust's map of read offsets, in which the input topics' partitions are never known."""

    def __init__(self, topics: Iterable[str]) -> None:
        super().__init__(lambda: None)
        self._topics = frozenset(topics)

    def __getitem__(self, tp: Any) -> int | None:
        if tp.topic in self._topics:
            return None
        return super().__getitem__(tp)


def install(consumer: Any, topics: Iterable[str]) -> None:
    """Before the consumer starts: its fetch loop binds the map's lookup when it starts."""
    current = consumer._read_offset
    replacement = InputReadOffsets(topics)
    replacement.update(current)
    consumer._read_offset = replacement


def forget(consumer: Any, message: Any) -> None:
    """Take a dropped record off Faust's books without counting its offset for commit."""
    message.acked = True
    consumer._unacked_messages.discard(message)


async def covered(consumer: Any, tp: Any, offset: int) -> None:
    """The saved state covers ``tp`` before ``offset``, and this process will not read those
    records: let Faust commit past them.

    After a seek back to where the saved state ends, the committed offset can lie a few records
    before it (the previous process died between saving its state and committing). Faust
    commits only a run of acknowledged offsets that starts at the committed one, so without
    this it would never commit the partition again, and the next start would re-read everything
    since."""
    committed = consumer._committed_offset.get(tp)
    if committed is None or committed >= offset:
        return
    # Offsets this process acknowledged itself are in Faust's list already: a gap over them
    # would put them there twice, and Faust commits only up to the first repeat.
    acked = consumer._acked_index.get(tp, ())
    first: int | None = None
    for o in range(committed, offset):
        if o in acked:
            if first is not None:
                await consumer._add_gap(tp, first, o - 1)
                first = None
        elif first is None:
            first = o
    if first is not None:
        await consumer._add_gap(tp, first, offset - 1)


async def skip(consumer: Any, tp: Any, first: int, last: int) -> None:
    """Offsets ``first..last`` are not in the log (transaction markers, retention): they may be
    committed past."""
    await consumer._add_gap(tp, first, last)


def write_partition(
    store: Any, partition: int, writes: Sequence[tuple[bytes, bytes | None]]
) -> None:
    """Apply ``writes`` (value None: delete) to one partition's database of a Faust RocksDB
    store (``faust.stores.rocksdb.Store`` with the rocksdict driver), atomically (4.)."""
    # Imported here: rocksdict is there whenever a RocksDB store was configured (checked at
    # start-up), and only then.
    import rocksdict

    batch = rocksdict.WriteBatch(raw_mode=True)
    for key, value in writes:
        if value is None:
            batch.delete(key)
        else:
            batch.put(key, value)
    store._db_for_partition(partition).write(batch)
    # The store's key -> partition index (a locked LRU cache): one update for the batch's keys
    # (each key once: a batch holds a key's newest value), rather than a lock taken per key.
    index = store._key_index
    index.update(dict.fromkeys([key for key, value in writes if value is not None], partition))
    for key in [key for key, value in writes if value is None]:
        index.pop(key, None)


# What the fetch loop's second awaitable runs: ``suspend_flow.wait()`` of an ``asyncio.Event``.
_EVENT_WAIT = asyncio.Event.wait.__code__


class _Resumed:
    """The rest of a coroutine that ran in place until it had to wait on ``pending``: awaited,
    it goes on as if it had run in a task from the start (results, exceptions and cancellation
    pass through)."""

    __slots__ = ("_coro", "_pending")

    def __init__(self, coro: Coroutine[Any, Any, Any], pending: Any) -> None:
        self._coro, self._pending = coro, pending

    def __await__(self) -> Generator[Any, None, Any]:
        coro, pending = self._coro, self._pending
        while True:
            try:
                yield pending
            except BaseException as exc:  # cancellation (and close) go on to the coroutine
                try:
                    pending = coro.throw(exc)
                except StopIteration as done:
                    return done.value
            else:
                try:
                    pending = coro.send(None)
                except StopIteration as done:
                    return done.value


def lean_delivery(consumer: Any) -> None:
    """Before the consumer starts (5.): the fetch loop's per-record ``wait_first`` runs the
    callback in place while flow is on, and a full stream buffer no longer pauses its
    partition's fetch."""
    original = consumer.wait_first

    async def wait_first(*coros: Any, timeout: float | None = None) -> Any:
        if (
            len(coros) == 2
            and timeout is None
            and getattr(coros[1], "cr_code", None) is _EVENT_WAIT
            and not consumer.suspend_flow.is_set()
            and not consumer.should_stop
            and not consumer.crashed
        ):
            callback, suspended = coros
            try:
                pending = callback.send(None)
            except StopIteration:
                suspended.close()  # never started: nothing to wait for or cancel
                return None  # the fetch loop ignores what it returns
            except BaseException:
                suspended.close()
                raise  # as Faust's own wait_first raises the callback's exception
            return await original(_Resumed(callback, pending), suspended)
        return await original(*coros, timeout=timeout)

    def on_buffer_full(tp: Any) -> None:
        """The partition stays in the fetch; its records wait for room in the buffer."""

    consumer.wait_first = wait_first
    consumer.on_buffer_full = on_buffer_full
