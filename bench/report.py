"""The bench's one table: every figure, the ratios, and what bounds each figure.

Rates are given per wall second and per CPU second of the process doing the work: the machine
is shared, so wall rates move with everyone else's load, while work per CPU second is steadier.
Ratios are taken within one run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Row", "print_table", "rows_from", "table_markdown"]


@dataclass(frozen=True)
class Row:
    measure: str
    value: str
    ratio: str = ""
    bound: str = ""


def _rates(entry: dict[str, Any], wall: str = "rate", cpu: str = "cpu_rate") -> str:
    text = f"{entry[wall]:,.0f} rec/s"
    if entry.get(cpu):
        text += f" ({entry[cpu]:,.0f}/CPU-s)"
    return text


def _ratio(a: dict[str, Any], b: dict[str, Any] | None, name: str, ak: str = "") -> str:
    if not b or "rate" not in b:
        return ""
    wall = a[ak + "rate" if ak else "rate"] / b["rate"]
    text = f"{wall:.1%} of {name}"
    cpu_a, cpu_b = a.get(ak + "cpu_rate" if ak else "cpu_rate"), b.get("cpu_rate")
    if cpu_a and cpu_b:
        text += f" ({cpu_a / cpu_b:.1%} per CPU-s)"
    return text


def _stream_part(replay: dict[str, Any], peer: dict[str, Any]) -> str:
    """The replay's rate from its first read to its last record, which is the span the
    peer's own figure covers (from its first record to its last)."""
    if "stream_rate" not in replay:
        return ""
    rate = replay["stream_rate"]
    return f"; first to last record {rate:,.0f} rec/s, {rate / peer['rate']:.1%} of peer"


def _mib(x: float) -> str:
    return f"{x / 2**20:,.0f} MiB"


def rows_from(r: dict[str, Any]) -> list[Row]:  # noqa: C901, PLR0912 (one branch per optional measurement of the table)
    rows: list[Row] = []
    limit, worker = r.get("limit"), r.get("worker")
    rows += _inprocess_rows(r.get("inprocess", {}))
    rows += _baseline_rows(r.get("baseline"))
    if limit:
        rows.append(
            Row(
                "1 bare aiokafka consumer, JSON decode (limit)",
                _rates(limit),
                "",
                "aiokafka fetch + record parsing + orjson, one Python thread",
            )
        )
    ceiling = r.get("ceiling", {})
    for loop, run in ceiling.items():
        rows.append(
            Row(
                f"1b no-op Faust agent, JSON decode only ({loop})",
                _rates(run),
                _ratio(run, limit, "limit"),
                "Faust's stream path: a few event-loop iterations and tasks per record"
                if run.get("delivery", "faust") == "faust"
                else "Faust's stream path, records handed on in place (no tasks per record)",
            )
        )
    if worker:
        rows.append(
            Row(
                "2 live worker, offset 0 to final watermark",
                _rates(worker),
                _ratio(worker, limit, "limit"),
                f"Faust per-record machinery, core, changelog writes; startup "
                f"{worker['startup_seconds']:.0f} s not counted",
            )
        )
        for loop, run in ceiling.items():
            rows.append(
                Row(
                    f"2b live worker against the no-op Faust agent ({loop})",
                    "",
                    _ratio(worker, run, f"the no-op agent ({loop})"),
                    "",
                )
            )
    if "replay" in r:
        rp = r["replay"]
        rows.append(
            Row(
                f"3 replay ({rp['kind']})",
                _rates(rp),
                _ratio(rp, limit, "limit"),
                "the core, plus writing kpis.csv and drawing the plots; startup included",
            )
        )
    if "core" in r:
        core = r["core"]
        rows.append(
            Row(
                "3b the core alone, fed by a bare consumer",
                _rates(core),
                _ratio(core, limit, "limit"),
                "decode, lifecycle, 5 breakdowns x 23 KPIs, window closing: Python and numpy",
            )
        )
    peer = r.get("peer")
    if peer and "rate" in peer:
        rows.append(
            Row(
                "4 Quix Streams: created count, CSAT count+mean per service, 1h tumbling",
                _rates(peer),
                _ratio(worker, peer, "peer: worker/peer") if worker else "",
                peer.get("bound", ""),
            )
        )
        if "subset_worker_rate" in peer:
            sub = {"rate": peer["subset_worker_rate"], "cpu_rate": peer["subset_worker_cpu_rate"]}
            rows.append(
                Row(
                    "4b our worker, same subset config (per service, 1h tumbling)",
                    _rates(sub),
                    _ratio(sub, peer, "peer"),
                    "as 2, with fewer scopes and windows",
                )
            )
        if "subset_replay" in peer:
            rows.append(
                Row(
                    "4c replay, same subset config (per service, 1h tumbling)",
                    _rates(peer["subset_replay"]),
                    _ratio(peer["subset_replay"], peer, "peer"),
                    "as 3: every KPI of the catalogue, report and start-up included"
                    + _stream_part(peer["subset_replay"], peer),
                )
            )
    elif peer and "error" in peer:
        rows.append(Row("4 Quix Streams", "not measured", "", str(peer["error"])[:100]))
    if "latency" in r:
        lat = r["latency"]
        note = f"n={lat['n']}"
        if "requested_rate" in lat:
            missed = ", ".join(
                f"{a['rate']:,.0f} (the worker read {a['worker_rate']:,.0f}/s, "
                f"{a['behind_at_end']:,.0f} records behind at the end)"
                for a in lat.get("attempts", ())
            ) or ", ".join(f"{x:,.0f}" for x in lat["not_sustained"])
            note += f"; not sustained at {missed} rec/s"
        elif not lat.get("sustained", True):
            note += "; NOT sustained"
        rows.append(
            Row(
                f"5 latency produced -> /metrics at {lat['achieved_rate']:,.0f} rec/s",
                f"p50 {lat['p50']:.2f} s, p99 {lat['p99']:.2f} s",
                note,
                lat.get("bound", ""),
            )
        )
    if worker:
        mem = worker["memory"]
        grow = ""
        if len(mem) >= 2:
            grow = (
                f"{_mib(mem[0]['rss'])} at {mem[0]['tickets']:,.0f} tickets -> "
                f"{_mib(mem[-1]['rss'])} at {mem[-1]['tickets']:,.0f}"
            )
        rows.append(
            Row(
                "6 worker peak RSS",
                _mib(worker["peak_rss"]),
                grow,
                "core state + RocksDB caches (the table's copy is on disk) + client buffers",
            )
        )
    return rows


