"""The Faust worker: consumes the input topics, drives the runtime, keeps its state in a Faust
table (changelog-backed, co-partitioned with the input) and serves /metrics.

Delivery is at-least-once with one agent instance (concurrency 1): Faust flushes table changelog
writes before it commits input offsets, so a crash loses nothing, and a redelivered event is
recognised by its id and not counted twice.

Several workers share the input partitions (one consumer group). Each hands the panes and
progress of the partitions it owns to the pane topic; a second agent on that one-partition topic
runs on whichever worker owns it and closes windows over all partitions (``merger.py``), with
its own table.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import faust
import orjson
from faust.types import TP
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram

from pipeline.alerts.records import alert_record
from pipeline.config import Settings
from pipeline.core.context import CoreContext
from pipeline.core.results import window_records
from pipeline.kafka.security import faust_options
from pipeline.metrics.collector import Closing, PipelineCollector
from pipeline.metrics.page import MetricsPage
from pipeline.worker import faust_input
from pipeline.worker.admission import Admission
from pipeline.worker.batches import RecordBatches
from pipeline.worker.context import core_context
from pipeline.worker.merger import PANE_SOURCE, PaneMerger
from pipeline.worker.panes import decode_update
from pipeline.worker.recovery import RecoveryTimer
from pipeline.worker.runtime import Outputs, PipelineRuntime, Record
from pipeline.worker.sequence import InputSequence, Verdict
from pipeline.worker.table_store import TableStore
from pipeline.worker.targets import TargetsFile

__all__ = ["MERGE_TABLE", "WorkerApp", "create_app"]

MERGE_TABLE = "kpi-merge"  # the window closer's table (its changelog: <app id>-kpi-merge-changelog)

log = logging.getLogger(__name__)


class WorkerApp:
    """A configured Faust app with its runtime and metrics registry (one per process/test)."""

    def __init__(self, settings: Settings, ctx: CoreContext | None = None) -> None:
        self.settings = settings
        topics = settings.topics
        datadir = settings.data_dir / "faust"
        datadir.mkdir(parents=True, exist_ok=True)
        self.app = faust.App(
            settings.app_id,
            broker=f"kafka://{settings.kafka.bootstrap_servers}",
            store=settings.store,
            autodiscover=False,
            topic_partitions=topics.partitions,
            topic_replication_factor=topics.replication_factor,
            processing_guarantee="at_least_once",
            consumer_auto_offset_reset="earliest",
            web_bind=settings.web.bind,
            web_host=settings.web.bind,
            web_port=settings.web.port,
            web_router_enabled=settings.web.tables_enabled,
            web_tables_enabled=settings.web.tables_enabled,
            web_graph_enabled=False,
            web_stats_enabled=False,
            web_metrics_enabled=False,
            # Windows are ours (event time); Faust's wall-clock table cleanup has nothing to do.
            table_cleanup_interval=3600.0,
            broker_commit_interval=1.0,
            producer_linger=settings.worker.producer_linger,
            producer_max_batch_size=settings.worker.producer_max_batch_size,
            broker_session_timeout=settings.kafka.session_timeout,
            table_standby_replicas=settings.standby_replicas,
            datadir=str(datadir),
            **faust_options(settings.kafka),
        )
        self.input = self.app.topic(
            topics.tickets,
            topics.surveys,
            key_type=bytes,
            value_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
        )
        self.dlq = self.app.topic(
            topics.dlq,
            key_type=bytes,
            value_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
            partitions=topics.partitions,
        )
        self.panes = self._output_topic(topics.panes, partitions=1)
        self.windows = self._output_topic(topics.windows)
        self.alerts = self._output_topic(topics.alerts)
        self.targets = TargetsFile(settings)
        self.table = self.app.Table(
            # bytes key and value types make Faust use its raw codec: we encode values ourselves.
            "kpi-state",
            default=None,
            key_type=bytes,
            value_type=bytes,
            partitions=topics.partitions,
        )
        self.store = TableStore(
            self.table, owned=lambda: {partition for _, partition in self.runtime.assigned}
        )
        # The window closer's state: one partition, co-partitioned with the pane topic, so it
        # moves with the pane agent.
        self.merge_table = self.app.Table(
            MERGE_TABLE, default=None, key_type=bytes, value_type=bytes, partitions=1
        )
        self.merge_store = TableStore(
            self.merge_table,
            partition_of=lambda key: 0,
            owned=lambda: {0} if self.merger.active else set(),
        )
        self.sources = {topics.tickets: "tickets", topics.surveys: "surveys"}
        # Partitions kept in offset order by the worker (see _in_sequence): the inputs and the
        # pane topic.
        self.sequenced = {**self.sources, topics.panes: PANE_SOURCE[0]}
        ctx = ctx or core_context(settings)
        self.runtime = PipelineRuntime(
            ctx,
            self.store,
            topics={"tickets": topics.tickets, "surveys": topics.surveys},
            stored_items=self.store.items,
            admission=Admission(settings.input.max_record_bytes, settings.input.max_future_seconds),
            publishes_panes=True,
        )
        self.merger = PaneMerger(
            ctx, self.merge_store, stored_items=self.merge_store.items, alerts=self.targets.engine()
        )
        # Only where windows close is their frontier known (see the runtime's accept).
        self.runtime.frontier_hint = lambda: (
            self.merger.closer.frontier if self.merger.active else float("-inf")
        )
        self.registry = CollectorRegistry()
        self.registry.register(
            PipelineCollector(self.runtime, windows=False, closing=self._closing)
        )
        self.latency = Histogram(
            "kpi_event_processing_seconds",
            "Time to process one input record (decode, state, table writes, outputs)",
            registry=self.registry,
            buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1.0),
        )
        self.recovery = RecoveryTimer(self.registry)
        self.page = MetricsPage(self.runtime, self.registry, closing=self._closing)
        self.sequence = InputSequence(self._saved_offset)
        faust_input.install(self.app.consumer, self.sequenced)
        self._in_order = asyncio.Lock()
        self._confirming: asyncio.Future[None] | None = None
        self._delivery_failed = False
        self._wire()

    def _wire(self) -> None:
        app, runtime = self.app, self.runtime

        tuning = self.settings.worker

        @app.agent(self.input, concurrency=1)
        async def process(stream: Any) -> None:
            # Batches: Faust acknowledges a batch's records only after this body has finished
            # with it, i.e. after its state changes are handed to the producer (store.flush).
            async for events in stream.take_events(tuning.batch_size, tuning.batch_within):
                started = time.perf_counter()
                records = await self._in_sequence(events)
                if not records:
                    continue
                out = runtime.handle_batch(records)
                # No await between making the outputs and taking the lock: see _send.
                async with self._in_order:
                    batches = self._batches()
                    await self.store.flush(batches)
                    await self._send_locked(out, batches)
                # Per record: the batch's time spread over its records.
                per_record = (time.perf_counter() - started) / len(records)
                for _ in records:
                    self.latency.observe(per_record)

        @app.agent(self.panes, concurrency=1)
        async def merge(stream: Any) -> None:
            # Runs where the pane topic's only partition is owned: closes windows over every
            # input partition (see merger.py).
            async for events in stream.take_events(tuning.batch_size, tuning.batch_within):
                records = await self._in_sequence(events)
                if not records:
                    continue
                out = self.merger.apply_batch(
                    (offset, decode_update(value)) for _, _, offset, _, value in records
                )
                async with self._in_order:
                    batches = self._batches()
                    await self.merge_store.flush(batches)
                    await self._send_locked(out, batches)

        @app.timer(interval=1.0)
        async def refresh_end_offsets() -> None:
            # End offsets tell which partitions still have unread records (they hold back
            # window closing) and give the consumer lag.
            tps = [tp for tp in app.consumer.assignment() if tp.topic in self.sources]
            if not tps:
                return
            ends = await app.consumer.highwaters(*tps)
            runtime.end_offsets = {
                (self.sources[tp.topic], tp.partition): off
                for tp, off in ends.items()
                if off is not None
            }
            await self._send(runtime.close())

        @app.timer(interval=5.0)
        async def reload_targets() -> None:
            # A changed targets file (or SIGHUP) takes effect without losing alert state.
            targets = self.targets.reload_if_changed()
            if targets is not None:
                alerts = self.merger.reload_targets(targets)
                if self.merger.active:
                    await self._send(Outputs(alerts=alerts))

        async def on_revoked(sender: Any, revoked: Any, *args: Any, **kwargs: Any) -> None:
            # A rebalance begins: what may go to another worker is no longer exported from
            # here (it is again once assigned back).
            self.merger.deactivate()
            runtime.revoke(
                (self.sources[tp.topic], tp.partition) for tp in revoked if tp.topic in self.sources
            )

        app.on_partitions_revoked.connect(on_revoked)  # type: ignore[arg-type]

        async def on_assigned(sender: Any, *args: Any, **kwargs: Any) -> None:
            self.recovery.assigned()
            self.sequence.assigned()
            owned = app.consumer.assignment()
            runtime.assign(
                (self.sources[tp.topic], tp.partition) for tp in owned if tp.topic in self.sources
            )
            if any(tp.topic == self.panes.get_topic_name() for tp in owned):
                self.merger.activate(self._input_partitions())
            else:
                self.merger.deactivate()
            log.info(
                "input partitions owned: %s; closing windows: %s",
                sorted(runtime.assigned),
                self.merger.active,
            )

        app.on_partitions_assigned.connect(on_assigned)  # type: ignore[arg-type]

        async def on_restored(sender: Any, *args: Any, **kwargs: Any) -> None:
            # Faust has restored the tables from their changelogs: rebuild memory before the
            # first event, so that the recovery time includes it.
            self.recovery.restored(self._rebuild)

        app.on_rebalance_complete.connect(on_restored)  # type: ignore[arg-type]

        @app.page("/metrics")
        async def metrics(web: Any, request: Any) -> Any:
            # aiohttp refuses a charset in content_type=, so the full header goes in headers=.
            return web.bytes(self.page.render(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    def _output_topic(self, name: str, partitions: int | None = None) -> Any:
        return self.app.topic(
            name,
            key_type=bytes,
            value_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
            partitions=partitions or self.settings.topics.partitions,
        )

    def _closing(self) -> Closing | None:
        """Windows close here while this worker owns the pane topic's partition."""
        return self.merger if self.merger.active else None

    def _saved_offset(self, tp: tuple[str, int]) -> int | None:
        if tp == PANE_SOURCE:
            return self.merger.next_offsets.get(tp)
        return self.runtime.next_offsets.get(tp)

    def _rebuild(self) -> int:
        self.merger.recover()
        return self.runtime.recover()

    def _input_partitions(self) -> list[tuple[str, int]]:
        """Every partition of the input topics (from the cluster metadata): windows close
        only once each of them, owned here or not, has passed their end."""
        found = []
        for topic, source in self.sources.items():
            count = self.app.consumer.topic_partitions(topic) or self.settings.topics.partitions
            found += [(source, p) for p in range(count)]
        return found

    async def _in_sequence(self, events: list[Any]) -> list[Record]:
        """The batch's records that continue their partitions without a hole (see
        pipeline.worker.sequence); seeks the consumer back where one starts further on."""
        self._rebuild()  # the saved offsets come with the state
        consumer = self.app.consumer
        records: list[Record] = []
        for event in events:
            message = event.message
            source = self.sequenced[message.topic]
            verdict = self.sequence.judge((source, message.partition), message.offset)
            if verdict is Verdict.PROCESS:
                records.append(
                    (source, message.partition, message.offset, message.key, message.value)
                )
                continue
            # Never counted for commit: take_events acknowledges the whole batch, and an
            # acknowledged offset past the hole would let the committed offset jump it.
            faust_input.forget(consumer, message)
            if verdict is Verdict.REWIND:
                awaited = self.sequence.awaited((source, message.partition))
                # In the consumer's own thread: the client's position must not move under
                # the fetcher that runs there.
                await consumer.seek_wait({message.tp: awaited})
                if self.sequence.resumes_saved_state((source, message.partition)):
                    # Records before it that a previous process handled and did not commit.
                    await faust_input.covered(consumer, message.tp, awaited)
        for (source, partition), first, last in self.sequence.take_skipped():
            topic = next(t for t, s in self.sequenced.items() if s == source)
            await faust_input.skip(consumer, TP(topic, partition), first, last)
        return records

    def _batches(self) -> RecordBatches:
        # Faust's own aiokafka producer (started with the app): its flush before each commit
        # covers these batches. ``_ensure_producer`` is internal to faust-streaming, which is
        # pinned exactly for this kind of reason.
        return RecordBatches(self.app.producer._ensure_producer())  # type: ignore[attr-defined]

    async def _send(self, out: Outputs) -> None:
        # The agent and the timers all produce, and each call's Outputs were made right before
        # it: the lock (taken before the first await) sends them in the order they were made,
        # so alert transitions stay in order and a delivery mark never covers windows of a
        # later call that are still on their way.
        async with self._in_order:
            await self._send_locked(out, self._batches())

    async def _send_locked(self, out: Outputs, batches: RecordBatches) -> None:
        produced = self.runtime.produced
        panes = self.panes.get_topic_name()
        for key, value in out.panes:
            await batches.add(panes, key, value, partition=0)
        for record in out.dlq:
            await batches.add(
                self.dlq.get_topic_name(), record.key, record.value, headers=record.headers()
            )
        windows = self.windows.get_topic_name()
        window_count = 0
        for key, window in window_records(out.windows):
            await batches.add(windows, key, orjson.dumps(window))
            window_count += 1
        for event in out.alerts:
            key, alert = alert_record(event)
            log.info("alert %s %s %s", alert["state"], alert["rule"], alert["episode_id"])
            await batches.add(self.alerts.get_topic_name(), key, orjson.dumps(alert))
        delivered = await batches.send()
        produced["dlq"] += len(out.dlq)
        produced["alerts"] += len(out.alerts)
        produced["windows"] += window_count
        if out.windows or out.published:
            # Only once the broker has these windows, and every state write made before them,
            # may the panes behind them go (merger.delivered): a crash must never find a mark
            # past windows that were lost. Likewise a partition's panes go only once their pane
            # records are acknowledged (runtime.panes_delivered). Confirmed in the background,
            # in order, so that the agent goes on with the next batch meanwhile.
            self._confirming = asyncio.ensure_future(
                self._confirm(self._confirming, delivered, self._on_delivered(out))
            )

    def _on_delivered(self, out: Outputs) -> Callable[[], None]:
        mark, published = out.closed_through, dict(out.published)
        windows = bool(out.windows)

        def report() -> None:
            if windows:
                self.merger.delivered(mark)
            if published:
                self.runtime.panes_delivered(published)

        return report

    async def _confirm(
        self,
        previous: asyncio.Future[None] | None,
        delivered: list[Any],
        report: Callable[[], None],
    ) -> None:
        if previous is not None:
            await previous  # marks move in the order the windows were closed
        if self._delivery_failed:
            return
        try:
            await asyncio.gather(*delivered)
        except Exception:
            # The mark stops here for good: panes stay, and a restart emits every window after
            # the mark again (the same values), so nothing is lost.
            self._delivery_failed = True
            log.exception("output records were not delivered; restart the worker")
            return
        report()


def create_app(settings: Settings) -> WorkerApp:
    return WorkerApp(settings)
