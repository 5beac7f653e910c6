"""Time in status and SLA compliance (24/7, with and without pausing statuses) on both real
logs: the pipeline's runtime over the imported events equals an independent computation on the
CSV (tests/status_reference.py): sample sizes and rates exactly, means up to the 1 ms the
importers put between same-time events, p50/p90 within the sketch's relative accuracy."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.core.kpis import KpiConfig
from pipeline.core.results import WindowResult
from pipeline.core.sketch import RELATIVE_ACCURACY
from pipeline.core.sla import SlaPolicy
from pipeline.importers import bpic2013, servicenow
from pipeline.importers.produce import to_records
from tests.status_reference import (
    BPIC,
    SLA_SECONDS,
    StatusKpis,
    Step,
    bpic_steps,
    status_kpis,
    uci_steps,
)
from tests.uci_pipeline import MONTH_LIKE, run_runtime
from tests.uci_reference import fixed_window, write_subset

PAUSING = frozenset({"awaiting_customer", "awaiting_vendor"})
POLICY = KpiConfig(sla_policy=SlaPolicy(resolution=SLA_SECONDS, pausing=PAUSING))


def _values(
    results: list[WindowResult],
) -> dict[tuple[float, str | None], dict[str, tuple[float | None, int]]]:
    out: dict[tuple[float, str | None], dict[str, tuple[float | None, int]]] = {}
    for r in results:
        if r.kpi != "sla_compliance" and not r.kpi.startswith("time_in_status_"):
            continue
        service = None if r.scope.breakdown == "all" else r.scope.service
        out.setdefault((float(r.start), service), {})[f"{r.kpi}.{r.stat}"] = (
            r.value,
            r.sample_size,
        )
    return out


def _compare(
    reference: dict[tuple[float, str | None], StatusKpis],
    got: dict[tuple[float, str | None], dict[str, tuple[float | None, int]]],
    paused: bool,
) -> int:
    assert set(reference) <= set(got), sorted(set(reference) - set(got))[:5]
    compared = 0
    for key, values in got.items():
        expected_values = reference.get(key, StatusKpis()).values(paused)
        for name in set(values) - set(expected_values):
            assert values[name] == (None, 0), f"{key} {name}: {values[name]}, expected nothing"
        for name, (expected, n) in expected_values.items():
            value, size = values.get(name, (None, 0))
            assert size == n, f"{key} {name}: sample size {size}, expected {n}"
            if name.endswith((".p50", ".p90")):
                assert expected is not None and value is not None, (key, name)
                assert abs(value - expected) <= RELATIVE_ACCURACY * expected + 0.002, (
                    f"{key} {name}: {value} vs exact {expected}"
                )
            elif name.endswith(".mean"):
                assert value == pytest.approx(expected, rel=1e-9, abs=0.002), (key, name)
            else:
                assert value == expected, f"{key} {name}: {value} vs {expected}"
            compared += 1
    return compared


def _check(events: list[object], steps: Iterator[tuple[float, list[Step]]]) -> tuple[int, int]:
    tickets = list(steps)
    window = fixed_window(MONTH_LIKE)
    plain = run_runtime(to_records(events))  # type: ignore[arg-type]
    assert plain.rejected == {}
    n_plain = _compare(status_kpis(iter(tickets), window), _values(plain.results), paused=False)
    with_policy = run_runtime(to_records(events), kpi_config=POLICY)  # type: ignore[arg-type]
    n_paused = _compare(
        status_kpis(iter(tickets), window, PAUSING), _values(with_policy.results), paused=True
    )
    return n_plain, n_paused


def test_bpic2013_time_in_status_and_sla_compliance_equal_the_reference() -> None:
    mapped = bpic2013.map_file(BPIC)
    n_plain, n_paused = _check(list(mapped.events), bpic_steps(BPIC))
    assert n_plain > 1000 and n_paused > 1000


def test_uci_time_in_status_and_sla_compliance_equal_the_reference(tmp_path: Path) -> None:
    log = write_subset(tmp_path / "uci-subset.csv.gz")
    mapped = servicenow.map_file(log, statuses=True)
    n_plain, n_paused = _check(list(mapped.events), uci_steps(log))
    assert n_plain > 1000 and n_paused > 1000


def test_pauses_change_sla_compliance_on_the_real_log() -> None:
    # The policy's pauses must matter on real data, or the equality above proves little.
    kpis = status_kpis(bpic_steps(BPIC), fixed_window(10**10), PAUSING)
    overall = [k for (_, service), k in kpis.items() if service is None]
    assert sum(k.within_sla_paused for k in overall) > sum(k.within_sla for k in overall)
