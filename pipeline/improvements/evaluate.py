"""Before/after evaluation of an improvement: a pure function of closed window values.

The input is what the pipeline already publishes for every closed window (``kpi-windows``
records, the replay's tidy rows): window, start, end, scope, KPI, statistic, value, sample size.
Only the windows of the improvement's scope and window name that tile the time line (start a
whole number of window sizes from the epoch, so none overlaps another) and lie wholly inside a
period count. The same windows therefore give the same verdict live and in replay, and nothing
here can change a KPI value.

Per KPI: see ``stats`` for the two methods. The verdict:

- too little data: a period is not yet complete (or the data does not reach back to its start),
  or it has fewer observations (rates) or windows with a value (others) than the minimum. While
  the after period runs, effect and interval are shown on the windows so far, but no verdict is
  given: judging the same test again every day would claim effects far more often than the
  stated confidence allows;
- improved: the interval lies wholly on the better side of 0 and the effect reaches the
  smallest effect worth having (expected KPIs that set one);
- worse: the interval lies wholly on the worse side of 0;
- no evidence: otherwise.

Guards share the error rate: with k guards each is judged at a confidence of 1 - (1 - c) / k
(Bonferroni), so that a change without side effects is said to have some in at most 1 - c of
evaluations, however many guards there are. Expected KPIs are judged at the stated confidence.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from pipeline.core.durations import parse_duration
from pipeline.core.kpis import KpiClass
from pipeline.core.scopes import Scope
from pipeline.improvements.model import Direction, Improvement, KpiCheck, Register, Role
from pipeline.improvements.stats import Comparison, compare_means, compare_rates

__all__ = [
    "RATE_KPIS",
    "Evaluation",
    "KpiVerdict",
    "Overall",
    "Verdict",
    "WindowValue",
    "evaluate",
    "evaluate_register",
    "window_series",
]

# KPIs whose value is a share of observations with an exact numerator and denominator.
RATE_KPIS = frozenset(
    {"fcr_rate", "reopen_rate", "escalation_rate", "sla_compliance", "csat", "self_service_rate"}
)


class Verdict(StrEnum):
    IMPROVED = "improved"
    WORSE = "worse"
    NO_EVIDENCE = "no_evidence"
    TOO_LITTLE_DATA = "too_little_data"


class Overall(StrEnum):
    SERVICE_IMPROVED = "service_improved"
    PROCESS_IMPROVED = "process_improved_service_did_not"
    NO_EFFECT = "no_effect"
    SIDE_EFFECTS = "side_effects"
    TOO_LITTLE_DATA = "too_little_data"


OVERALL_TEXT = {
    Overall.SERVICE_IMPROVED: "service improved",
    Overall.PROCESS_IMPROVED: "process improved, service value did not",
    Overall.NO_EFFECT: "no effect",
    Overall.SIDE_EFFECTS: "side effects",
    Overall.TOO_LITTLE_DATA: "too little data",
}


class WindowValue(Protocol):
    """One statistic of one KPI in one closed window and scope (``WindowResult`` is one)."""

    @property
    def window(self) -> str: ...
    @property
    def start(self) -> int: ...
    @property
    def end(self) -> int: ...
    @property
    def scope(self) -> Scope: ...
    @property
    def kpi(self) -> str: ...
    @property
    def stat(self) -> str: ...
    @property
    def value(self) -> float | None: ...
    @property
    def sample_size(self) -> int: ...


@dataclass(frozen=True, slots=True)
class KpiVerdict:
    check: KpiCheck
    verdict: Verdict
    comparison: Comparison | None  # None when a period has nothing to compare
    before_n: int  # observations (rates) or windows with a value (others)
    after_n: int
    after_windows: int  # windows of the after period closed so far
    after_windows_total: int
    confidence: float  # of the interval (guards: shared, see the module docstring)
    note: str = ""

    @property
    def method(self) -> str:
        return "rate: Newcombe hybrid score" if self.check.kpi in RATE_KPIS else "windows: Welch t"


@dataclass(frozen=True, slots=True)
class Evaluation:
    improvement: Improvement
    kpis: tuple[KpiVerdict, ...]
    overall: Overall
    through: float  # end of the newest closed window the evaluation saw

    @property
    def after_days(self) -> float:
        start = self.improvement.after[0]
        return max(0.0, min(self.through, self.improvement.after[1]) - start) / 86400


def _tiles(start: float, end: float, size: int) -> list[int]:
    """Starts of the epoch-aligned windows of ``size`` wholly inside [start, end)."""
    first = math.ceil(start / size) * size
    return list(range(int(first), int(end) - size + 1, size))


def _index(
    improvement: Improvement, rows: Iterable[WindowValue]
) -> tuple[dict[tuple[str, str, int], WindowValue], int | None, float, float]:
    """The improvement's windows by (kpi, stat, start); window size; data from / through."""
    wanted = {(c.kpi, c.stat) for c in improvement.checks}
    found: dict[tuple[str, str, int], WindowValue] = {}
    size: int | None = None
    first, through = math.inf, -math.inf
    for r in rows:
        if r.window != improvement.window:
            continue
        width = r.end - r.start
        if width <= 0 or r.start % width:
            continue  # overlaps a tiling window (a sliding window's other steps)
        size = width
        first, through = min(first, r.start), max(through, r.end)
        if r.scope == improvement.scope and (r.kpi, r.stat) in wanted:
            found[(r.kpi, r.stat, r.start)] = r
    return found, size, first, through


