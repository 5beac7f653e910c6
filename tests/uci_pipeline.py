"""The pipeline's own numbers for imported events, computed by the live worker's runtime
(``Engine`` over an in-memory store) without a broker, and their comparison with the
independent computation in ``tests/uci_reference.py``.

Calendar months are not a window the pipeline can express (windows are fixed sizes aligned to
the Unix epoch), so both sides use the same fixed-size tumbling window, 720 h (30 days).

``pipeline_values`` and ``assert_same_kpis`` take closed-window results from anywhere (the
runtime here, a replay, ``kpi-windows``): compare them with
``uci_kpis(path, window_of=fixed_window(MONTH_LIKE))``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import pytest
from aiokafka.partitioner import murmur2

from pipeline.core.context import CoreContext
from pipeline.core.kpis import KpiConfig
from pipeline.core.results import WindowResult
from pipeline.core.sketch import RELATIVE_ACCURACY
from pipeline.core.windows import WindowSpec
from pipeline.engine.frames import frame_results
from pipeline.engine.runtime import Engine
from pipeline.simulate.model import SimRecord
from tests.uci_reference import WindowKpis

__all__ = [
    "COMPARED",
    "MONTH_LIKE",
    "RuntimeRun",
    "assert_same_kpis",
    "pipeline_values",
    "run_runtime",
]

MONTH_LIKE = 720 * 3600  # 30 days: the tumbling window both sides use
COMPARED = ("tickets_resolved", "resolution_time", "fcr_rate", "reopen_rate", "sla_compliance")
TOPICS = {"tickets": "tickets", "surveys": "surveys"}
FETCH = 500  # records per partition and fetch


@dataclass
class RuntimeRun:
    results: list[WindowResult]
    rejected: dict[str, int]
    duplicates: int


def run_runtime(
    records: Iterable[SimRecord],
    partitions: int = 4,
    window: int = MONTH_LIKE,
    name: str = "month",
    kpi_config: KpiConfig | None = None,
) -> RuntimeRun:
    """Feed records (in the order a producer would send them) to the runtime, partitioned by
    key like the producer, then let every pending event go and close every window (a tumbling
    window of ``window`` seconds, called ``name``)."""
    ctx = CoreContext(
        windows=(WindowSpec(name, window, window),),
        breakdowns=("all", "service"),
        kpi_config=kpi_config or KpiConfig(),
    )
    runtime = Engine(ctx, TOPICS)
    by_partition: list[list[SimRecord]] = [[] for _ in range(partitions)]
    for record in records:
        by_partition[(murmur2(record.key) & 0x7FFFFFFF) % partitions].append(record)
    runtime.assign(("tickets", p) for p in range(partitions))
    runtime.end_offsets = {("tickets", p): len(rs) for p, rs in enumerate(by_partition)}
    # A consumer fetches batches from each partition in turn.
    results: list[WindowResult] = []
    for first in range(0, max(len(rs) for rs in by_partition), FETCH):
        for p, rs in enumerate(by_partition):
            for offset in range(first, min(first + FETCH, len(rs))):
                record = rs[offset]
                out = runtime.handle("tickets", p, offset, record.key, record.value)
                results += frame_results(out.windows)
    # No newer events will come: raise every partition's newest time past the last window's
    # end, as later events would, so pending events are released and every window closes.
    last = max(core.max_ts for core in runtime.cores.values())
    through = (last // window + 1) * window + ctx.allowed_lateness
    rejected = dict(runtime.rejected)
    for core in runtime.cores.values():
        core.max_ts = through
        for rejection in core.release(runtime.closer.frontier):
            rejected[rejection.reason] = rejected.get(rejection.reason, 0) + 1
    results += frame_results(runtime.close_windows())
    return RuntimeRun(results, rejected, sum(runtime.duplicates.values()))


def pipeline_values(
    results: Iterable[WindowResult], window: str | None = None
) -> dict[tuple[float, str | None], dict[str, tuple[float | None, int]]]:
    """(window start, service or None) -> KPI.stat -> (value, sample size) of the compared KPIs,
    from the organisation-wide and per-service scopes (of the window named ``window``, if
    given: results may hold several window specs and breakdowns)."""
    out: dict[tuple[float, str | None], dict[str, tuple[float | None, int]]] = {}
    for r in results:
        if r.kpi not in COMPARED or r.scope.breakdown not in ("all", "service"):
            continue
        if window is not None and r.window != window:
            continue
        service = None if r.scope.breakdown == "all" else r.scope.service
        out.setdefault((float(r.start), service), {})[f"{r.kpi}.{r.stat}"] = (
            r.value,
            r.sample_size,
        )
    return out


def assert_same_kpis(
    reference: dict[tuple[float, str | None], WindowKpis],
    pipeline: dict[tuple[float, str | None], dict[str, tuple[float | None, int]]],
) -> int:
    """Counts and rates exactly equal, the mean equal up to float rounding, p50/p90 within the
    sketch's relative accuracy of the exact rank-rule quantile. Returns the values compared."""
    # The pipeline reports every scope that saw any event (a service with tickets created but
    # none resolved): there the reference saw nothing, and the compared KPIs must be empty.
    assert set(reference) <= set(pipeline), sorted(set(reference) - set(pipeline))[:5]
    compared = 0
    for key, got in pipeline.items():
        expected_values = reference.get(key, WindowKpis()).values()
        for name in set(got) - set(expected_values):
            assert got[name] == (None, 0), f"{key} {name}: {got[name]}, expected nothing"
        for name, (expected, n) in expected_values.items():
            value, size = got.get(name, (None, 0))
            assert size == n, f"{key} {name}: sample size {size}, expected {n}"
            if name.endswith((".p50", ".p90")):
                assert expected is not None and value is not None, (key, name)
                assert abs(value - expected) <= RELATIVE_ACCURACY * expected + 1e-9, (
                    f"{key} {name}: {value} vs exact {expected}"
                )
            elif name.endswith(".mean"):
                # Same-minute events of the log are kept in order 1 ms apart: a few
                # resolution times are longer by a millisecond.
                assert value == pytest.approx(expected, rel=1e-9, abs=0.01), (key, name)
            else:
                assert value == expected, f"{key} {name}: {value} vs {expected}"
            compared += 1
    return compared
