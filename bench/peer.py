"""Running the Quix Streams peer (bench/peer_app.py) in its own virtualenv, and our worker on
the same KPI subset configuration, over the bench's streams."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.live import run_live
from bench.streams import PARTITIONS, Streams

__all__ = ["PEER_PYTHON", "run_peer"]

# Quix Streams pins pydantic below the version the pipeline uses, so it lives in its own
# virtualenv (made by `make bench`).
PEER_PYTHON = Path(os.environ.get("BENCH_PEER_PYTHON", ".cache/bench-quix/bin/python"))
_APP = Path(__file__).with_name("peer_app.py")


def run_peer(bootstrap: str, streams: Streams, data_dir: Path, worker: bool) -> dict[str, Any]:
    result: dict[str, Any] = {}
    if not PEER_PYTHON.exists():
        result["error"] = f"{PEER_PYTHON} not found (run `make bench`)"
    else:
        data_dir.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run(
            [
                str(PEER_PYTHON.absolute()),
                "-W",
                "ignore",
                str(_APP),
                bootstrap,
                streams.topics["tickets"],
                streams.topics["surveys"],
                str(streams.json_records),
                str(streams.subset_records),
                str(data_dir / "state"),
                "bench-quix",
            ],
            capture_output=True,
            text=True,
            timeout=3600,
            check=False,
        )
        lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
        if proc.returncode != 0 or not lines:
            result["error"] = f"exit {proc.returncode}: {(proc.stderr or proc.stdout)[-400:]}"
            print(proc.stderr[-3000:], file=sys.stderr)
        else:
            peer = json.loads(lines[-1])
            result.update(peer)
            result["rate"] = streams.total / peer["seconds"]
            result["cpu_rate"] = streams.total / peer["cpu_seconds"]
            result["bound"] = "librdkafka fetch + Python per-record pipeline + group_by repartition"
    if worker:
        # Our worker computing only what the peer computes: one tumbling 1 h window, per service.
        live = run_live(
            bootstrap,
            "bench-subset",
            streams.topics,
            streams.total,
            # One-hour panes: the release tick, and so the last closed end, is whole hours.
            math.floor(streams.final_frontier / 3600) * 3600,
            data_dir / "worker-subset",
            PARTITIONS,
            timeout=600 + streams.total / 100,
            extra_env={
                "KPI_BREAKDOWNS": '["service"]',
                "KPI_TIME__WINDOWS": '[{"name": "1h", "size": "1h", "step": "1h"}]',
            },
        )
        result["subset_worker_rate"] = live.rate
        result["subset_worker_cpu_rate"] = live.cpu_rate
    return result
