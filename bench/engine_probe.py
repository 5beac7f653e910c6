"""Feed pickled records to whichever engine is importable as ``pipeline`` and print what it cost
as JSON: the probe ``bench.baseline`` runs once with this checkout and once with an older one
on the same records. It imports nothing of the bench, so an older ``pipeline`` can run it.

Usage: python engine_probe.py RECORDS.pickle WINDOWS.json BREAKDOWNS
(windows: [[name, size, step], ...]; breakdowns: comma-separated)
"""

from __future__ import annotations

import gc
import json
import pickle
import sys
import time
from typing import Any

import orjson

from pipeline.core.context import CoreContext
from pipeline.core.windows import WindowSpec

BATCH = 500


def _engine(ctx: CoreContext, topics: dict[str, str]) -> tuple[Any, Any]:
    """The engine and its window-record encoder (windows -> encoded records, as its worker
    produces them), of this checkout or of one before."""
    try:
        from pipeline.engine.runtime import Engine
    except ImportError:
        from pipeline.worker.runtime import PipelineRuntime  # type: ignore[import-not-found]

        from pipeline.core.results import window_records
        from pipeline.core.store import DictStore

        return PipelineRuntime(ctx, DictStore(), topics), _dumped(window_records)
    try:
        from pipeline.engine.frames import frame_record_bytes
    except ImportError:  # before records were encoded from a template
        from pipeline.engine.frames import frame_records  # type: ignore[attr-defined]

        return Engine(ctx, topics), _dumped(frame_records)
    return Engine(ctx, topics), frame_record_bytes


def _dumped(records: Any) -> Any:
    def encode(windows: Any) -> Any:
        return ((key, orjson.dumps(record)) for key, record in records(windows))

    return encode


def _collector() -> None:
    """The collector as this checkout's worker and replay set it (the defaults before they
    set it)."""
    gc.collect()
    try:
        from pipeline.engine.gc_policy import tune_collector
    except ImportError:
        return
    tune_collector()


def _kpi_page(engine: Any) -> Any:
    """What renders the KPI series of /metrics from the newest closed windows, as the worker's
    page does: the text written directly, or ``generate_latest`` before it was; None for an
    engine without either."""
    closer = getattr(engine, "closer", None)
    if closer is None:
        return None
    try:
        from pipeline.metrics.kpi_text import render_windows
    except ImportError:
        try:
            from prometheus_client import CollectorRegistry, generate_latest

            from pipeline.metrics.collector import WindowCollector
        except ImportError:
            return None
        registry = CollectorRegistry()
        registry.register(WindowCollector(lambda: engine))
        return lambda: generate_latest(registry)
    return lambda: render_windows(closer.latest.items())


def _render_cost(engine: Any, times: int = 5) -> dict[str, Any]:
    """CPU milliseconds of one render of the KPI series (after a first one, as a worker renders
    them after every window close) and the lines it writes."""
    render = _kpi_page(engine)
    if render is None:
        return {}
    lines = render().count(b"\n")
    started = time.process_time()
    for _ in range(times):
        render()
    return {"render_ms": (time.process_time() - started) / times * 1000, "metric_lines": lines}


class _CountingStore:
    """A state store that keeps nothing and counts what it is handed."""

    def __init__(self) -> None:
        self.writes = 0
        self.bytes = 0

    def write(self, writes: Any) -> None:
        for _, value in writes:
            self.writes += 1
            self.bytes += len(value or b"")

    def load(self) -> list[Any]:
        return []


def _state_cost(ctx: CoreContext, records: list[Any]) -> dict[str, Any]:
    """What the engine hands its state store, batch by batch as a worker does: CPU of handing
    over each batch's changes (their encoding included), and the writes and bytes per input
    record; nothing for an engine without a store of its own."""
    try:
        from pipeline.engine.runtime import Engine
    except ImportError:
        return {}
    store = _CountingStore()
    engine = Engine(ctx, {"tickets": "tickets", "surveys": "surveys"}, store=store)
    tps = {(r[0], r[1]) for r in records}
    engine.assign(tps)
    engine.end_offsets = dict.fromkeys(tps, 0)
    cpu = 0.0
    for i in range(0, len(records), BATCH):
        engine.handle_batch(records[i : i + BATCH])
        started = time.process_time()
        engine.write_state()
        cpu += time.process_time() - started
    n = len(records)
    return {
        "state_us_per_record": cpu / n * 1e6,
        "state_writes_per_record": store.writes / n,
        "state_bytes_per_record": store.bytes / n,
        "state_batch": BATCH,
    }


def main() -> None:
    records = pickle.loads(open(sys.argv[1], "rb").read())  # noqa: SIM115 (our own file)
    windows = tuple(WindowSpec(n, s, t) for n, s, t in json.loads(sys.argv[2]))
    ctx = CoreContext(windows=windows, breakdowns=tuple(sys.argv[3].split(",")))
    engine, encode = _engine(ctx, {"tickets": "tickets", "surveys": "surveys"})
    tps = {(r[0], r[1]) for r in records}
    engine.assign(tps)
    engine.end_offsets = dict.fromkeys(tps, 0)
    _collector()
    started, cpu_started = time.perf_counter(), time.process_time()
    window_records = 0
    for i in range(0, len(records), BATCH):
        window_records += sum(
            1 for _ in encode(engine.handle_batch(records[i : i + BATCH]).windows)
        )
    window_records += sum(1 for _ in encode(engine.close_windows()))
    cpu = time.process_time() - cpu_started
    result = {
        "records": len(records),
        "seconds": time.perf_counter() - started,
        "cpu_seconds": cpu,
        "window_records": window_records,
        **_render_cost(engine),
        **_state_cost(ctx, records),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
