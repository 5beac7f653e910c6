"""The bench run: one broker, streams produced once, every measurement in turn, one table."""

from __future__ import annotations

import json
import os
import platform
import re
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.baseline import compare_with
from bench.ceiling import run_ceiling
from bench.consume import bare_consumer, core_replay
from bench.core import CORE_CASES, run_core_case
from bench.live import run_live, topic_env
from bench.report import Row, print_table, table_markdown
from bench.streams import PARTITIONS, Streams, produce_streams
from pipeline.config import Settings
from pipeline.kafka import LocalBroker, free_port
from tests.integration.harness import worker_env

__all__ = ["BenchOptions", "run_bench"]

# The in-process cases take at most this many records (each case simulates its own stream).
INPROCESS_EVENTS = 300_000
_REPLAYED = re.compile(r"replayed (?P<records>\d+) records in (?P<seconds>[\d.]+) s")
ALL = frozenset({"inprocess", "limit", "ceiling", "worker", "replay", "peer", "latency"})


@dataclass(frozen=True)
class BenchOptions:
    events: int = 1_000_000
    seed: int = 11
    tickets_per_hour: float = 900.0
    only: frozenset[str] = field(default_factory=frozenset)
    rate: float = 5000.0
    latency_seconds: float = 60.0
    replay_cmd: str | None = None
    baseline: str | None = None  # a git revision whose engine the in-process cases also run
    out: str | None = None
    label: str = "bench"

    def wants(self, name: str) -> bool:
        return not self.only or name in self.only


def machine() -> dict[str, Any]:
    load = os.getloadavg()
    mem = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem = int(line.split()[1]) * 1024
    cpu = platform.processor() or ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return {
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": round(mem / 2**30, 1),
        "python": platform.python_version(),
        "load_at_start": [round(x, 2) for x in load],
    }


def run_bench(options: BenchOptions) -> int:
    results: dict[str, Any] = {"label": options.label, "machine": machine(), "options": {}}
    results["options"] = {k: v for k, v in asdict(options).items() if k != "only"}
    with tempfile.TemporaryDirectory(prefix="kpi-bench-") as tmp:
        root = Path(tmp)
        broker = LocalBroker(
            data_dir=root / "kafka",
            port=free_port(),
            controller_port=free_port(),
            stop_with_parent=True,
        )
        broker.start(timeout=120)
        try:
            run_all(options, broker.bootstrap_servers, root, results)
        finally:
            broker.stop()
    results["machine"]["load_at_end"] = [round(x, 2) for x in os.getloadavg()]
    rows = table_rows(results)
    print_table(rows, results)
    if options.out:
        Path(options.out).parent.mkdir(parents=True, exist_ok=True)
        Path(options.out).write_text(json.dumps(results, indent=2, default=str) + "\n")
        Path(options.out).with_suffix(".md").write_text(table_markdown(results))
    return 0


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def run_all(options: BenchOptions, bootstrap: str, root: Path, results: dict[str, Any]) -> None:
    log(f"simulating and producing {options.events:,} records over {PARTITIONS} partitions")
    streams = produce_streams(
        bootstrap, "bench", options.events, options.seed, options.tickets_per_hour
    )
    results["streams"] = {
        "records": streams.total,
        "per_topic": dict(streams.per_topic),
        "rejects": streams.expected_rejects,
        "event_hours": round((streams.last_ts - streams.first_ts) / 3600, 1),
        "generate_seconds": round(streams.generate_seconds, 1),
        "produce_rate": round(streams.produce_rate),
    }
    log(f"streams: {results['streams']}")
    settings = Settings()
    if options.wants("inprocess"):
        inprocess(options, results)
    if options.wants("limit"):
        log("bare aiokafka consumer, JSON decode only")
        drained = bare_consumer(bootstrap, streams)
        results["limit"] = {
            "records": drained.records,
            "seconds": drained.seconds,
            "rate": drained.rate,
            "cpu_rate": drained.cpu_rate,
        }
        log(f"limit: {drained.rate:,.0f} records/s")
    if options.wants("ceiling"):
        results["ceiling"] = {}
        # Faust's own delivery on both loops, and on uvloop as the worker hands records on.
        for loop, delivery in (("asyncio", "faust"), ("uvloop", "faust"), ("uvloop", "lean")):
            name = loop if delivery == "faust" else f"{loop}, lean delivery"
            log(f"no-op Faust agent (JSON decode only), {name}")
            run = run_ceiling(
                bootstrap,
                streams.topics,
                streams.total,
                loop,
                root / f"noop-{loop}-{delivery}" / "agent.log",
                timeout=600 + streams.total / 100,
                delivery=delivery,
            )
            results["ceiling"][name] = run
            log(f"no-op agent ({name}): {run['rate']:,.0f} records/s")
    if options.wants("worker"):
        log("live worker from offset zero to the final watermark")
        live = run_live(
            bootstrap,
            "bench",
            streams.topics,
            streams.total,
            streams.final_frontier,
            root / "worker",
            PARTITIONS,
            timeout=600 + streams.total / 100,
        )
        results["worker"] = {
            "records": live.records,
            "seconds": live.seconds,
            "startup_seconds": live.startup_seconds,
            "rate": live.rate,
            "cpu_rate": live.cpu_rate,
            "peak_rss": live.peak_rss,
            "memory": [asdict(s) for s in live.samples],
        }
        log(f"worker: {live.rate:,.0f} records/s, peak RSS {live.peak_rss / 2**20:,.0f} MiB")
    if options.wants("replay"):
        replay(options, bootstrap, streams, settings, root, results)
    if options.wants("peer"):
        from bench.peer import run_peer

        log("Quix Streams peer: counts and means per service, tumbling 1h windows")
        results["peer"] = run_peer(
            bootstrap, streams, root / "quix", worker=options.wants("worker")
        )
        log(f"peer: {results['peer']}")
        log("replay on the peer's configuration: per service, one tumbling 1h window")
        results["peer"]["subset_replay"] = run_replay(
            options.replay_cmd,
            bootstrap,
            streams,
            root,
            "replay-subset",
            "--windows 1h=1h/1h --breakdowns service",
        )
    if options.wants("latency"):
        from bench.latency import run_latency

        log(f"end-to-end latency at {options.rate:,.0f} records/s")
        results["latency"] = run_latency(
            bootstrap, root / "latency", options.rate, options.latency_seconds, options.seed
        )
        log(f"latency: { {k: v for k, v in results['latency'].items() if k != 'samples'} }")


