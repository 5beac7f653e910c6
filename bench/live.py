"""The live worker as a separate process, timed from offset zero to the final watermark, with
its memory sampled along the way."""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from tests.integration.harness import WorkerProcess, running_worker

__all__ = ["LiveRun", "MemorySample", "Scrape", "check_alive", "run_live", "scrape", "topic_env"]

_SAMPLE_EVERY = 10.0  # seconds between memory samples (each one renders /metrics)
# Only the series the bench reads: parsing the whole exposition would cost more than the worker.
_WANTED = (
    b"kpi_events_received_total",
    b"kpi_windows_closed_through_timestamp_seconds",
    b"kpi_window_end_timestamp_seconds",
    b"kpi_tickets_tracked",
    b"kpi_pending_events",
    b"kpi_consumer_lag_records",
)


@dataclass
class Scrape:
    received: float = 0.0
    closed_1h: float | None = None
    window_end_1h: float | None = None
    tickets: float = 0.0
    pending: float = 0.0
    assigned: int = 0  # input partitions the worker owns (and knows the end of)


def parse(text: bytes) -> Scrape:
    s = Scrape()
    for line in text.split(b"\n"):
        if not line.startswith(_WANTED):
            continue
        name_labels, _, value = line.rpartition(b" ")
        v = float(value)
        if name_labels.startswith(b"kpi_events_received_total"):
            s.received += v
        elif name_labels.startswith(b"kpi_windows_closed_through") and b'"1h"' in name_labels:
            s.closed_1h = v
        elif name_labels.startswith(b"kpi_window_end_timestamp") and b'"1h"' in name_labels:
            s.window_end_1h = v
        elif name_labels.startswith(b"kpi_tickets_tracked"):
            s.tickets += v
        elif name_labels.startswith(b"kpi_pending_events"):
            s.pending += v
        elif name_labels.startswith(b"kpi_consumer_lag_records"):
            s.assigned += 1
    return s


def scrape(worker: WorkerProcess) -> Scrape | None:
    try:
        return parse(worker.scrape_text().encode())
    except OSError:
        return None


def rss_bytes(pid: int) -> tuple[int, int]:
    """Current and peak resident set size of a process."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) * 1024
    return fields.get("VmRSS", 0), fields.get("VmHWM", 0)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far: on a shared machine, work per CPU second is
    steadier than work per wall second."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def check_alive(worker: WorkerProcess) -> None:
    if worker.process.poll() is not None:
        raise RuntimeError(f"worker exited with {worker.process.returncode}:\n{worker.log_tail()}")


def topic_env(topics: dict[str, str], **extra: str) -> dict[str, str]:
    """The bench's input topics (shared by several workers of one run) and extra settings."""
    return {
        "KPI_TOPICS__TICKETS": topics["tickets"],
        "KPI_TOPICS__SURVEYS": topics["surveys"],
        **extra,
    }


@dataclass
class MemorySample:
    received: float
    tickets: float
    pending: float
    rss: int


@dataclass
class LiveRun:
    records: int
    startup_seconds: float  # process start to the first record processed
    seconds: float  # first record processed to the final watermark
    peak_rss: int
    samples: list[MemorySample] = field(default_factory=list)
    cpu_seconds: float = 0.0  # the worker's, over the same span

    @property
    def cpu_rate(self) -> float:
        return self.records / self.cpu_seconds

    @property
    def rate(self) -> float:
        return self.records / self.seconds


def run_live(  # noqa: PLR0913, PLR0917 (one argument per piece of the run the bench sets up)
    bootstrap: str,
    prefix: str,
    topics: dict[str, str],
    total: int,
    final_frontier: float,
    data_dir: Path,
    partitions: int,
    timeout: float,
    extra_env: dict[str, str] | None = None,
) -> LiveRun:
    """Start a worker on the topics (a fresh consumer group: offset zero) and wait until it has
    read every record and closed every window the stream closes.

    Progress comes from the group's committed offsets (Faust commits every second), not from
    /metrics: rendering every KPI series costs the worker far more than a commit lookup, so
    /metrics is read only every few seconds for the memory samples and once at the end.
    """
    env = topic_env(topics, **(extra_env or {}))
    with running_worker(bootstrap, prefix, data_dir, partitions, **env) as worker:
        return asyncio.run(
            _watch(worker, bootstrap, f"{prefix}-worker", topics, total, final_frontier, timeout)
        )


async def _watch(
    worker: WorkerProcess,
    bootstrap: str,
    group: str,
    topics: dict[str, str],
    total: int,
    final_frontier: float,
    timeout: float,
) -> LiveRun:
    launched = time.monotonic()
    deadline = launched + timeout
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        first: float | None = None
        done: float | None = None
        cpu_first = cpu_done = 0.0
        samples: list[MemorySample] = []
        last_sample = launched
        names = set(topics.values())
        while True:
            check_alive(worker)
            now = time.monotonic()
            if now > deadline:
                raise RuntimeError(f"worker did not finish within {timeout}s")
            try:
                offsets = await admin.list_consumer_group_offsets(group)
            except KafkaError:  # the group's coordinator is not there before the first join
                offsets = {}
            committed = sum(
                meta.offset for tp, meta in offsets.items() if tp.topic in names and meta.offset > 0
            )
            if first is None and committed > 0:
                first = now
                cpu_first = cpu_seconds(worker.process.pid)
            if now - last_sample >= _SAMPLE_EVERY or (committed >= total and done is None):
                s = await asyncio.to_thread(scrape, worker)
                if s is not None and s.received:
                    samples.append(
                        MemorySample(
                            s.received, s.tickets, s.pending, rss_bytes(worker.process.pid)[0]
                        )
                    )
                last_sample = now
                if (
                    committed >= total
                    and s is not None
                    and s.closed_1h is not None
                    and s.closed_1h >= final_frontier
                ):
                    done = now
                    cpu_done = cpu_seconds(worker.process.pid)
                    break
            await asyncio.sleep(0.5)
        _, peak = rss_bytes(worker.process.pid)
    finally:
        await admin.close()
    assert first is not None and done is not None
    return LiveRun(total, first - launched, done - first, peak, samples, cpu_done - cpu_first)
