"""Replay rate on a stream of known size: ``make bench-replay`` (results in docs/replay.md).

Starts a local broker on free ports in a temporary directory, produces a seeded simulated
stream, replays all of it and prints records, wall time, records per second and the peak
memory of the process.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pipeline.config import Settings, TimeSettings
from pipeline.kafka import LocalBroker, free_port
from pipeline.replay.cli import select_windows
from pipeline.replay.run import ReplayOptions, run_replay
from pipeline.simulate import ProducerOptions, SimConfig, generate, produce
from pipeline.worker.context import core_context

ALL = "all,service,service_team,service_channel,service_priority"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=float, default=1.0)
    parser.add_argument("--tickets-per-hour", type=float, default=60.0)
    parser.add_argument("--windows", default="", help="as replay --windows; default 1h, 24h")
    parser.add_argument("--breakdowns", default=ALL)
    args = parser.parse_args()
    start = datetime(2026, 3, 2, tzinfo=UTC)
    duration = timedelta(days=args.days)
    config = SimConfig(
        seed=11, start=start, duration=duration, tickets_per_hour=args.tickets_per_hour
    )
    windows = select_windows(TimeSettings().windows, (args.windows,) if args.windows else ())
    with tempfile.TemporaryDirectory() as tmp:
        broker = LocalBroker(
            data_dir=Path(tmp) / "kafka",
            port=free_port(),
            controller_port=free_port(),
            stop_with_parent=True,
        )
        broker.start(timeout=90)
        try:
            bootstrap = broker.bootstrap_servers
            topics = {"tickets": "bench-tickets", "surveys": "bench-surveys"}
            asyncio.run(
                produce(
                    generate(config), ProducerOptions(bootstrap_servers=bootstrap, topics=topics)
                )
            )
            settings = Settings(
                kafka={"bootstrap_servers": bootstrap},
                topics={"tickets": topics["tickets"], "surveys": topics["surveys"]},
                time={"windows": windows},
                breakdowns=args.breakdowns.split(","),
            )
            options = ReplayOptions(
                start=start.timestamp(),
                end=(start + duration).timestamp(),
                out=Path(tmp) / "report",
                openmetrics=Path(tmp) / "replay.om",
                progress=False,
            )
            began = time.perf_counter()
            result = asyncio.run(run_replay(settings, core_context(settings), options))
            elapsed = time.perf_counter() - began
        finally:
            broker.stop()
    facts = result.facts
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"{facts.records} records ({args.days:g} d at {args.tickets_per_hour:g} tickets/h; "
        f"windows {', '.join(w.name for w in windows)}; breakdowns {args.breakdowns}): "
        f"read and recomputed in {facts.elapsed:.1f} s = {facts.records / facts.elapsed:.0f} "
        f"records/s; with the report {elapsed:.1f} s; {facts.windows} windows, {facts.rows} "
        f"rows, {result.openmetrics_samples} OpenMetrics samples; peak memory {peak_mb:.0f} MB"
    )


if __name__ == "__main__":
    main()