def evaluate(
    improvement: Improvement,
    rows: Iterable[WindowValue],
    through: float | None = None,
    since: float | None = None,
) -> Evaluation:
    """The verdicts of one improvement from closed windows (any order, any scopes and KPIs;
    duplicates of a window count once). The rows show which time the data covers; ``since``
    and ``through`` widen that to what the caller knows (the start of a replay's range, the end
    of the pipeline's newest closed window) when the rows hold only the improvement's scope."""
    found, size, first, seen_through = _index(improvement, rows)
    through = seen_through if through is None else max(through, seen_through)
    first = first if since is None else min(first, since)
    if size is None:
        size = int(_size_of(improvement.window))
    verdicts = tuple(
        _judge(improvement, check, found, size, first, through) for check in improvement.checks
    )
    return Evaluation(improvement, verdicts, _overall(verdicts), through)


def evaluate_register(
    register: Register,
    rows: Iterable[WindowValue],
    through: float | None = None,
    since: float | None = None,
) -> list[Evaluation]:
    materialised = list(rows)
    return [evaluate(i, materialised, through, since) for i in register.improvements]


def window_series(
    improvement: Improvement, check: KpiCheck, rows: Iterable[WindowValue]
) -> list[tuple[int, int, float | None, int]]:
    """(start, end, value, sample size) of the check's windows over both periods, in time
    order: what the evaluation compared (for plots and tables)."""
    found, _, _, _ = _index(improvement, rows)
    lo, hi = improvement.span
    out = [
        (r.start, r.end, r.value, r.sample_size)
        for (kpi, stat, start), r in found.items()
        if kpi == check.kpi and stat == check.stat and start >= lo and r.end <= hi
    ]
    return sorted(out)


def _size_of(window: str) -> float:
    try:
        return parse_duration(window)
    except ValueError:
        return 86400.0


def _judge(
    improvement: Improvement,
    check: KpiCheck,
    found: dict[tuple[str, str, int], WindowValue],
    size: int,
    first: float,
    through: float,
) -> KpiVerdict:
    confidence = improvement.confidence
    if check.role is Role.GUARD:
        confidence = 1 - (1 - confidence) / len(improvement.guards)
    before_tiles = _tiles(*improvement.before, size)
    after_tiles = _tiles(*improvement.after, size)
    closed_after = [t for t in after_tiles if t + size <= through]
    before_rows = [found[k] for t in before_tiles if (k := (check.kpi, check.stat, t)) in found]
    after_rows = [found[k] for t in closed_after if (k := (check.kpi, check.stat, t)) in found]
    notes = []
    complete = True
    if not before_tiles or first > before_tiles[0] or through < before_tiles[-1] + size:
        complete = False
        notes.append("the data does not cover the before period")
    if len(closed_after) < len(after_tiles):
        complete = False
        notes.append(f"after period running: {len(closed_after)} of {len(after_tiles)} windows")

    comparison: Comparison | None = None
    if check.kpi in RATE_KPIS:
        b_num, b_den = _sums(before_rows)
        a_num, a_den = _sums(after_rows)
        before_n, after_n = b_den, a_den
        if b_den and a_den and b_num <= b_den and a_num <= a_den:
            comparison = compare_rates(b_num, b_den, a_num, a_den, confidence)
        enough = min(b_den, a_den) >= improvement.min_sample
        if not enough:
            notes.append(f"fewer than {improvement.min_sample} observations in a period")
    else:
        before_values = [r.value for r in before_rows if r.value is not None]
        after_values = [r.value for r in after_rows if r.value is not None]
        before_n, after_n = len(before_values), len(after_values)
        if before_n >= 2 and after_n >= 2:
            comparison = compare_means(before_values, after_values, confidence)
        enough = min(before_n, after_n) >= improvement.min_windows
        if not enough:
            notes.append(f"fewer than {improvement.min_windows} windows with a value in a period")

    if comparison is None or not complete or not enough:
        verdict = Verdict.TOO_LITTLE_DATA
    else:
        verdict, note = _verdict(check, comparison)
        if note:
            notes.append(note)
    return KpiVerdict(
        check,
        verdict,
        comparison,
        before_n,
        after_n,
        len(closed_after),
        len(after_tiles),
        confidence,
        "; ".join(notes),
    )


def _sums(rows: list[WindowValue]) -> tuple[int, int]:
    num = den = 0
    for r in rows:
        if r.value is not None and r.sample_size > 0:
            # value = num / den exactly, so the product rounds back to the integer numerator.
            num += round(r.value * r.sample_size)
            den += r.sample_size
    return num, den


def _verdict(check: KpiCheck, c: Comparison) -> tuple[Verdict, str]:
    sign = 1.0 if check.direction is Direction.HIGHER else -1.0
    gain = sign * c.effect
    low, high = sorted((sign * c.low, sign * c.high))
    if high < 0:
        return Verdict.WORSE, ""
    if low > 0:
        if check.role is Role.EXPECTED and gain < check.min_effect:
            return Verdict.NO_EVIDENCE, (
                "a change, but smaller than the smallest effect worth having "
                f"({check.min_effect:g})"
            )
        return Verdict.IMPROVED, ""
    return Verdict.NO_EVIDENCE, ""


def _overall(verdicts: tuple[KpiVerdict, ...]) -> Overall:
    if any(v.verdict is Verdict.WORSE for v in verdicts):
        return Overall.SIDE_EFFECTS
    expected = [v for v in verdicts if v.check.role is Role.EXPECTED]
    if all(v.verdict is Verdict.TOO_LITTLE_DATA for v in expected):
        return Overall.TOO_LITTLE_DATA
    improved = {v.check.kpi_class for v in verdicts if v.verdict is Verdict.IMPROVED}
    if KpiClass.SERVICE.value in improved:
        return Overall.SERVICE_IMPROVED
    if KpiClass.PROCESS.value in improved:
        return Overall.PROCESS_IMPROVED
    return Overall.NO_EFFECT
