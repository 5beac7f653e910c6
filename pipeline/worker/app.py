"""The Faust worker: consumes the input topics, drives the runtime, keeps its state in a Faust
table (changelog-backed, co-partitioned with the input) and serves /metrics.

Delivery is at-least-once with one agent instance (concurrency 1): Faust flushes table changelog
writes before it commits input offsets, so a crash loses nothing, and a redelivered event is
recognised by its id and not counted twice.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Any

import faust
import orjson
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest

from pipeline.alerts.records import alert_record
from pipeline.config import Settings
from pipeline.core.context import CoreContext
from pipeline.core.results import window_records
from pipeline.metrics.collector import PipelineCollector
from pipeline.worker.batches import RecordBatches
from pipeline.worker.context import core_context
from pipeline.worker.runtime import Outputs, PipelineRuntime
from pipeline.worker.targets import TargetsFile

__all__ = ["WorkerApp", "create_app"]

log = logging.getLogger(__name__)


class TableStore:
    """Writes core state through to a Faust table (JSON values, string keys), coalesced.

    ``put`` and ``delete`` only remember the newest value of each key; ``flush`` (once per
    agent batch) encodes each changed key once, updates the table's store and appends its
    changelog record to the producer's batches. The batch's offsets are acknowledged after
    that, and Faust flushes the producer before it commits them, so a committed offset never
    runs ahead of the state it produced. Values are encoded at flush time: every mutation of a
    key's state is followed by a ``put`` of it, so the newest put holds the state as of the end
    of the batch.
    """

    def __init__(self, table: Any) -> None:
        self.table = table
        self.changed: dict[str, Any] = {}  # key -> newest value, None = deleted

    def put(self, key: str, value: Any) -> None:
        self.changed[key] = value

    def delete(self, key: str) -> None:
        self.changed[key] = None

    async def flush(self, batches: RecordBatches) -> int:
        """Write every changed key; returns how many changelog records were appended."""
        changed, self.changed = self.changed, {}
        data = self.table.data
        topic = self.table.changelog_topic.get_topic_name()
        sent = 0
        for key, value in changed.items():
            raw_key = key.encode()
            if value is None:
                if data.pop(raw_key, None) is None:
                    continue  # never written: nothing to delete in the changelog either
                raw = None
            else:
                raw = orjson.dumps(value)
                data[raw_key] = raw
            # The changelog partition is the input partition the key belongs to (the table is
            # co-partitioned with the input). These records bypass the table's send callback,
            # which only advances a persistent store's recovery offset: a RocksDB store then
            # replays a longer changelog tail at start-up, to the same state.
            await batches.add(topic, raw_key, raw, partition=_partition_of(key))
            sent += 1
        return sent

    def items(self) -> Iterable[tuple[str, Any]]:
        for key, value in list(self.table.items()):
            if value is None:
                continue
            text = key.decode() if isinstance(key, bytes) else str(key)
            yield text, orjson.loads(value)


def _partition_of(key: str) -> int:
    # Keys are "<source>:<partition>|..." (source cores) or "alerts|<partition>".
    head, _, rest = key.partition("|")
    if head == "alerts":
        return int(rest)
    return int(head.rpartition(":")[2])


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
            datadir=str(datadir),
            **_security_options(settings),
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
        self.store = TableStore(self.table)
        self.sources = {topics.tickets: "tickets", topics.surveys: "surveys"}
        self.runtime = PipelineRuntime(
            ctx or core_context(settings),
            self.store,
            topics={"tickets": topics.tickets, "surveys": topics.surveys},
            stored_items=self.store.items,
            alerts=self.targets.engine(),
        )
        self.registry = CollectorRegistry()
        self.registry.register(PipelineCollector(self.runtime))
        self.latency = Histogram(
            "kpi_event_processing_seconds",
            "Time to process one input record (decode, state, table writes, outputs)",
            registry=self.registry,
            buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1.0),
        )
        self._wire()

    def _wire(self) -> None:
        app, runtime = self.app, self.runtime

        tuning = self.settings.worker

        @app.agent(self.input, concurrency=1)
        async def process(stream: Any) -> None:
            # Batches: Faust acknowledges a batch's records only after this body has finished
            # with it, i.e. after its state changes are handed to the producer (store.flush).
            sources = self.sources
            async for events in stream.take_events(tuning.batch_size, tuning.batch_within):
                started = time.perf_counter()
                records = [
                    (
                        sources[e.message.topic],
                        e.message.partition,
                        e.message.offset,
                        e.message.key,
                        e.message.value,
                    )
                    for e in events
                ]
                out = runtime.handle_batch(records)
                batches = self._batches()
                await self.store.flush(batches)
                await self._send(out, batches)
                # Per record: the batch's time spread over its records.
                per_record = (time.perf_counter() - started) / len(records)
                for _ in records:
                    self.latency.observe(per_record)

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
            windows = runtime.close_windows()
            await self._send(Outputs(windows=windows, alerts=runtime.evaluate(windows)))

        @app.timer(interval=5.0)
        async def reload_targets() -> None:
            # A changed targets file (or SIGHUP) takes effect without losing alert state.
            targets = self.targets.reload_if_changed()
            if targets is not None and runtime.alerts is not None:
                runtime.pending_alerts += runtime.alerts.replace_targets(targets)
                await self._send(Outputs(alerts=runtime.evaluate([])))

        async def on_assigned(sender: Any, *args: Any, **kwargs: Any) -> None:
            owned = app.consumer.assignment()
            runtime.assign(
                (self.sources[tp.topic], tp.partition) for tp in owned if tp.topic in self.sources
            )
            log.info("input partitions owned: %s", sorted(runtime.assigned))

        app.on_partitions_assigned.connect(on_assigned)  # type: ignore[arg-type]

        @app.page("/metrics")
        async def metrics(web: Any, request: Any) -> Any:
            # aiohttp refuses a charset in content_type=, so the full header goes in headers=.
            return web.bytes(
                generate_latest(self.registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
            )

    def _output_topic(self, name: str) -> Any:
        return self.app.topic(
            name,
            key_type=bytes,
            value_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
            partitions=self.settings.topics.partitions,
        )

    def _batches(self) -> RecordBatches:
        # Faust's own aiokafka producer (started with the app): its flush before each commit
        # covers these batches. ``_ensure_producer`` is internal to faust-streaming, which is
        # pinned exactly for this kind of reason.
        return RecordBatches(self.app.producer._ensure_producer())  # type: ignore[attr-defined]

    async def _send(self, out: Outputs, batches: RecordBatches | None = None) -> None:
        batches = batches or self._batches()
        for record in out.dlq:
            await batches.add(
                self.dlq.get_topic_name(), record.key, record.value, headers=record.headers()
            )
        windows = self.windows.get_topic_name()
        for key, window in window_records(out.windows):
            await batches.add(windows, key, orjson.dumps(window))
        for event in out.alerts:
            key, alert = alert_record(event)
            log.info("alert %s %s %s", alert["state"], alert["rule"], alert["episode_id"])
            await batches.add(self.alerts.get_topic_name(), key, orjson.dumps(alert))
        await batches.send()


def _security_options(settings: Settings) -> dict[str, Any]:
    kafka = settings.kafka
    if kafka.sasl_mechanism is None:
        return {}
    password = kafka.sasl_password.get_secret_value() if kafka.sasl_password else ""
    credentials = faust.SASLCredentials(
        username=kafka.sasl_username, password=password, mechanism=kafka.sasl_mechanism
    )
    return {"broker_credentials": credentials}


def create_app(settings: Settings) -> WorkerApp:
    return WorkerApp(settings)