_CASE_NOTES = {
    "default": "every KPI, windows 1h/5m and 24h/1h, all five breakdowns",
    "event-path": "one tumbling 1h window, breakdown service: the event path",
    "many-scopes": "as default, 50 services",
    "window-1h": "one 1h window sliding by 1h, breakdowns all + service",
    "window-7d": "one 7d window sliding by 1h, breakdowns all + service",
}


def _inprocess_rows(cases: dict[str, Any]) -> list[Row]:
    rows = []
    for name, case in cases.items():
        ratio = f"{case['scopes']} scopes"
        if name.startswith("window-"):
            ratio += f"; closing {case['closing_cpu_per_step'] * 1000:.2f} ms CPU per step"
        rows.append(
            Row(
                f"0 in-process core, {name} ({case['records']:,} records)",
                _rates(case),
                ratio,
                _CASE_NOTES.get(name, ""),
            )
        )
    long, short = cases.get("window-7d"), cases.get("window-1h")
    if long and short:
        ratio = long["closing_cpu_per_step"] / short["closing_cpu_per_step"]
        rows.append(Row("0b closing cost per step, 7d/1h vs 1h/1h", f"{ratio:.2f}x", "", ""))
    return rows


def _baseline_rows(baseline: dict[str, Any] | None) -> list[Row]:
    if not baseline:
        return []
    rows = []
    for name, case in baseline["cases"].items():
        before, after = case["before"], case["after"]
        rows.append(
            Row(
                f"0c {name}: engine of {baseline['rev'][:10]} -> this one (same records)",
                f"{before['cpu_rate']:,.0f} -> {after['cpu_rate']:,.0f}/CPU-s",
                f"{case['cpu_ratio']:.2f}x per CPU-s",
                f"{after['window_records']:,} window records each",
            )
        )
        if "render_ms" in before and "render_ms" in after:
            rows.append(
                Row(
                    f"0d {name}: /metrics KPI series, a render, engine of "
                    f"{baseline['rev'][:10]} -> this one",
                    f"{before['render_ms']:.1f} -> {after['render_ms']:.1f} ms CPU",
                    f"{before['render_ms'] / max(after['render_ms'], 1e-9):.1f}x faster",
                    f"{after['metric_lines']:,} lines",
                )
            )
        if "state_bytes_per_record" in before and "state_bytes_per_record" in after:
            rows.append(
                Row(
                    f"0e {name}: state handed to the store per input record, engine of "
                    f"{baseline['rev'][:10]} -> this one",
                    f"{before['state_bytes_per_record']:,.0f} -> "
                    f"{after['state_bytes_per_record']:,.0f} bytes",
                    f"{before['state_writes_per_record']:.2f} -> "
                    f"{after['state_writes_per_record']:.2f} writes; "
                    f"{before['state_us_per_record']:.1f} -> "
                    f"{after['state_us_per_record']:.1f} µs CPU",
                    f"batches of {after['state_batch']} records, encoding included",
                )
            )
    return rows


def _title(results: dict[str, Any]) -> str:
    m = results["machine"]
    s = results.get("streams", {})
    return (
        f"{results['label']}: {s.get('records', 0):,} records ({s.get('event_hours')} event hours)"
        f" over 8 partitions x 2 topics; {m['cpus']} CPUs ({m['cpu']}), load "
        f"{m['load_at_start']} -> {m.get('load_at_end')}"
    )


def print_table(rows: list[Row], results: dict[str, Any]) -> None:
    print()
    print(_title(results))
    header = Row("measure", "value", "ratio", "bounded by")
    widths = [max(len(getattr(row, f)) for row in [header, *rows]) for f in ("measure", "value")]
    for row in [header, *rows]:
        print(f"{row.measure:<{widths[0]}}  {row.value:>{widths[1]}}  {row.ratio}  | {row.bound}")


def table_markdown(results: dict[str, Any]) -> str:
    lines = [_title(results), "", "| measure | value | ratio | bounded by |", "|---|---|---|---|"]
    lines += [f"| {r.measure} | {r.value} | {r.ratio} | {r.bound} |" for r in rows_from(results)]
    return "\n".join(lines) + "\n"
