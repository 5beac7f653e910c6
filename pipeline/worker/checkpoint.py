"""The per-batch checkpoint: the order in which one batch's effects leave the worker, as code.

``commit`` runs, for the outputs of one batch (the agent's, or a timer's):

1. state: the engine hands every state change of the batch to its stores, which frame them per
   changelog partition (journal record, the writes, an end record) into the producer's batches;
2. produce: the batch's pane records, DLQ records, windows and alerts go into the same batches,
   after the state they follow from;
3. hand over: every batch is handed to the producer (awaited);
4. acknowledge: the caller returns to Faust, which acknowledges the batch's input records, and
   commits acknowledged offsets only after flushing the producer: no input offset is committed
   before the state that covers it is on the broker;
5. confirm: in the background and in order, once the broker has acknowledged the batches, a
   persistent table store writes the state to its local copy and moves its persisted offset,
   and the engine learns which windows and pane records are delivered (panes behind them may
   go).

Commits of the agent and of the timers are serialised by one lock taken before the first
await, so outputs leave in the order they were made and a delivery mark never covers windows of
a later commit that are still on their way.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

import orjson

from pipeline.alerts.records import alert_record
from pipeline.engine.frames import frame_record_bytes
from pipeline.engine.outputs import Outputs
from pipeline.engine.runtime import Engine
from pipeline.worker.batches import RecordBatches
from pipeline.worker.table_store import Persist

__all__ = ["Checkpoint", "OutputTopics"]

log = logging.getLogger(__name__)


class FlushingStore(Protocol):
    async def flush(self, batches: RecordBatches) -> Persist | None: ...


class OutputTopics(Protocol):
    panes: str
    dlq: str
    windows: str
    alerts: str


class Checkpoint:
    def __init__(
        self,
        engine: Engine,
        stores: Sequence[FlushingStore],
        topics: OutputTopics,
        batches: Callable[[], RecordBatches],
    ) -> None:
        self.engine = engine
        self.stores = stores
        self.topics = topics
        self._batches = batches
        self._lock = asyncio.Lock()
        self._confirming: asyncio.Future[None] | None = None
        self._outputs: asyncio.Future[None] | None = None  # the newest that confirms outputs
        self.delivery_failed = False

    @property
    def delivering(self) -> bool:
        """Windows or pane records are on their way, not yet acknowledged by the broker (state
        alone does not count: the timer writes some at every tick)."""
        return self._outputs is not None and not self._outputs.done()

    async def commit(self, out: Outputs) -> None:
        """Steps 1-3 and the start of 5; see the module docstring."""
        async with self._lock:
            batches = self._batches()
            self.engine.write_state()  # 1
            persist: list[Persist] = []
            for store in self.stores:
                if (write := await store.flush(batches)) is not None:
                    persist.append(write)
            await self._produce(out, batches)  # 2
            delivered = await batches.send()  # 3
            if out.windows or out.published or persist:  # 5
                report = self._on_delivered(out, persist, batches)
                self._confirming = asyncio.ensure_future(
                    self._confirm(self._confirming, delivered, report)
                )
                if out.windows or out.published:
                    self._outputs = self._confirming

    async def _produce(self, out: Outputs, batches: RecordBatches) -> None:
        topics, produced = self.topics, self.engine.produced
        for key, value in out.panes:
            await batches.add(topics.panes, key, value, partition=0)
        for record in out.dlq:
            await batches.add(topics.dlq, record.key, record.value, headers=record.headers())
        windows = 0
        for key, window in frame_record_bytes(out.windows):
            await batches.add(topics.windows, key, window)
            windows += 1
        for event in out.alerts:
            key, alert = alert_record(event)
            log.info("alert %s %s %s", alert["state"], alert["rule"], alert["episode_id"])
            await batches.add(topics.alerts, key, orjson.dumps(alert))
        produced["dlq"] += len(out.dlq)
        produced["alerts"] += len(out.alerts)
        produced["windows"] += windows

    def _on_delivered(
        self, out: Outputs, persist: list[Persist], batches: RecordBatches
    ) -> Callable[[], None]:
        mark, published = out.closed_through, dict(out.published)
        windows = bool(out.windows)

        def report() -> None:
            for write in persist:
                write(batches)
            if windows:
                self.engine.delivered(mark)
            if published:
                self.engine.panes_delivered(published)

        return report

    async def _confirm(
        self,
        previous: Awaitable[None] | None,
        delivered: list[Any],
        report: Callable[[], None],
    ) -> None:
        if previous is not None:
            await previous  # marks move in the order the windows were closed
        if self.delivery_failed:
            return
        try:
            await asyncio.gather(*delivered)
        except Exception:
            # The mark stops here for good: panes stay, and a restart emits every window after
            # the mark again (the same values), so nothing is lost.
            self.delivery_failed = True
            log.exception("output records were not delivered; restart the worker")
            return
        report()
