"""Scale-out on the real broker: while a seeded stream flows, a second worker joins the first
(same app id, so one consumer group), then the first stops. Partitions and their state move
between them; the final windows equal the reference, and scrapes of both workers taken during
the run never show a series on both at once, nor a partition's series on a worker that has
lost it."""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from pipeline.kafka import LocalBroker
from tests import reference as ref
from tests.integration.compare import assert_windows_match, expected_results, simulated
from tests.integration.faults import PARTITIONS, BackgroundStream
from tests.integration.harness import WorkerProcess, running_worker, stop, wait_until

pytestmark = pytest.mark.integration

# Series that only the worker closing windows may export, whichever it is.
CLOSING_FAMILIES = (
    "kpi_value",
    "kpi_sample_size",
    "kpi_window_end_timestamp_seconds",
    "kpi_backlog_tickets",
    "kpi_windows_closed_through_timestamp_seconds",
    "kpi_target_",
    "kpi_alert_state",
)

Series = tuple[str, tuple[tuple[str, str], ...]]


@dataclass(frozen=True)
class Scrape:
    worker: str
    at: float
    closing: frozenset[Series]  # KPI series (only the closing worker)
    partitions: frozenset[tuple[str, str]]  # (topic, partition) with per-partition series


def scrape(name: str, worker: WorkerProcess) -> Scrape | None:
    try:
        samples = worker.scrape()
    except OSError:  # not serving yet, or stopping
        return None
    closing = frozenset(k for k in samples if k[0].startswith(CLOSING_FAMILIES))
    partitions = frozenset(
        (labels["topic"], labels["partition"])
        for _, label_items in samples
        if "partition" in (labels := dict(label_items))
    )
    return Scrape(name, time.monotonic(), closing, partitions)


class Scraper:
    """Scrapes the running workers in turn, every half second, until stopped."""

    def __init__(self) -> None:
        self.workers: dict[str, WorkerProcess] = {}
        self.scrapes: list[Scrape] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="scraper", daemon=True)

    def __enter__(self) -> Scraper:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.is_set():
            for name, worker in list(self.workers.items()):
                if worker.process.poll() is None and (s := scrape(name, worker)) is not None:
                    self.scrapes.append(s)
            self._stop.wait(0.5)


def overlaps(scrapes: list[Scrape]) -> list[str]:
    """Series that one worker exported both right before and right after a scrape of the
    other that exported them too: at that moment, both exported them."""
    found = []
    for i, middle in enumerate(scrapes):
        before = next((s for s in reversed(scrapes[:i]) if s.worker != middle.worker), None)
        after = next((s for s in scrapes[i + 1 :] if s.worker != middle.worker), None)
        if before is None or after is None or before.worker != after.worker:
            continue
        both = (before.closing & after.closing) & middle.closing
        parts = (before.partitions & after.partitions) & middle.partitions
        if both or parts:
            found.append(
                f"{middle.worker} at {middle.at:.1f}s with {before.worker} around it: "
                f"{sorted(both)[:3]} {sorted(parts)}"
            )
    return found


def test_second_worker_joins_then_first_stops_windows_equal_reference(
    kafka_broker: LocalBroker, tmp_path: Path
) -> None:
    started = time.monotonic()
    bootstrap, prefix = kafka_broker.bootstrap_servers, "scale"
    records = simulated(hours=10, tickets_per_hour=200, seed=7)
    expected = expected_results(
        [ref.Produced(r.topic, r.key, r.value, r.expect) for r in records], PARTITIONS
    )
    all_partitions = {
        (f"{prefix}-{topic}", str(p)) for topic in ("tickets", "surveys") for p in range(PARTITIONS)
    }
    stream = BackgroundStream(bootstrap, prefix, records, rate=40).start()
    with contextlib.ExitStack() as stack, Scraper() as scraper:
        a = stack.enter_context(worker(bootstrap, prefix, tmp_path / "a"))
        scraper.workers["a"] = a
        wait_until(lambda: latest(scraper, "a", all_partitions), 120, "worker A to own all", a)
        wait_until(lambda: stream.share() >= 0.3, 300, "30% of the stream produced", a)
        assert stream.flowing, "B must join mid-stream"

        b = stack.enter_context(worker(bootstrap, prefix, tmp_path / "b"))
        scraper.workers["b"] = b
        wait_until(lambda: shared(scraper, all_partitions), 120, "A and B to share", b)
        shared_at = stream.share()
        wait_until(lambda: stream.share() >= shared_at + 0.15, 300, "more of the stream", b)
        assert stream.flowing, "A must stop mid-stream"
        stop(a.process)
        del scraper.workers["a"]
        stopped_at = stream.share()

        wait_until(lambda: latest(scraper, "b", all_partitions), 120, "B to own all", b)
        stream.join()
        wait_until(lambda: closed_through(b) == expected.last_end(), 180, "the final windows", b)
    compared, windows = assert_windows_match(
        bootstrap, f"{prefix}-kpi-windows", expected, min_compared=10_000
    )
    problems = overlaps(scraper.scrapes)
    assert not problems, problems[:5]
    by_worker = {w: [s for s in scraper.scrapes if s.worker == w] for w in ("a", "b")}
    # Both exported KPI series in turn: the closing moved from A to B.
    assert any(s.closing for s in by_worker["a"]) and any(s.closing for s in by_worker["b"])
    print(
        f"\n{len(records)} records; B joined at {shared_at:.0%}, A stopped at {stopped_at:.0%} "
        f"of the stream; {len(scraper.scrapes)} scrapes; compared {compared} KPI values in "
        f"{windows} window x scope records; {time.monotonic() - started:.0f}s in all"
    )


def worker(
    bootstrap: str, prefix: str, data_dir: Path
) -> contextlib.AbstractContextManager[WorkerProcess]:
    """A worker of the shared group, with its own data dir and web port, logging rebalances."""
    return running_worker(bootstrap, prefix, data_dir, PARTITIONS, KPI_LOG_LEVEL="info")


def latest(scraper: Scraper, worker: str, partitions: set[tuple[str, str]]) -> bool:
    """The newest scrape of ``worker`` shows the series of exactly ``partitions``."""
    mine = [s for s in scraper.scrapes if s.worker == worker]
    return bool(mine) and mine[-1].partitions == partitions


def shared(scraper: Scraper, partitions: set[tuple[str, str]]) -> bool:
    """The newest scrapes of A and B split ``partitions`` between them, both holding some."""
    newest = {s.worker: s for s in scraper.scrapes}
    if set(newest) != {"a", "b"}:
        return False
    a, b = newest["a"].partitions, newest["b"].partitions
    return bool(a) and bool(b) and not (a & b) and (a | b) == partitions


def closed_through(worker: WorkerProcess) -> float | None:
    s = worker.scrape()
    return s.get(("kpi_windows_closed_through_timestamp_seconds", (("window", "1h"),)))
