"""The bench's one table: every figure, the ratios, and what bounds each figure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Row", "print_table", "rows_from"]


@dataclass(frozen=True)
class Row:
    measure: str
    value: str
    ratio: str = ""
    bound: str = ""


def _rate(x: float) -> str:
    return f"{x:,.0f} rec/s"


def _mib(x: float) -> str:
    return f"{x / 2**20:,.0f} MiB"


def rows_from(r: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    limit = r.get("limit", {}).get("rate")
    worker = r.get("worker", {}).get("rate")

    def ratio(x: float | None, of: float | None, name: str) -> str:
        return f"{x / of:.0%} of {name}" if x and of else ""

    if limit:
        rows.append(
            Row(
                "1 bare aiokafka consumer, JSON decode",
                _rate(limit),
                "",
                "aiokafka's Python fetch/record parsing on one core",
            )
        )
    if worker:
        w = r["worker"]
        rows.append(
            Row(
                "2 live worker, offset 0 to final watermark",
                _rate(worker),
                ratio(worker, limit, "limit"),
                f"agent loop + core + changelog writes (startup {w['startup_seconds']:.1f} s"
                " excluded)",
            )
        )
    if "replay" in r:
        rp = r["replay"]
        rows.append(
            Row(
                f"3 replay ({rp['kind']})",
                _rate(rp["rate"]),
                ratio(rp["rate"], limit, "limit"),
                "decode + core (pure Python)",
            )
        )
    if "peer" in r:
        p = r["peer"]
        if "rate" in p:
            rows.append(
                Row(
                    "4 Quix Streams, counts+means per service, 1h tumbling",
                    _rate(p["rate"]),
                    ratio(worker, p["rate"], "peer (worker/peer)"),
                    p.get("bound", ""),
                )
            )
        if "subset_worker_rate" in p:
            rows.append(
                Row(
                    "4b our worker on the same subset config",
                    _rate(p["subset_worker_rate"]),
                    ratio(p["subset_worker_rate"], p.get("rate"), "peer"),
                    "",
                )
            )
        if "error" in p:
            rows.append(Row("4 Quix Streams", "not measured", "", p["error"][:80]))
    if "latency" in r:
        lat = r["latency"]
        rows.append(
            Row(
                f"5 latency produced -> /metrics at {lat['achieved_rate']:,.0f} rec/s",
                f"p50 {lat['p50']:.3f} s, p99 {lat['p99']:.3f} s",
                f"n={lat['n']}",
                lat.get("bound", ""),
            )
        )
    if worker:
        w = r["worker"]
        mem = w["memory"]
        grow = ""
        if len(mem) >= 2:
            grow = (
                f"{_mib(mem[0]['rss'])} at {mem[0]['tickets']:,.0f} tickets -> "
                f"{_mib(mem[-1]['rss'])} at {mem[-1]['tickets']:,.0f}"
            )
        rows.append(
            Row(
                "6 worker peak RSS",
                _mib(w["peak_rss"]),
                grow,
                "state (tracked tickets, pending events, panes) + Faust/aiokafka",
            )
        )
    return rows


def print_table(rows: list[Row], results: dict[str, Any]) -> None:
    m = results["machine"]
    s = results.get("streams", {})
    print()
    print(
        f"{results['label']}: {s.get('records', 0):,} records ({s.get('event_hours')} event hours)"
        f" over 8 partitions x 2 topics; {m['cpus']} CPUs ({m['cpu']}), load "
        f"{m['load_at_start']} -> {m.get('load_at_end')}"
    )
    widths = [
        max(len(getattr(row, f)) for row in rows) if rows else 0
        for f in ("measure", "value", "ratio")
    ]
    header = Row("measure", "value", "ratio", "bounded by")
    for row in [header, *rows]:
        print(
            f"{row.measure:<{widths[0]}}  {row.value:>{max(widths[1], 5)}}  "
            f"{row.ratio:<{widths[2]}}  {row.bound}"
        )
