"""Before and after in one run: each in-process case's records fed to the engine of this
checkout and to the engine of an older commit (``--baseline REV``), one process after the
other, through the same probe (``bench/engine_probe.py``)."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.core import CORE_CASES, records_of

__all__ = ["compare_with"]

_ROOT = Path(__file__).resolve().parents[1]
_PROBE = Path(__file__).with_name("engine_probe.py")


def _checkout(rev: str, into: Path) -> Path:
    """The ``pipeline`` package of ``rev``, extracted from git into ``into``."""
    into.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(
        ["git", "-C", str(_ROOT), "archive", rev, "pipeline"], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def _probe(code: Path, records: Path, case: str) -> dict[str, Any]:
    spec = CORE_CASES[case]
    windows = json.dumps([[w.name, w.size, w.step] for w in spec.windows])
    env = {**os.environ, "PYTHONPATH": str(code)}
    out = subprocess.run(
        [sys.executable, str(_PROBE), str(records), windows, ",".join(spec.breakdowns)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        cwd=str(code),
    ).stdout
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    result["cpu_rate"] = result["records"] / result["cpu_seconds"]
    result["rate"] = result["records"] / result["seconds"]
    return result


def compare_with(
    rev: str, events: int, seed: int, tickets_per_hour: float, log: Any
) -> dict[str, dict[str, Any]]:
    """Per case: the baseline's and this checkout's figures on the same records, and after /
    before per CPU second."""
    out: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="kpi-baseline-") as tmp:
        before_code = _checkout(rev, Path(tmp) / "before")
        for case in CORE_CASES:
            records = Path(tmp) / f"{case}.pickle"
            stream = records_of(events, seed, tickets_per_hour, CORE_CASES[case])
            records.write_bytes(pickle.dumps(stream))
            before = _probe(before_code, records, case)
            after = _probe(_ROOT, records, case)
            if before["window_records"] != after["window_records"]:
                raise RuntimeError(f"{case}: the two engines closed different windows")
            out[case] = {
                "before": before,
                "after": after,
                "cpu_ratio": after["cpu_rate"] / before["cpu_rate"],
            }
            log(
                f"{case}: {before['cpu_rate']:,.0f} -> {after['cpu_rate']:,.0f} records/CPU-s "
                f"({out[case]['cpu_ratio']:.2f}x)"
            )
            if "render_ms" in before and "render_ms" in after:
                log(
                    f"{case}: /metrics KPI series ({after['metric_lines']:,} lines) "
                    f"{before['render_ms']:.1f} -> {after['render_ms']:.1f} ms CPU a render"
                )
            if "state_bytes_per_record" in before and "state_bytes_per_record" in after:
                log(
                    f"{case}: state per input record {before['state_writes_per_record']:.2f} -> "
                    f"{after['state_writes_per_record']:.2f} writes, "
                    f"{before['state_bytes_per_record']:,.0f} -> "
                    f"{after['state_bytes_per_record']:,.0f} bytes, "
                    f"{before['state_us_per_record']:.1f} -> "
                    f"{after['state_us_per_record']:.1f} µs CPU handing them over"
                )
    return out
