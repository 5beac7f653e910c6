"""The two comparisons the evaluation uses, with the error each one states.

- Rates (a share of observations: FCR, SLA compliance, CSAT, ...): the exact numerators and
  denominators of the before and after periods, summed over their windows. Effect = after rate
  minus before rate; confidence interval by Newcombe's hybrid score method (the difference of
  two Wilson intervals), which keeps its coverage for small samples and rates near 0 or 1 where
  the Wald interval does not. Assumes observations are independent given the period.
- Everything else (means and quantiles of times, CSAT mean, NPS, cost, counts): one value per
  window; effect = mean of the after windows minus mean of the before windows; confidence
  interval by Welch's t (unequal variances). The window is the unit: day-to-day variation is
  in the error, so it is honest for quantiles (no distribution of a p90 is needed), at the price
  of fewer degrees of freedom. Assumes the windows' values are independent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

# scipy and statsmodels are imported where a comparison runs: together with the pandas they
# pull in they cost a worker about a second of start-up and most of its memory before any
# state, and a worker without an improvements register never compares anything.

__all__ = ["Comparison", "compare_means", "compare_rates", "sample_for_rates"]


@dataclass(frozen=True, slots=True)
class Comparison:
    before: float  # the before period's rate or mean of window values
    after: float
    effect: float  # after - before, in the KPI's unit
    low: float  # confidence interval of the effect
    high: float
    method: str


def compare_rates(
    before_num: int, before_den: int, after_num: int, after_den: int, confidence: float
) -> Comparison:
    """Difference of two rates, with Newcombe's hybrid score interval."""
    if before_den <= 0 or after_den <= 0:
        raise ValueError("both periods need observations")
    low, high = _newcombe(after_num, after_den, before_num, before_den, 1 - confidence)
    p0, p1 = before_num / before_den, after_num / after_den
    return Comparison(p0, p1, p1 - p0, low, high, "rate: Newcombe hybrid score")


def _newcombe(x1: int, n1: int, x0: int, n0: int, alpha: float) -> tuple[float, float]:
    from statsmodels.stats.proportion import confint_proportions_2indep

    result: Any = confint_proportions_2indep(
        x1, n1, x0, n0, method="newcomb", compare="diff", alpha=alpha
    )
    return float(result[0]), float(result[1])


def compare_means(before: list[float], after: list[float], confidence: float) -> Comparison:
    """Difference of the means of per-window values, with Welch's t interval."""
    if len(before) < 2 or len(after) < 2:
        raise ValueError("each period needs at least two windows")
    b = np.asarray(before, dtype=np.float64)
    a = np.asarray(after, dtype=np.float64)
    effect = float(a.mean() - b.mean())
    var_b, var_a = float(b.var(ddof=1)) / len(b), float(a.var(ddof=1)) / len(a)
    se = math.sqrt(var_b + var_a)
    if se == 0:
        low = high = effect  # no variation at all: the difference is what it is
    else:
        # Welch-Satterthwaite degrees of freedom (a zero variance side contributes nothing).
        parts = (var_b**2 / (len(b) - 1) if var_b else 0.0) + (
            var_a**2 / (len(a) - 1) if var_a else 0.0
        )
        dof = (var_b + var_a) ** 2 / parts
        from scipy import stats as sps

        t = float(sps.t.ppf(0.5 + confidence / 2, dof))
        low, high = effect - t * se, effect + t * se
    return Comparison(float(b.mean()), float(a.mean()), effect, low, high, "windows: Welch t")


def sample_for_rates(base: float, effect: float, confidence: float, power: float = 0.9) -> int:
    """Observations per period that find a change of ``effect`` from rate ``base`` with the
    given power (normal approximation of the two-proportion test)."""
    if not 0 < base < 1 or not 0 < base + effect < 1 or effect == 0:
        raise ValueError("base and base + effect must be rates strictly between 0 and 1")
    from scipy import stats as sps

    z_a = float(sps.norm.ppf(0.5 + confidence / 2))
    z_b = float(sps.norm.ppf(power))
    p1 = base + effect
    variance = base * (1 - base) + p1 * (1 - p1)
    return math.ceil((z_a + z_b) ** 2 * variance / effect**2)
