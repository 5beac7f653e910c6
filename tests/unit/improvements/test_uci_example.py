"""The example register of docs/examples on the UCI ServiceNow log: the evaluation from the
pipeline's own daily windows (the live worker's engine, no broker) against a computation
straight from the CSV (tests/uci_reference.py) with the textbook formulas (tests/handstats.py).

A subset of the incidents by default; the whole log with KPI_TEST_UCI_FULL=1.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from pipeline.core.sketch import RELATIVE_ACCURACY
from pipeline.importers import map_file
from pipeline.importers.produce import to_records
from pipeline.improvements import Evaluation, Improvement, Verdict, evaluate_register, load_register
from tests.handstats import newcombe, welch
from tests.uci_pipeline import run_runtime
from tests.uci_reference import WindowKpis, fixed_window, log_for_tests, uci_kpis

REPO = Path(__file__).resolve().parents[3]
EXAMPLE = REPO / "docs" / "examples" / "uci-improvements.yaml"
DAY = 86400
# What the reference computes from the log (no surveys, costs or channels there).
RATES = {
    "fcr_rate": lambda k: (k.first_contact, k.first_resolutions),
    "sla_compliance": lambda k: (k.within_sla, k.tickets_resolved),
    "reopen_rate": lambda k: (k.reopens, k.tickets_resolved),
}


@pytest.fixture(scope="module")
def evaluated(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[list[Evaluation], dict[tuple[float, str | None], WindowKpis]]:
    log = log_for_tests(tmp_path_factory.mktemp("uci"))
    register, warnings = load_register(EXAMPLE, windows={"24h"})
    assert warnings == []
    run = run_runtime(list(to_records(map_file(log).events)), window=DAY, name="24h")
    assert run.rejected == {}
    reference = uci_kpis(log, window_of=fixed_window(DAY))
    return evaluate_register(register, run.results), reference


def _days(improvement: Improvement, period: tuple[float, float]) -> list[float]:
    first = math.ceil(period[0] / DAY) * DAY
    return [float(d) for d in range(int(first), int(period[1]) - DAY + 1, DAY)]


def test_verdicts_equal_a_hand_computation_from_the_csv(
    evaluated: tuple[list[Evaluation], dict[tuple[float, str | None], WindowKpis]],
) -> None:
    evaluations, reference = evaluated
    compared = 0
    for e in evaluations:
        i = e.improvement
        service = i.scope.service
        for v in e.kpis:
            c = v.comparison
            periods = [
                [reference[(d, service)] for d in _days(i, p) if (d, service) in reference]
                for p in (i.before, i.after)
            ]
            if v.check.kpi in RATES:
                count = RATES[v.check.kpi]
                (x0, n0), (x1, n1) = (
                    tuple(map(sum, zip(*(count(k) for k in days), strict=True))) for days in periods
                )
                assert (v.before_n, v.after_n) == (n0, n1), v.check.label
                effect, low, high = newcombe(x1, n1, x0, n0, v.confidence)
                assert c is not None
                assert (c.effect, c.low, c.high) == pytest.approx((effect, low, high), abs=1e-9)
            elif (v.check.kpi, v.check.stat) == ("resolution_time", "p50"):
                before, after = (
                    [k.quantile(0.5) for k in days if k.tickets_resolved] for days in periods
                )
                assert (v.before_n, v.after_n) == (len(before), len(after))
                effect, low, high = welch(before, after, v.confidence)
                assert c is not None
                # Daily medians come from the sketch: each within its relative accuracy.
                scale = RELATIVE_ACCURACY * max(before + after)
                assert (c.effect, c.low, c.high) == pytest.approx(
                    (effect, low, high), abs=3 * scale
                )
            else:
                continue
            sign = 1 if v.check.direction.value == "higher" else -1
            lo, hi = sorted((sign * low, sign * high))
            by_hand = (
                Verdict.IMPROVED if lo > 0 else Verdict.WORSE if hi < 0 else Verdict.NO_EVIDENCE
            )
            assert v.verdict is by_hand, (i.id, v.check.label)
            compared += 1
    # cat42: fcr_rate, resolution_time p50, the sla_compliance guard; cat26: sla_compliance and
    # its fcr_rate and reopen_rate guards
    assert compared == 6


def test_the_example_reads_as_documented(
    evaluated: tuple[list[Evaluation], dict[tuple[float, str | None], WindowKpis]],
) -> None:
    evaluations, _ = evaluated
    cat42, cat26 = evaluations
    # The log has no surveys and no costs: those guards cannot be judged.
    no_data = {v.check.kpi for v in cat42.kpis if v.verdict is Verdict.TOO_LITTLE_DATA}
    assert no_data == {"csat", "nps", "cost_per_interaction"}
    assert [v.check.label for v in cat26.kpis] == ["sla_compliance", "fcr_rate", "reopen_rate"]
    assert cat26.kpis[0].verdict is Verdict.IMPROVED
