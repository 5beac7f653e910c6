"""The crash fault run shared by the quick test and the soak: a seeded stream flows into Kafka
while the worker is killed with SIGKILL at seeded random moments and restarted; afterwards every
closed window of every KPI must equal the reference."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.kafka import LocalBroker
from pipeline.simulate import ProducerOptions, ProduceStats, SimRecord, produce
from tests import reference as ref
from tests.integration.compare import WINDOWS, assert_windows_match, expected_results
from tests.integration.harness import WorkerProcess, read_topic, running_worker, wait_until

PARTITIONS = 4


class BackgroundStream:
    """Produces ``records`` at ``rate`` per second in a thread; ``produced`` counts the records
    handed to the producer so far."""

    def __init__(self, bootstrap: str, prefix: str, records: list[SimRecord], rate: float) -> None:
        self.records = records
        self.produced = 0
        self._result: dict[str, Any] = {}
        self._options = ProducerOptions(
            bootstrap_servers=bootstrap,
            topics={"tickets": f"{prefix}-tickets", "surveys": f"{prefix}-surveys"},
            partitions=PARTITIONS,
            max_rate=rate,
        )
        self.thread = threading.Thread(target=self._run, name="stream-producer", daemon=True)

    def start(self) -> BackgroundStream:
        self.thread.start()
        return self

    def _counting(self) -> Iterator[SimRecord]:
        for record in self.records:
            self.produced += 1
            yield record

    def _run(self) -> None:
        try:
            self._result["stats"] = asyncio.run(produce(self._counting(), self._options))
        except BaseException as exc:  # reported by the main thread
            self._result["error"] = exc

    @property
    def flowing(self) -> bool:
        return self.thread.is_alive()

    def share(self) -> float:
        return self.produced / len(self.records)

    def join(self, timeout: float = 3600) -> None:
        """Wait for the end of the stream; every record must have been acknowledged."""
        self.thread.join(timeout=timeout)
        assert "error" not in self._result, self._result.get("error")
        stats: ProduceStats = self._result["stats"]
        assert stats.total == len(self.records)


@dataclass
class FaultRun:
    records: int
    kills: list[dict[str, float]] = field(default_factory=list)
    final_recovery_seconds: float = 0.0
    final_redelivered: float = 0.0
    compared: int = 0
    windows: int = 0
    dlq_records: int = 0
    dlq_distinct: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        kills = ", ".join(
            f"kill {i + 1} at {k['share']:.0%} of the stream, {k['alive']:.0f}s after recovering "
            f"in {k['recovery']:.1f}s ({k['startup']:.0f}s after its start; "
            f"{k['received']:.0f} records read, {k['redelivered']:.0f} of them redelivered and "
            "skipped)"
            for i, k in enumerate(self.kills)
        )
        return (
            f"{self.records} records; {kills}; final recovery {self.final_recovery_seconds:.1f}s "
            f"({self.final_redelivered:.0f} redelivered records skipped); "
            f"compared {self.compared} KPI values in {self.windows} window x scope records; "
            f"DLQ {self.dlq_records} records ({self.dlq_distinct} distinct); "
            f"{self.seconds:.0f}s in all"
        )


def _sample(worker: WorkerProcess, name: str, labels: tuple[tuple[str, str], ...] = ()) -> float:
    return float(worker.scrape().get((name, labels), 0.0))


def _received(worker: WorkerProcess) -> float:
    return _per_source(worker.scrape(), "kpi_events_received_total")


def _per_source(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str) -> float:
    return sum(samples.get((name, (("source", src),)), 0.0) for src in ("tickets", "surveys"))


def _recovered(worker: WorkerProcess) -> bool:
    return _sample(worker, "kpi_recoveries_total") >= 1


def run_with_kills(
    broker: LocalBroker,
    tmp_path: Path,
    prefix: str,
    records: list[SimRecord],
    kills: int,
    seed: int,
    rate: float,
    work_before_kill: tuple[int, int] = (150, 600),
) -> FaultRun:
    """Produce ``records`` at ``rate`` per second while a worker runs and is SIGKILLed ``kills``
    times: kill i comes once a seeded share of the stream, around (i + 1) / (kills + 1), has been
    produced and the worker has read a seeded number of records (``work_before_kill``), a
    seeded second or two later."""
    started = time.monotonic()
    bootstrap = broker.bootstrap_servers
    rng = random.Random(seed)
    expected = expected_results(
        [ref.Produced(r.topic, r.key, r.value, r.expect) for r in records], PARTITIONS
    )
    stream = BackgroundStream(bootstrap, prefix, records, rate).start()
    run = FaultRun(records=len(records))
    recovery = ("kpi_recovery_seconds", (("phase", "total"),))
    for i in range(kills):
        spawned_at = time.monotonic()
        # Each restart in the same data directory, as on one machine: the new worker finds
        # the local copy of the tables that the killed one left.
        with running_worker(
            bootstrap, prefix, tmp_path / "worker", PARTITIONS, KPI_LOG_LEVEL="info"
        ) as worker:
            wait_until(lambda: _recovered(worker), 180, "the worker to recover", worker)
            recovered_at = time.monotonic()
            assert stream.flowing, (
                f"the stream ended before worker {i + 1} was up "
                f"({recovered_at - spawned_at:.0f}s after its start)"
            )
            share = (i + 0.75 + rng.random() / 2) / (kills + 1)
            due = share * len(records)
            wait_until(lambda d=due: stream.produced >= d, 600, f"{share:.0%} produced", worker)  # type: ignore[misc]
            # ... and once it has done a seeded amount of work, so that it dies with state.
            work = rng.randint(*work_before_kill)
            wait_until(lambda w=work: _received(worker) >= w, 600, f"{work} records read", worker)  # type: ignore[misc]
            time.sleep(rng.uniform(1.0, 2.0))
            span = time.monotonic() - recovered_at
            assert stream.flowing, "the stream must still flow when the worker is killed"
            samples = worker.scrape()
            worker.process.kill()  # SIGKILL: no chance to flush or commit anything
            worker.process.wait()
            run.kills.append(
                {
                    "startup": recovered_at - spawned_at,
                    "share": stream.share(),
                    "alive": span,
                    "recovery": samples.get(recovery, 0.0),
                    "received": _per_source(samples, "kpi_events_received_total"),
                    # Records the previous process had saved state for but not committed.
                    "redelivered": _per_source(samples, "kpi_events_redelivered_total"),
                }
            )
    with running_worker(
        bootstrap, prefix, tmp_path / "worker", PARTITIONS, KPI_LOG_LEVEL="info"
    ) as worker:
        stream.join()

        seen: dict[str, float] = {}

        def closed() -> bool:
            # ... and acknowledged by the broker: the worker is stopped next.
            s = worker.scrape()
            got = s.get(("kpi_windows_closed_through_timestamp_seconds", (("window", "1h"),)))
            every = min(
                s.get(("kpi_windows_closed_through_timestamp_seconds", (("window", w),)), 0.0)
                for w in WINDOWS
            )
            delivered = s.get(("kpi_windows_delivered_through_timestamp_seconds", ()))
            seen.update(closed=got or 0.0, delivered=delivered or 0.0, received=_received(worker))
            return got == expected.last_end() and delivered == every

        try:
            wait_until(closed, 120 + len(records) / 20, "the final windows to close", worker)
        except AssertionError as exc:
            raise AssertionError(f"{seen} (want {expected.last_end()}): {exc}") from None
        run.final_recovery_seconds = _sample(worker, *recovery)
        run.final_redelivered = _per_source(worker.scrape(), "kpi_events_redelivered_total")
    run.compared, run.windows = assert_windows_match(
        bootstrap, f"{prefix}-kpi-windows", expected, min_compared=10_000
    )
    # Every rejected record is in the DLQ; a crash may write some twice (at-least-once).
    dlq = read_topic(bootstrap, f"{prefix}-events-dlq")
    got = {(key, value, headers["dlq.reason"].decode()) for key, value, headers in dlq}
    want = {(r.key, r.value, r.expect) for r in records if r.expect is not None}
    extra = Counter(reason for _, _, reason in got - want)
    missing = Counter(reason for _, _, reason in want - got)
    assert not extra and not missing, f"DLQ: unexpected {dict(extra)}, missing {dict(missing)}"
    run.dlq_records, run.dlq_distinct = len(dlq), len(got)
    run.seconds = time.monotonic() - started
    return run
