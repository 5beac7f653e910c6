"""``python -m bench``: every measurement against one local broker, in one run, one table."""

from __future__ import annotations

import argparse
import sys

from bench.run import BenchOptions, run_bench


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000, help="records to simulate")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--tickets-per-hour", type=float, default=900.0, help="simulated desk size")
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated subset of: inprocess,limit,ceiling,worker,replay,peer,latency",
    )
    parser.add_argument("--rate", type=float, default=5000.0, help="latency test: records/s")
    parser.add_argument("--latency-seconds", type=float, default=60.0)
    parser.add_argument(
        "--replay-cmd",
        default=None,
        help="measure this command as the replay instead of the core driven by a bare consumer "
        "(run with the worker's KPI_ environment for the bench topics; {out} is a temp dir)",
    )
    parser.add_argument(
        "--baseline",
        default=None,
        metavar="REV",
        help="also run the in-process cases on the engine of this git revision (same records, "
        "one process after the other): before and after in one run",
    )
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    parser.add_argument("--label", default="bench", help="name of this run in the output")
    args = parser.parse_args(argv)
    options = BenchOptions(
        events=args.events,
        seed=args.seed,
        tickets_per_hour=args.tickets_per_hour,
        only=frozenset(x for x in args.only.split(",") if x),
        rate=args.rate,
        latency_seconds=args.latency_seconds,
        replay_cmd=args.replay_cmd,
        baseline=args.baseline,
        out=args.out,
        label=args.label,
    )
    return run_bench(options)


if __name__ == "__main__":
    sys.exit(main())
