"""Running the real worker as a separate process, scraping it, and reading topics to the end."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from pipeline.kafka import LocalBroker, free_port, internals


@contextlib.contextmanager
def local_broker(data_dir: Path, **options: Any) -> Iterator[LocalBroker]:
    """A started single-node broker on free ports in ``data_dir``, stopped at the end."""
    broker = LocalBroker(
        data_dir=data_dir,
        port=free_port(),
        controller_port=free_port(),
        # A test run killed hard must not leave a JVM behind.
        stop_with_parent=True,
        **options,
    )
    try:
        broker.start(timeout=90)
        yield broker
    finally:
        broker.stop()


@dataclass
class WorkerProcess:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/metrics"

    def scrape_text(self) -> str:
        with urllib.request.urlopen(self.metrics_url, timeout=5) as response:
            return str(response.read().decode())

    def scrape(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        """(sample name, sorted labels) -> value."""
        samples = {}
        for family in text_string_to_metric_families(self.scrape_text()):
            for s in family.samples:
                samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
        return samples

    def log_tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:]


def worker_env(
    bootstrap: str, prefix: str, data_dir: Path, port: int, partitions: int, **extra: str
) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        KPI_KAFKA__BOOTSTRAP_SERVERS=bootstrap,
        KPI_APP_ID=f"{prefix}-worker",
        KPI_DATA_DIR=str(data_dir),
        KPI_WEB__PORT=str(port),
        KPI_TOPICS__TICKETS=f"{prefix}-tickets",
        KPI_TOPICS__SURVEYS=f"{prefix}-surveys",
        KPI_TOPICS__DLQ=f"{prefix}-events-dlq",
        KPI_TOPICS__WINDOWS=f"{prefix}-kpi-windows",
        KPI_TOPICS__PANES=f"{prefix}-kpi-panes",
        KPI_TOPICS__PARTITIONS=str(partitions),
        KPI_LOG_LEVEL="warning",
    )
    env.update(extra)
    return env


@contextlib.contextmanager
def running_worker(
    bootstrap: str, prefix: str, data_dir: Path, partitions: int, **extra: str
) -> Iterator[WorkerProcess]:
    port = free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    log = data_dir / "worker.log"
    env = worker_env(bootstrap, prefix, data_dir, port, partitions, **extra)
    with log.open("ab") as out:  # a restarted worker appends: the whole story in one file
        process = subprocess.Popen(
            [sys.executable, "-m", "pipeline", "worker"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=data_dir,
        )
    worker = WorkerProcess(process, port, log)
    try:
        yield worker
    finally:
        stop(process)


def stop(process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """SIGTERM, and SIGKILL if it has not exited within the timeout."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def wait_until(
    condition: Callable[[], bool], timeout: float, what: str, worker: WorkerProcess | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if worker is not None and worker.process.poll() is not None:
            raise AssertionError(f"worker exited while waiting for {what}:\n{worker.log_tail()}")
        with contextlib.suppress(OSError):
            if condition():
                return
        time.sleep(0.5)
    tail = worker.log_tail() if worker else ""
    state = _pipeline_series(worker) if worker else ""
    raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{state}{tail}")


def _pipeline_series(worker: WorkerProcess) -> str:
    """The worker's own series on /metrics (not the KPIs): what it received, rejected and
    closed when a wait timed out, which its log at INFO does not say."""
    try:
        text = worker.scrape_text()
    except OSError as exc:
        return f"(/metrics not readable: {exc})\n"
    lines = [
        line
        for line in text.splitlines()
        if line.startswith("kpi_")
        and not line.startswith(("kpi_value", "kpi_target", "kpi_gap", "kpi_backlog"))
    ]
    return "/metrics, the pipeline's own series:\n" + "\n".join(lines[:200]) + "\n"


async def read_all(
    bootstrap: str, topic: str
) -> list[tuple[bytes | None, bytes, dict[str, bytes]]]:
    """Every record of a topic, up to its end offsets at the time of the call."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        if not partitions:
            await internals.refresh_metadata(consumer)
            partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        records = []
        remaining = {tp for tp in tps if ends[tp] > 0}
        while remaining:
            batch = await consumer.getmany(timeout_ms=1000)
            for tp, messages in batch.items():
                for m in messages:
                    records.append((m.key, m.value, dict(m.headers)))
                    if m.offset + 1 >= ends[tp]:
                        remaining.discard(tp)
        return records
    finally:
        await consumer.stop()


def read_topic(bootstrap: str, topic: str) -> list[tuple[bytes | None, bytes, dict[str, bytes]]]:
    return asyncio.run(read_all(bootstrap, topic))
