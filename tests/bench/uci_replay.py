"""Import and replay times of the whole UCI incident log: ``make bench-uci`` (results in
docs/replay.md).

Starts a local broker on free ports in a temporary directory, then runs the commands as a user
does, each under ``/usr/bin/time -v`` for its wall time and peak RSS:

1. ``kpi-pipeline import servicenow`` of the log into ``uci-tickets``;
2. ``kpi-pipeline replay`` of the whole imported range with one 720 h tumbling window and the
   all and service breakdowns;
3. with ``--example DIR``: the example report (weekly and 30-day windows, the desk's what-if
   targets), kept in DIR;
4. the replay with the default windows and breakdowns (the longest by far, hence last).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from pipeline.core.results import iso
from pipeline.importers import map_file
from tests.bench import scratch_broker
from tests.uci_reference import DATASET

DAY = 86400
MONTH_LIKE = 720 * 3600
TARGETS = Path(__file__).parents[2] / "docs" / "examples" / "uci-targets.yaml"


@dataclass
class Run:
    what: str
    wall: float
    cpu: float
    peak_rss_mb: float
    records: int
    output: str

    def line(self) -> str:
        return (
            f"| {self.what} | {self.wall:.1f} s | {self.cpu:.1f} s | "
            f"{self.records / self.wall:,.0f} | {self.peak_rss_mb:,.0f} MB |"
        )


def timed(what: str, args: list[str], env: dict[str, str], records: int) -> Run:
    """Run ``kpi-pipeline ARGS`` under /usr/bin/time -v."""
    run = subprocess.run(
        ["/usr/bin/time", "-v", sys.executable, "-m", "pipeline", *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if run.returncode != 0:
        raise SystemExit(f"{what} failed:\n{run.stdout}\n{run.stderr}")
    wall = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", run.stderr)
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", run.stderr)
    user = re.search(r"User time \(seconds\): ([\d.]+)", run.stderr)
    system = re.search(r"System time \(seconds\): ([\d.]+)", run.stderr)
    assert wall and rss and user and system, run.stderr
    hours, minutes, seconds = wall.groups()
    elapsed = int(hours or 0) * 3600 + int(minutes) * 60 + float(seconds)
    cpu = float(user.group(1)) + float(system.group(1))
    done = Run(what, elapsed, cpu, int(rss.group(1)) / 1024, records, run.stdout)
    print(f"{what}: {run.stdout.strip()}\n{done.line()}", flush=True)
    return done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--log", type=Path, default=DATASET)
    parser.add_argument("--example", type=Path, default=None, help="keep an example report here")
    parser.add_argument("--skip-default", action="store_true", help="no default-windows replay")
    args = parser.parse_args()

    times = [e.ts_ms / 1000 for e in map_file(args.log).events]
    events = len(times)
    env = {k: v for k, v in os.environ.items() if not k.startswith("KPI_")}
    with scratch_broker() as (bootstrap, tmp):
        env["KPI_KAFKA__BOOTSTRAP_SERVERS"] = bootstrap
        imported = ["import", "servicenow", str(args.log), "--topic-prefix", "uci-"]
        runs = [timed("import", [*imported, "--no-progress"], env, events)]
        env.update(KPI_TOPICS__TICKETS="uci-tickets", KPI_TOPICS__SURVEYS="uci-surveys")
        coarse = ["--breakdowns", "all,service"]
        what = "replay, one 720h tumbling window, breakdowns all and service"
        month = _replay(times, MONTH_LIKE, tmp / "month", "--windows", "30d=720h")
        runs.append(timed(what, [*month, *coarse], env, events))
        if args.example is not None:
            what = "replay, 7d and 720h tumbling windows, all and service, targets"
            example = _replay(times, MONTH_LIKE, args.example, "--windows", "7d=7d,30d=720h")
            # Relative: the summary names the targets file, and should not name this machine.
            example += ["--plot-window", "7d", "--targets", os.path.relpath(TARGETS)]
            runs.append(timed(what, [*example, *coarse], env, events))
        if not args.skip_default:
            out = tmp / "default"
            what = "replay, default windows (1h/5m, 24h/1h) and breakdowns (all five)"
            runs.append(timed(what, _replay(times, DAY, out), env, events))
            size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
            print(f"default report folder: {size / 1e6:,.0f} MB", flush=True)
            shutil.rmtree(out)
    print(f"\n{args.log.name}: {events:,} events\n")
    print("| run | wall clock | CPU (user + system) | events/s | peak RSS |\n|---|---|---|---|---|")
    for run in runs:
        print(run.line())


def _replay(times: list[float], grid: int, out: Path, *options: str) -> list[str]:
    """Replay arguments for the events' span, widened to whole windows of the grid (aligned to
    the epoch, as windows are)."""
    start, end = min(times) // grid * grid, (max(times) // grid + 1) * grid
    return [
        "replay",
        "--from",
        iso(start),
        "--to",
        iso(end),
        "--out",
        str(out),
        "--no-progress",
        *options,
    ]


if __name__ == "__main__":
    main()
