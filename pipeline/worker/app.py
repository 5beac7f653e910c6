"""The Faust worker: consumes the input topics, drives the engine, keeps its state in Faust
tables (changelog-backed, co-partitioned with the input; on disk by default,
pipeline.worker.stores) and serves /metrics.

Delivery is at-least-once with one agent instance (concurrency 1): each batch's state reaches
the changelog before its input offsets are committed (``checkpoint``), so a crash loses
nothing, and a record the restored state already covers is recognised by its offset and
skipped.

One worker closes windows in-process over every input partition. Several workers share the
input partitions (one consumer group); windows close on the worker that owns the pane topic's
only partition, and the others hand it their panes and progress through that topic
(``pipeline.engine.handoff``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import faust
from faust.types import TP
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram

from pipeline.config import Settings
from pipeline.core.context import CoreContext
from pipeline.core.durations import parse_duration
from pipeline.engine.admission import Admission
from pipeline.engine.handoff import decode_update
from pipeline.engine.outputs import Outputs, Record
from pipeline.engine.runtime import Engine
from pipeline.kafka import internals
from pipeline.kafka.security import client_options, faust_options
from pipeline.metrics.collector import PipelineCollector
from pipeline.metrics.improvements import ImprovementCollector
from pipeline.metrics.page import MetricsPage
from pipeline.worker.batches import RecordBatches
from pipeline.worker.caught_up import CaughtUp
from pipeline.worker.checkpoint import Checkpoint
from pipeline.worker.context import core_context
from pipeline.worker.improvements import ImprovementsFile
from pipeline.worker.log_probe import LogProbe
from pipeline.worker.recovery import RecoveryTimer
from pipeline.worker.sequence import InputSequence, Verdict
from pipeline.worker.stores import is_persistent, table_options
from pipeline.worker.table_store import TableStore
from pipeline.worker.targets import TargetsFile

__all__ = ["MERGE_TABLE", "PANE_SOURCE", "WorkerApp", "create_app"]

MERGE_TABLE = "kpi-merge"  # the closer's table (its changelog: <app id>-kpi-merge-changelog)
# The pane topic's only partition, as the sequence check names partitions.
PANE_SOURCE = ("panes", 0)
# A partition with unread records that delivered none for this long is sought back: far longer
# than a fetch takes, even while the worker works through a backlog.
UNREAD_QUIET_S = 10.0

log = logging.getLogger(__name__)


class _Topics:
    """Output topic names, for the checkpoint."""

    def __init__(self, settings: Settings) -> None:
        t = settings.topics
        self.panes, self.dlq, self.windows, self.alerts = t.panes, t.dlq, t.windows, t.alerts


class WorkerApp:
    """A configured Faust app with its engine and metrics registry (one per process/test)."""

    def __init__(self, settings: Settings, ctx: CoreContext | None = None) -> None:
        self.settings = settings
        topics = settings.topics
        # Per app id: a table's local copy belongs to its changelog topic (named after the app
        # id), and a copy of another app's table would be taken for this one's.
        datadir = settings.data_dir / "faust" / settings.app_id
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
            consumer_max_fetch_size=settings.worker.fetch_partition_bytes,
            broker_session_timeout=settings.kafka.session_timeout,
            table_standby_replicas=settings.standby_replicas,
            datadir=str(datadir),
            **faust_options(settings.kafka),
        )
        self.input = self._raw_topic(topics.tickets, topics.surveys)
        self.panes = self._raw_topic(topics.panes, partitions=1)
        self.targets = TargetsFile(settings)
        self.improvements = ImprovementsFile(settings)
        # bytes key and value types make Faust use its raw codec: values are encoded here.
        self.table = self.app.Table(
            "kpi-state", default=None, key_type=bytes, value_type=bytes,
            partitions=topics.partitions, options=table_options(settings.store),
        )  # fmt: skip
        # The closer's state (delivery mark, alert state): one partition, co-partitioned with
        # the pane topic, so it moves with the closing role.
        self.merge_table = self.app.Table(
            MERGE_TABLE, default=None, key_type=bytes, value_type=bytes, partitions=1,
            options=table_options(settings.store),
        )  # fmt: skip
        self.sources = {topics.tickets: "tickets", topics.surveys: "surveys"}
        # Partitions kept in offset order by the worker (see in_sequence).
        self.sequenced = {**self.sources, topics.panes: PANE_SOURCE[0]}
        self.topic_of = {source: topic for topic, source in self.sequenced.items()}
        persistent = is_persistent(settings.store)
        self.store = TableStore(
            self.table,
            owned=lambda: {partition for _, partition in self.engine.assigned},
            persistent=persistent,
        )
        self.merge_store = TableStore(
            self.merge_table,
            partition_of=lambda key: 0,
            owned=lambda: {0} if self.engine.closes_windows else set(),
            persistent=persistent,
        )
        self.engine = Engine(
            ctx or core_context(settings),
            topics={"tickets": topics.tickets, "surveys": topics.surveys},
            store=self.store,
            closing_store=self.merge_store,
            alerts=self.targets.engine(),
            admission=Admission(settings.input.max_record_bytes, settings.input.max_future_seconds),
        )
        self.engine.confirms_delivery = True
        self.engine.closes_windows = False  # until this worker is assigned the pane topic
        idle = settings.time.idle_timeout
        self.engine.idle_timeout = None if idle == "off" else parse_duration(idle)
        self.engine.max_producer_delay = parse_duration(settings.time.max_producer_delay)
        self.registry = CollectorRegistry()
        self.registry.register(PipelineCollector(self.engine, windows=False, closing=self._closing))
        self.registry.register(
            ImprovementCollector(
                lambda: self.improvements.evaluations() if self.engine.closes_windows else None
            )
        )
        self.latency = Histogram(
            "kpi_event_processing_seconds",
            "Time to process one input record (decode, state, table writes, outputs)",
            registry=self.registry,
            buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1.0),
        )
        self.recovery = RecoveryTimer(self.registry)
        self.page = MetricsPage(self.engine, self.registry, closing=self._closing)
        self.sequence = InputSequence(self._saved_offset)
        self.log_probe = LogProbe(settings.kafka.bootstrap_servers, client_options(settings.kafka))
        internals.install(self.app.consumer, self.sequenced)
        internals.lean_delivery(self.app.consumer)
        self.checkpoint = Checkpoint(
            self.engine,
            (self.store, self.merge_store),
            _Topics(settings),
            lambda: RecordBatches(internals.producer(self.app)),
        )
        self.caught_up = CaughtUp(self.engine, self.registry, lambda: self.checkpoint.delivering)
        # Called once the worker is caught up (``worker --exit-when-caught-up``: stop).
        self.on_caught_up: Callable[[], None] | None = None
        self._wire()

    def _wire(self) -> None:  # noqa: C901, PLR0915 (the agents, timers and signal handlers of the app, wired in one place)
        app, engine, tuning = self.app, self.engine, self.settings.worker
        settings_windows = self.settings.topics.windows

        @app.agent(self.input, concurrency=1)
        async def process(stream: Any) -> None:
            # Faust acknowledges a batch's records only after this body has finished with it,
            # i.e. after the checkpoint handed its state and outputs to the producer.
            async for events in stream.take_events(tuning.batch_size, tuning.batch_within):
                started = time.perf_counter()
                records = await self.in_sequence(events)
                if not records:
                    continue
                batch_out = engine.handle_batch(records)
                self.improvements.add(batch_out.windows)
                await self.checkpoint.commit(batch_out)
                per_record = (time.perf_counter() - started) / len(records)
                for _ in records:
                    self.latency.observe(per_record)

        @app.agent(self.panes, concurrency=1)
        async def merge(stream: Any) -> None:
            # Runs where the pane topic's only partition is owned: the panes and progress of
            # partitions other workers process reach this worker's closer.
            async for events in stream.take_events(tuning.batch_size, tuning.batch_within):
                records = await self.in_sequence(events)
                if not records or not engine.closes_windows:
                    continue
                layout, cells = engine.ctx.layout, engine.cells
                updates = [decode_update(value, layout, cells) for *_, value in records]
                merged = engine.receive(updates)
                self.improvements.add(merged.windows)
                await self.checkpoint.commit(merged)

        @app.timer(interval=1.0)
        async def refresh() -> None:
            # End offsets tell which partitions still have unread records (they hold back
            # window closing) and give the consumer lag; idle inputs move with the clock.
            tps = [tp for tp in app.consumer.assignment() if tp.topic in self.sources]
            if tps:
                ends = await app.consumer.highwaters(*tps)
                engine.end_offsets = {
                    (self.sources[tp.topic], tp.partition): off
                    for tp, off in ends.items()
                    if off is not None
                }
            if not engine.assigned and not engine.closes_windows:
                return
            await self.read_again_where_quiet()
            out = engine.idle()
            if engine.closes_windows:
                out.extend(engine.close())
            else:
                engine.publish(out)
            self.improvements.add(out.windows)
            await self.checkpoint.commit(out)
            if self.caught_up.check() and self.on_caught_up is not None:
                self.on_caught_up()

        @app.timer(interval=5.0)
        async def reload_targets() -> None:
            # A changed improvements register keeps the windows it needs; a changed targets
            # file (or SIGHUP) takes effect without losing alert state.
            self.improvements.reload_if_changed()
            if self.improvements.needs_history and engine.closes_windows:
                try:
                    await self.improvements.read_history()
                except Exception:  # the evaluation lacks history; windows still close
                    log.exception("improvements: reading %s back failed", settings_windows)
            targets = self.targets.reload_if_changed()
            if targets is not None:
                alerts = engine.reload_targets(targets)
                if engine.closes_windows:
                    await self.checkpoint.commit(Outputs(alerts=alerts))

        async def on_revoked(sender: Any, revoked: Any, *args: Any, **kwargs: Any) -> None:
            # A rebalance begins: what may go to another worker is no longer exported from
            # here (it is again once assigned back).
            engine.closes_windows = False
            engine.remote.clear()
            engine.revoke(
                (self.sources[tp.topic], tp.partition) for tp in revoked if tp.topic in self.sources
            )

        app.on_partitions_revoked.connect(on_revoked)  # type: ignore[arg-type]

        async def on_assigned(sender: Any, *args: Any, **kwargs: Any) -> None:
            self.recovery.assigned()
            self.sequence.assigned()
            owned = app.consumer.assignment()
            try:
                self.recovery.changelog_records.set(await self._changelog_tail(owned))
            except Exception:  # a figure for /metrics: never worth a failed rebalance
                log.exception("could not measure the changelog tail to restore")
            engine.assign(
                (self.sources[tp.topic], tp.partition) for tp in owned if tp.topic in self.sources
            )
            closes = any(tp.topic == self.panes.get_topic_name() for tp in owned)
            engine.closes_windows = closes
            engine.inputs = set(self._input_partitions()) if closes else None
            log.info(
                "input partitions owned: %s; closing windows: %s", sorted(engine.assigned), closes
            )

        app.on_partitions_assigned.connect(on_assigned)  # type: ignore[arg-type]

        async def on_restored(sender: Any, *args: Any, **kwargs: Any) -> None:
            # Faust has restored the tables from their changelogs: rebuild memory before the
            # first event, so that the recovery time includes it.
            self.recovery.restored(engine.recover)

        app.on_rebalance_complete.connect(on_restored)  # type: ignore[arg-type]

        async def on_shutdown(sender: Any, *args: Any, **kwargs: Any) -> None:
            await self.log_probe.close()

        app.on_before_shutdown.connect(on_shutdown)  # type: ignore[arg-type]

        @app.page("/metrics")
        async def metrics(web: Any, request: Any) -> Any:
            # aiohttp refuses a charset in content_type=, so the full header goes in headers=.
            return web.bytes(self.page.render(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    def _raw_topic(self, *names: str, partitions: int | None = None) -> Any:
        # Raw bytes both ways: the engine decodes and encodes records itself.
        return self.app.topic(
            *names,
            partitions=partitions,
            key_type=bytes,
            value_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
        )

    def _closing(self) -> Engine | None:
        """Windows close here while this worker owns the pane topic's partition."""
        return self.engine if self.engine.closes_windows else None

    def _saved_offset(self, tp: tuple[str, int]) -> int | None:
        if tp == PANE_SOURCE:
            return None  # pane records are full values: a new closer takes them from anywhere
        return self.engine.next_offsets.get(tp)

    async def _changelog_tail(self, owned: set[TP]) -> int:
        """The changelog records the restore reads for the owned table partitions: Faust reads
        each from the offset its local copy persisted (from the start without one)."""
        tables = {t.changelog_topic.get_topic_name(): t for t in (self.table, self.merge_table)}
        tps = [tp for tp in owned if tp.topic in tables]
        if not tps:
            return 0
        ends = await self.app.consumer.highwaters(*tps)
        firsts = await self.app.consumer.earliest_offsets(*tps)
        records = 0
        for tp in tps:
            persisted = tables[tp.topic].persisted_offset(tp)
            start = max(firsts.get(tp) or 0, persisted if persisted is not None else 0)
            records += max(0, (ends.get(tp) or 0) - start)
        return records

    def _input_partitions(self) -> list[tuple[str, int]]:
        """Every partition of the input topics (from the cluster metadata): windows close
        only once each of them, owned here or not, has passed their end."""
        found = []
        for topic, source in self.sources.items():
            count = self.app.consumer.topic_partitions(topic) or self.settings.topics.partitions
            found += [(source, p) for p in range(count)]
        return found

    async def read_again_where_quiet(self) -> None:
        """Seek back partitions whose unread records stopped coming (their last records were
        dropped by Faust's fetch loop: no later record shows the hole)."""
        consumer = self.app.consumer
        for tp, offset in self.engine.unread_and_quiet(UNREAD_QUIET_S).items():
            if self.sequence.rewinding(tp):
                continue  # its own seek back is under way
            log.warning(
                "%s/%d: records from offset %d on are unread and none came for %.0f s; "
                "seeking back",
                *tp,
                offset,
                UNREAD_QUIET_S,
            )
            kafka_tp = TP(self.topic_of[tp[0]], tp[1])
            await consumer.seek_wait({kafka_tp: offset})
            if not self.sequence.delivered(tp):
                # Nothing read since the assignment: the committed offset may lie before where
                # the saved state ends, and the records between are not read again.
                await internals.covered(consumer, kafka_tp, offset)

    async def in_sequence(self, events: list[Any]) -> list[Record]:
        """The batch's records that continue their partitions without a hole (see
        pipeline.worker.sequence); seeks the consumer back where one starts further on."""
        self.engine.recover()  # the saved offsets come with the state
        consumer = self.app.consumer
        engine, panes = self.engine, PANE_SOURCE[0]
        records: list[Record] = []
        foreign = 0
        # Per record: the verdicts as locals (an enum member read through its class is a
        # descriptor call).
        judge, process, check = self.sequence.judge, Verdict.PROCESS, Verdict.CHECK
        for event in events:
            message = event.message
            source = self.sequenced[message.topic]
            tp = (source, message.partition)
            if source != panes and tp not in engine.assigned:
                # Fetched before a rebalance gave its partition to another worker, handed on
                # after it: a record that waited for room in a full buffer is handed on once
                # there is room, whenever that is. Its new owner reads it from the committed
                # offset; counted here too, it would be counted twice.
                internals.forget(consumer, message)
                foreign += 1
                continue
            verdict = judge(tp, message.offset)
            if verdict is check:
                first = await self.log_probe.first_offset(
                    message.topic, message.partition, self.sequence.awaited(tp)
                )
                verdict = self.sequence.checked(tp, message.offset, first)
            if verdict is process:
                records.append(
                    (source, message.partition, message.offset, message.key, message.value)
                )
                continue
            # Never counted for commit: take_events acknowledges the whole batch, and an
            # acknowledged offset past the hole would let the committed offset jump it.
            internals.forget(consumer, message)
            if verdict is Verdict.REWIND:
                awaited = self.sequence.awaited(tp)
                # In the consumer's own thread: the client's position must not move under
                # the fetcher that runs there.
                await consumer.seek_wait({message.tp: awaited})
                if self.sequence.resumes_saved_state(tp):
                    # Records before it that a previous process handled and did not commit.
                    await internals.covered(consumer, message.tp, awaited)
        if foreign:
            log.info("dropped %d records of input partitions this worker no longer owns", foreign)
        for (source, partition), first, last in self.sequence.take_skipped():
            topic = self.topic_of[source]
            await internals.skip(consumer, TP(topic, partition), first, last)
        return records


def create_app(settings: Settings) -> WorkerApp:
    return WorkerApp(settings)
