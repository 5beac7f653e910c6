"""The running evaluation of the improvements register on /metrics.

Read at scrape time from the worker that closes windows (the evaluation is a function of the
closed windows it kept); verdicts are bounded label sets with one series at 1 and the others at
0, so a board can show the current one and an alert can match on it. Values are in the KPI's
unit; times in seconds.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from pipeline.core.scopes import DIMENSIONS
from pipeline.improvements.evaluate import Evaluation, Overall, Verdict

__all__ = ["ImprovementCollector"]

EvaluationsLookup = Callable[[], "list[Evaluation] | None"]
# The scope and window labels match kpi_value's, so a board can join the two.
_SCOPE_LABELS = ["window", "breakdown", *DIMENSIONS]
_KPI_LABELS = ["improvement", "kpi", "stat", "role", "kpi_class", *_SCOPE_LABELS]


class ImprovementCollector(Collector):
    def __init__(self, evaluations: EvaluationsLookup) -> None:
        self.evaluations = evaluations

    def collect(self) -> Iterator[Metric]:
        evaluations = self.evaluations()
        if evaluations is None:
            return
        implemented = GaugeMetricFamily(
            "kpi_improvement_implemented_timestamp_seconds",
            "When the improvement went live (event time), with its scope",
            labels=["improvement", *_SCOPE_LABELS],
        )
        after = GaugeMetricFamily(
            "kpi_improvement_after_seconds",
            "Event time of the after period covered by closed windows so far",
            labels=["improvement"],
        )
        after_total = GaugeMetricFamily(
            "kpi_improvement_after_period_seconds",
            "Length of the after period (equal to the before period unless set otherwise)",
            labels=["improvement"],
        )
        overall = GaugeMetricFamily(
            "kpi_improvement_verdict",
            "Overall verdict of the improvement: 1 for the current one, 0 for the others",
            labels=["improvement", "verdict"],
        )
        effect = GaugeMetricFamily(
            "kpi_improvement_effect",
            "After minus before, in the KPI's unit (on the windows so far while the after "
            "period runs)",
            labels=_KPI_LABELS,
        )
        lower = GaugeMetricFamily(
            "kpi_improvement_effect_lower",
            "Lower bound of the effect's confidence interval",
            labels=_KPI_LABELS,
        )
        upper = GaugeMetricFamily(
            "kpi_improvement_effect_upper",
            "Upper bound of the effect's confidence interval",
            labels=_KPI_LABELS,
        )
        verdict = GaugeMetricFamily(
            "kpi_improvement_kpi_verdict",
            "Verdict per KPI: 1 for the current one, 0 for the others",
            labels=[*_KPI_LABELS, "verdict"],
        )
        for e in evaluations:
            i = e.improvement
            labels = i.scope.labels()
            scope = [i.window, labels["breakdown"], *(labels[d] for d in DIMENSIONS)]
            implemented.add_metric([i.id, *scope], i.implemented)
            after.add_metric([i.id], e.after_days * 86400)
            after_total.add_metric([i.id], i.after_seconds)
            for outcome in Overall:
                overall.add_metric([i.id, outcome.value], float(outcome is e.overall))
            for v in e.kpis:
                kpi = [
                    i.id,
                    v.check.kpi,
                    v.check.stat,
                    v.check.role.value,
                    v.check.kpi_class,
                    *scope,
                ]
                c = v.comparison
                if c is not None and math.isfinite(c.effect):
                    effect.add_metric(kpi, c.effect)
                    lower.add_metric(kpi, c.low)
                    upper.add_metric(kpi, c.high)
                for answer in Verdict:
                    verdict.add_metric([*kpi, answer.value], float(answer is v.verdict))
        yield from (implemented, after, after_total, overall, effect, lower, upper, verdict)
