"""The two comparisons against independent computations, and their error rates on many
simulated period pairs (numpy draws: thousands of pairs in a second).

Error rates are checked with a one-sided binomial bound: a method whose true rate of false
claims is at most 5% passes, one whose true rate is above it fails except with tiny
probability; the draws are seeded, so a run is repeatable.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from pipeline.improvements.stats import compare_means, compare_rates, sample_for_rates

Z95 = 1.959963984540054


def wilson(x: int, n: int, z: float = Z95) -> tuple[float, float]:
    p = x / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def newcombe_by_hand(x1: int, n1: int, x0: int, n0: int) -> tuple[float, float]:
    """Newcombe (1998), method 10: the square-and-add of the two Wilson intervals."""
    p1, p0 = x1 / n1, x0 / n0
    l1, u1 = wilson(x1, n1)
    l0, u0 = wilson(x0, n0)
    d = p1 - p0
    return (
        d - math.sqrt((p1 - l1) ** 2 + (u0 - p0) ** 2),
        d + math.sqrt((u1 - p1) ** 2 + (p0 - l0) ** 2),
    )


@pytest.mark.parametrize(
    ("x0", "n0", "x1", "n1"), [(48, 80, 56, 70), (1400, 1850, 1600, 1990), (0, 10, 3, 12)]
)
def test_rate_interval_is_newcombes(x0: int, n0: int, x1: int, n1: int) -> None:
    c = compare_rates(x0, n0, x1, n1, 0.95)
    assert c.effect == pytest.approx(x1 / n1 - x0 / n0)
    low, high = newcombe_by_hand(x1, n1, x0, n0)
    assert (c.low, c.high) == pytest.approx((low, high), abs=1e-9)


def test_newcombes_published_example() -> None:
    # Newcombe (1998), Statistics in Medicine 17:873-890, table II: 56/70 vs 48/80.
    c = compare_rates(48, 80, 56, 70, 0.95)
    assert (round(c.low, 4), round(c.high, 4)) == (0.0524, 0.3339)


def test_mean_interval_is_welchs() -> None:
    rng = np.random.default_rng(7)
    before = list(rng.normal(100, 10, 28))
    after = list(rng.normal(90, 20, 21))
    c = compare_means(before, after, 0.9)
    expected = sps.ttest_ind(after, before, equal_var=False).confidence_interval(0.9)
    assert (c.low, c.high) == pytest.approx((expected.low, expected.high), rel=1e-9)
    assert c.effect == pytest.approx(np.mean(after) - np.mean(before))


def test_sample_for_rates_matches_the_textbook_formula() -> None:
    # (1.95996 + 1.28155)^2 * (0.75*0.25 + 0.8*0.2) / 0.05^2 = 10.5074 * 0.3475 / 0.0025
    # = 1460.5, rounded up.
    assert sample_for_rates(0.75, 0.05, 0.95, 0.9) == 1461


def _most_allowed(trials: int, rate: float) -> int:
    """The largest count of events that a true rate of ``rate`` explains (p >= 0.001)."""
    return int(sps.binom.ppf(0.999, trials, rate))


def test_rates_claim_no_effect_that_is_not_there() -> None:
    rng = np.random.default_rng(20261206)
    trials, n = 4000, 600
    x0 = rng.binomial(n, 0.75, trials)
    x1 = rng.binomial(n, 0.75, trials)
    claims = sum(
        not (c.low <= 0 <= c.high)
        for c in (compare_rates(int(a), n, int(b), n, 0.95) for a, b in zip(x0, x1, strict=True))
    )
    assert claims <= _most_allowed(trials, 0.05), claims / trials


def test_rates_find_an_effect_of_the_planned_size() -> None:
    rng = np.random.default_rng(11)
    trials = 2000
    n = sample_for_rates(0.75, 0.05, 0.95, 0.9)
    x0 = rng.binomial(n, 0.75, trials)
    x1 = rng.binomial(n, 0.80, trials)
    found = sum(
        compare_rates(int(a), n, int(b), n, 0.95).low > 0 for a, b in zip(x0, x1, strict=True)
    )
    # Power 0.9 by design: at least that many, allowing for the draws.
    assert found >= trials - _most_allowed(trials, 0.10), found / trials


def test_window_means_claim_no_effect_that_is_not_there() -> None:
    # Skewed daily values (medians of resolution times vary like this from day to day).
    rng = np.random.default_rng(5)
    trials = 3000
    claims = 0
    for _ in range(trials):
        before = rng.lognormal(10, 0.3, 28)
        after = rng.lognormal(10, 0.3, 28)
        c = compare_means(list(before), list(after), 0.95)
        claims += not (c.low <= 0 <= c.high)
    assert claims <= _most_allowed(trials, 0.05), claims / trials
