"""Replay rate on a stream of known size: ``make bench-replay`` (results in docs/replay.md).

Starts a local broker on free ports in a temporary directory, produces a seeded simulated
stream, replays all of it with the CLI's defaults (every breakdown, the default windows) and
prints records, wall time and records per second, for the replay alone and for the core alone
(the same records fed without Kafka).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import UTC, datetime, timedelta

from pipeline.config import Settings
from pipeline.replay.run import ReplayOptions, run_replay
from pipeline.simulate import ProducerOptions, SimConfig, generate, produce
from pipeline.worker.context import core_context
from tests.bench import scratch_broker


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hours", type=int, default=24)
    parser.add_argument("--tickets-per-hour", type=float, default=100.0)
    parser.add_argument(
        "--breakdowns", default="all,service,service_team,service_channel,service_priority"
    )
    args = parser.parse_args()
    start = datetime(2026, 3, 2, tzinfo=UTC)
    config = SimConfig(
        seed=11,
        start=start,
        duration=timedelta(hours=args.hours),
        tickets_per_hour=args.tickets_per_hour,
    )
    simulated = list(generate(config))
    with scratch_broker() as (bootstrap, tmp):
        topics = {"tickets": "bench-tickets", "surveys": "bench-surveys"}
        asyncio.run(produce(simulated, ProducerOptions(bootstrap_servers=bootstrap, topics=topics)))
        settings = Settings(
            kafka={"bootstrap_servers": bootstrap},
            topics={"tickets": topics["tickets"], "surveys": topics["surveys"]},
            breakdowns=args.breakdowns.split(","),
        )
        ctx = core_context(settings)
        options = ReplayOptions(
            start=start.timestamp(),
            end=(start + timedelta(hours=args.hours)).timestamp(),
            out=tmp / "report",
            openmetrics=tmp / "replay.om",
            progress=False,
        )
        began = time.perf_counter()
        result = asyncio.run(run_replay(settings, ctx, options))
        elapsed = time.perf_counter() - began
    facts = result.facts
    print(
        f"{facts.records} records ({args.hours} h at {args.tickets_per_hour:g} tickets/h, "
        f"breakdowns {args.breakdowns}): replay {elapsed:.1f} s = "
        f"{facts.records / elapsed:.0f} records/s; {facts.windows} windows, {facts.rows} rows, "
        f"{result.openmetrics_samples} OpenMetrics samples"
    )


if __name__ == "__main__":
    main()