def inprocess(options: BenchOptions, results: dict[str, Any]) -> None:
    """The engine alone on the same seeded stream, case by case (bench/core.py)."""
    events = min(options.events, INPROCESS_EVENTS)
    results["inprocess"] = {}
    for name in CORE_CASES:
        log(f"in-process core, case {name}, {events:,} records")
        r = run_core_case(name, events, options.seed, options.tickets_per_hour)
        results["inprocess"][name] = {
            "records": r.records,
            "seconds": r.seconds,
            "cpu_seconds": r.cpu_seconds,
            "rate": r.rate,
            "cpu_rate": r.rate_per_cpu,
            "scopes": r.scopes,
            "window_records": r.windows,
            "steps": r.steps,
            "closing_cpu_per_step": r.closing_cpu_per_step,
        }
        log(f"{name}: {r.rate_per_cpu:,.0f} records/CPU-s, {r.scopes} scopes")
    if options.baseline:
        log(f"the same cases on the engine of {options.baseline} and of this checkout")
        results["baseline"] = {
            "rev": options.baseline,
            "cases": compare_with(
                options.baseline, events, options.seed, options.tickets_per_hour, log
            ),
        }


def replay(
    options: BenchOptions,
    bootstrap: str,
    streams: Streams,
    settings: Settings,
    root: Path,
    results: dict[str, Any],
) -> None:
    """The real ``kpi-pipeline replay`` over the whole stream (report, CSV and plots included),
    then the core alone fed by a bare consumer: what the replay costs beyond the core."""
    results["replay"] = run_replay(options.replay_cmd, bootstrap, streams, root, "replay")
    log(f"replay: {results['replay']['rate']:,.0f} records/s")
    log("the core alone (the engine, no state store) fed by a bare consumer")
    drained, windows = core_replay(bootstrap, streams, settings)
    results["core"] = {
        "kind": "core driven by a bare consumer",
        "records": drained.records,
        "seconds": drained.seconds,
        "rate": drained.rate,
        "cpu_rate": drained.cpu_rate,
        "window_records": windows,
    }
    log(f"core: {results['core']['rate']:,.0f} records/s")


def run_replay(
    replay_cmd: str | None,
    bootstrap: str,
    streams: Streams,
    root: Path,
    name: str,
    extra_args: str = "",
) -> dict[str, Any]:
    """One ``kpi-pipeline replay`` of the whole stream, timed from outside (start-up, reading,
    the core, kpis.csv and the plots); ``extra_args`` narrows windows or breakdowns."""
    out = root / f"{name}-out"
    first = datetime.fromtimestamp(streams.first_ts, UTC).isoformat()
    # --to is exclusive, and late records may lie past the last on-time one.
    last = datetime.fromtimestamp(streams.last_ts + 1, UTC).isoformat()
    command = replay_cmd or (
        f"{shlex.quote(sys.executable)} -m pipeline replay --from {first} --to {last} --out {{out}}"
    )
    command = f"{command} {extra_args}".strip()
    log(f"replay command: {command}")
    topics = topic_env(streams.topics)
    env = worker_env(bootstrap, "bench", root / name, 0, PARTITIONS, **topics)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(
        shlex.split(command.format(out=out)),
        env=env,
        check=True,
        cwd=root,
        stdout=subprocess.PIPE,
        text=True,
    )
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    result: dict[str, Any] = {
        "kind": "kpi-pipeline replay, report included",
        "records": streams.total,
        "seconds": seconds,
        "rate": streams.total / seconds,
        "cpu_seconds": cpu,
        "cpu_rate": streams.total / cpu if cpu else None,
    }
    # The replay's own line: the time from its first read to its last record (no start-up,
    # no report), the span a stream processor's own rate covers.
    stream = _REPLAYED.search(done.stdout)
    if stream:
        result["stream_seconds"] = float(stream["seconds"])
        result["stream_rate"] = int(stream["records"]) / max(float(stream["seconds"]), 1e-9)
    return result


def table_rows(results: dict[str, Any]) -> list[Row]:
    from bench.report import rows_from

    return rows_from(results)
