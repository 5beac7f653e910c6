"""Prometheus view of the pipeline, read from the runtime at scrape time.

Nothing is copied into gauges as events flow: each scrape reads the newest closed windows, the
backlog and the health counters that the runtime already keeps, so a partition handed to another
worker disappears from this worker's output at once, and nothing is exported twice.

With several workers, the KPI, backlog, alert and window-closing series come from the worker
that closes windows (the pane merger's owner) and from no other; each worker exports the health
of the input partitions it owns.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from pipeline.alerts.engine import AlertEngine
from pipeline.engine.closing import WindowCloser
from pipeline.engine.outputs import OUTPUTS
from pipeline.engine.progress import NEVER
from pipeline.engine.runtime import Engine
from pipeline.metrics import kpi_text
from pipeline.metrics.alerts import alert_metrics

__all__ = ["Closing", "ClosingLookup", "PipelineCollector", "WindowCollector"]

_SCOPE_LABELS = list(kpi_text.SCOPE_LABELS)


class Closing(Protocol):
    """Where windows close: the runtime itself (one process, replay) or the pane merger."""

    closer: WindowCloser
    alerts: AlertEngine | None
    delivered_through: float

    def backlog(self) -> Counter[Any]: ...


# Where windows close in this process now; None: on another worker.
ClosingLookup = Callable[[], "Closing | None"]


class WindowCollector(Collector):
    """The KPIs of the newest closed window of each spec: they change only when windows close,
    so the worker renders them once per close, as text written directly
    (pipeline.metrics.kpi_text, held equal to this collector's families)."""

    def __init__(self, closing: ClosingLookup) -> None:
        self.closing = closing

    def collect(self) -> Iterator[Metric]:
        closing = self.closing()
        if closing is None:
            return
        value = GaugeMetricFamily(
            kpi_text.VALUE, kpi_text.VALUE_HELP, labels=["kpi", "stat", "window", *_SCOPE_LABELS]
        )
        sample = GaugeMetricFamily(
            kpi_text.SAMPLE, kpi_text.SAMPLE_HELP, labels=["kpi", "window", *_SCOPE_LABELS]
        )
        window_end = GaugeMetricFamily(
            kpi_text.WINDOW_END, kpi_text.WINDOW_END_HELP, labels=["window"]
        )
        for window, frame in closing.closer.latest.items():
            if not len(frame):
                continue
            window_end.add_metric([window], frame.end)
            layout = frame.layout
            stats = [(layout.kpis[k].name, stat) for k, stat in layout.stats]
            names = [kpi.name for kpi in layout.kpis]
            values, samples = frame.values.tolist(), frame.samples.tolist()
            for row, scope in enumerate(frame.scopes):
                labels = scope.labels()
                dims = [labels[name] for name in _SCOPE_LABELS]
                for (kpi, stat), v in zip(stats, values[row], strict=True):
                    if v == v:  # noqa: PLR0124 (not NaN: a value; the cheapest test)
                        value.add_metric([kpi, stat, window, *dims], v)
                for kpi, n in zip(names, samples[row], strict=True):
                    sample.add_metric([kpi, window, *dims], n)
        yield from (value, sample, window_end)


class PipelineCollector(Collector):
    """Everything else: the backlog, alert state and worker health, read at every scrape.
    ``windows`` False leaves the KPI values to a WindowCollector. ``closing`` tells where
    windows close (default: in ``runtime``)."""

    def __init__(
        self,
        runtime: Engine,
        windows: bool = True,
        closing: ClosingLookup | None = None,
    ) -> None:
        self.runtime = runtime
        self.closing: ClosingLookup = closing or (lambda: runtime)
        self._windows = WindowCollector(self.closing) if windows else None

    def collect(self) -> Iterator[Metric]:
        if self._windows is not None:
            yield from self._windows.collect()
        closing = self.closing()
        if closing is not None:
            yield from self._backlog(closing)
            yield from alert_metrics(closing.alerts)
            yield from self._closed(closing)
        yield from self._health()

    def _backlog(self, closing: Closing) -> Iterator[Metric]:
        backlog = GaugeMetricFamily(
            "kpi_backlog_tickets",
            "Open tickets (created or reopened, not resolved or closed) at the watermark",
            labels=_SCOPE_LABELS,
        )
        for scope, count in sorted(closing.backlog().items(), key=lambda kv: kv[0].encode()):
            labels = scope.labels()
            backlog.add_metric([labels[name] for name in _SCOPE_LABELS], count)
        yield backlog

    def _health(self) -> Iterator[Metric]:
        rt = self.runtime
        received = CounterMetricFamily(
            "kpi_events_received", "Records read from the input topics", labels=["source"]
        )
        # Every input is exported from the start (0 until its first record), so rates over
        # these counters are 0 rather than absent on a quiet input.
        for source in sorted(rt.topics):
            received.add_metric([source], rt.received[source])
        rejected = CounterMetricFamily(
            "kpi_events_rejected",
            "Records sent to the dead-letter topic, by reason (late events included)",
            labels=["reason"],
        )
        for reason, n in sorted(rt.rejected.items()):
            rejected.add_metric([reason], n)
        duplicates = CounterMetricFamily(
            "kpi_events_duplicate",
            "Redelivered events (same event id) that were not counted again",
            labels=["source"],
        )
        for source in sorted(rt.topics):
            duplicates.add_metric([source], rt.duplicates[source])
        produced = CounterMetricFamily(
            "kpi_records_produced",
            "Records handed to the producer, by output (windows: kpi-windows, alerts: "
            "kpi-alerts, dlq: the dead-letter topic)",
            labels=["output"],
        )
        for output in OUTPUTS:
            produced.add_metric([output], rt.produced[output])
        redelivered = CounterMetricFamily(
            "kpi_events_redelivered",
            "Records read again after a restart that the restored state already covered "
            "(skipped by their offset: neither counted again nor rejected)",
            labels=["source"],
        )
        for source in sorted(rt.topics):
            redelivered.add_metric([source], rt.redelivered[source])
        yield from (received, rejected, duplicates, redelivered, produced)
        yield from self._partitions()

    def _closed(self, closing: Closing) -> Iterator[Metric]:
        closed = GaugeMetricFamily(
            "kpi_windows_closed_through_timestamp_seconds",
            "Every window of this spec ending at or before this event time is final",
            labels=["window"],
        )
        for window, through in sorted(closing.closer.closed_through.items()):
            if through != NEVER:
                closed.add_metric([window], through)
        delivered = GaugeMetricFamily(
            "kpi_windows_delivered_through_timestamp_seconds",
            "Every window ending at or before this event time is acknowledged by the broker on "
            "kpi-windows (absent where windows are not produced, as in a replay)",
        )
        if closing.delivered_through != NEVER:
            delivered.add_metric([], closing.delivered_through)
        yield from (closed, delivered)

    def _partitions(self) -> Iterator[Metric]:
        """Per input partition this worker owns now: progress, lag and the size of the state
        it holds. Partitions handed to another worker are gone from the runtime, so from here."""
        rt = self.runtime
        tp_labels = ["source", "topic", "partition"]
        watermark = GaugeMetricFamily(
            "kpi_watermark_timestamp_seconds",
            "Event-time watermark of each input partition (newest event time minus lateness)",
            labels=tp_labels,
        )
        lag = GaugeMetricFamily(
            "kpi_consumer_lag_records",
            "Records in the input partition not yet processed by this worker (end offset minus "
            "next offset to process)",
            labels=tp_labels,
        )
        pending = GaugeMetricFamily(
            "kpi_pending_events",
            "Accepted events waiting for the watermark (reorder buffer)",
            labels=tp_labels,
        )
        keys = GaugeMetricFamily(
            "kpi_state_keys",
            "Record keys held in state (pending events or a ticket lifecycle)",
            labels=tp_labels,
        )
        tickets = GaugeMetricFamily(
            "kpi_tickets_tracked", "Tickets whose lifecycle is held in state", labels=tp_labels
        )
        panes = GaugeMetricFamily(
            "kpi_state_panes",
            "Partial pane aggregates held in state (one per pane and dimension combination)",
            labels=tp_labels,
        )
        for (source, partition), core in sorted(rt.cores.items()):
            labels = [source, rt.topics[source], str(partition)]
            if core.has_data:
                watermark.add_metric(labels, core.watermark)
            pending.add_metric(labels, core.pending_count)
            keys.add_metric(labels, len(core.keys))
            tickets.add_metric(labels, core.tickets)
            panes.add_metric(labels, sum(len(p.cells) for p in core.panes.values()))
        for tp in sorted(rt.assigned):
            end = rt.end_offsets.get(tp)
            if end is not None:
                labels = [tp[0], rt.topics[tp[0]], str(tp[1])]
                lag.add_metric(labels, max(0, end - rt.next_offsets.get(tp, 0)))
        yield from (watermark, lag, pending, keys, tickets, panes)
