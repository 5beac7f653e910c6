"""Textbook formulas for the improvement checks, written out with the standard library (and
Student's t quantile): independent of pipeline.improvements.stats."""

from __future__ import annotations

import math
import statistics

from scipy import stats as sps

__all__ = ["newcombe", "welch", "wilson"]


def wilson(x: int, n: int, z: float) -> tuple[float, float]:
    p = x / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def newcombe(x1: int, n1: int, x0: int, n0: int, confidence: float) -> tuple[float, float, float]:
    """Newcombe (1998), method 10: (p1 - p0, low, high) from the two Wilson intervals."""
    z = statistics.NormalDist().inv_cdf(0.5 + confidence / 2)
    p1, p0 = x1 / n1, x0 / n0
    l1, u1 = wilson(x1, n1, z)
    l0, u0 = wilson(x0, n0, z)
    d = p1 - p0
    return (
        d,
        d - math.sqrt((p1 - l1) ** 2 + (u0 - p0) ** 2),
        d + math.sqrt((u1 - p1) ** 2 + (p0 - l0) ** 2),
    )


def welch(before: list[float], after: list[float], confidence: float) -> tuple[float, float, float]:
    """(mean after - mean before, low, high) by Welch's t."""
    va = statistics.variance(after) / len(after)
    vb = statistics.variance(before) / len(before)
    dof = (va + vb) ** 2 / (va**2 / (len(after) - 1) + vb**2 / (len(before) - 1))
    t = float(sps.t.ppf(0.5 + confidence / 2, dof))
    d = statistics.fmean(after) - statistics.fmean(before)
    half = t * math.sqrt(va + vb)
    return d, d - half, d + half
