"""The evaluation as a pure function of closed windows: which windows count, verdicts while
the after period runs, the per-KPI verdict rules and the overall verdict."""

from __future__ import annotations

import random
import textwrap
from datetime import UTC, datetime

import pytest

from pipeline.core.results import WindowResult
from pipeline.core.scopes import Scope
from pipeline.improvements import Overall, Verdict, evaluate, parse_register, window_series

DAY = 86400
T = int(datetime(2026, 3, 2, tzinfo=UTC).timestamp())  # midnight: periods of whole days
NETWORK = Scope("service", service="network")


def register(extra: str = "", guards: str = "guards: []") -> object:
    text = textwrap.dedent(
        f"""
        version: improvements/v1
        improvements:
          - id: kb
            title: Knowledge base
            owner: desk
            scope: {{service: network}}
            implemented: 2026-03-02T00:00:00Z
            before: 14d
            {extra or "min_windows: 7"}
            expect:
              - kpi: fcr_rate
                direction: higher
              - kpi: resolution_time
                stat: p50
                direction: lower
            {guards}
        """
    ).lstrip("\n")
    reg, _ = parse_register(text, "i.yaml", now=T + 100 * DAY)
    return reg.improvements[0]


def row(
    day: int,
    kpi: str,
    stat: str,
    value: float | None,
    n: int,
    scope: Scope = NETWORK,
    size: int = DAY,
    window: str = "24h",
) -> WindowResult:
    start = T + day * DAY
    return WindowResult(
        window, start, start + size, scope, kpi, 1, "process", "ratio", stat, value, n
    )


def days(
    first: int, last: int, fcr: tuple[int, int], p50: float, csat: tuple[int, int] = (70, 100)
) -> list[WindowResult]:
    """Windows for days first..last-1, FCR num/den and CSAT num/den each day, a p50."""
    out = []
    rng = random.Random(first)
    for d in range(first, last):
        out.append(row(d, "fcr_rate", "value", fcr[0] / fcr[1], fcr[1]))
        out.append(row(d, "resolution_time", "p50", p50 * (1 + rng.uniform(-0.05, 0.05)), 40))
        out.append(row(d, "csat", "value", csat[0] / csat[1], csat[1]))
    return out


def test_a_clear_improvement_and_what_the_rates_sum() -> None:
    imp = register()
    rows = days(-14, 0, (150, 200), 3600) + days(0, 14, (170, 200), 3000)
    e = evaluate(imp, rows)
    fcr, p50 = e.kpis
    assert fcr.verdict is Verdict.IMPROVED and p50.verdict is Verdict.IMPROVED
    assert (fcr.before_n, fcr.after_n) == (14 * 200, 14 * 200)  # summed denominators
    assert fcr.comparison is not None and fcr.comparison.effect == pytest.approx(0.1)
    assert (p50.before_n, p50.after_n) == (14, 14)  # windows
    assert e.overall is Overall.PROCESS_IMPROVED
    assert e.after_days == 14


def test_the_result_depends_only_on_the_windows_not_their_order_or_neighbours() -> None:
    imp = register()
    rows = days(-14, 0, (150, 200), 3600) + days(0, 14, (160, 200), 3500)
    noise = [
        row(3, "fcr_rate", "value", 0.0, 500, scope=Scope("service", service="email")),
        row(3, "fcr_rate", "value", 0.0, 500, scope=Scope("all")),
        # a sliding 24h window that starts at 01:00 overlaps two daily ones: not counted
        WindowResult(
            "24h",
            T + 3600,
            T + 3600 + DAY,
            NETWORK,
            "fcr_rate",
            1,
            "process",
            "ratio",
            "value",
            0.0,
            500,
        ),
        row(3, "fcr_rate", "value", 0.0, 500, window="1h", size=3600),
        row(-20, "fcr_rate", "value", 0.0, 500),  # before the before period
    ]
    shuffled = rows + noise + rows[:5]  # and a few windows delivered twice
    random.Random(1).shuffle(shuffled)
    assert evaluate(imp, shuffled) == evaluate(imp, rows)


def test_no_verdict_while_the_after_period_runs() -> None:
    imp = register()
    rows = days(-14, 0, (150, 200), 3600) + days(0, 9, (180, 200), 3000)
    e = evaluate(imp, rows)
    fcr = e.kpis[0]
    assert fcr.verdict is Verdict.TOO_LITTLE_DATA
    assert fcr.comparison is not None and fcr.comparison.low > 0  # shown, not judged
    assert (fcr.after_windows, fcr.after_windows_total) == (9, 14)
    assert "after period running: 9 of 14 windows" in fcr.note
    assert e.overall is Overall.TOO_LITTLE_DATA and e.after_days == 9
    # Later windows of other scopes close the period: the pipeline's time has moved on.
    later = [row(13, "fcr_rate", "value", 0.5, 10, scope=Scope("all"))]
    assert evaluate(imp, rows + later).kpis[0].verdict is Verdict.IMPROVED


def test_too_little_data_when_the_before_period_is_not_covered_or_small() -> None:
    imp = register()
    partial = days(-7, 0, (150, 200), 3600) + days(0, 14, (180, 200), 3000)
    assert evaluate(imp, partial).kpis[0].note.startswith("the data does not cover")
    small = days(-14, 0, (1, 2), 3600) + days(0, 14, (2, 2), 3000)
    fcr = evaluate(register("min_sample: 30"), small).kpis[0]
    assert fcr.verdict is Verdict.TOO_LITTLE_DATA and "fewer than 30" in fcr.note


def test_worse_and_no_evidence() -> None:
    imp = register()
    rows = days(-14, 0, (150, 200), 3600) + days(0, 14, (120, 200), 3610)
    fcr, p50 = evaluate(imp, rows).kpis
    assert fcr.verdict is Verdict.WORSE
    assert p50.verdict is Verdict.NO_EVIDENCE


def test_an_effect_below_the_smallest_worth_having_is_not_improved() -> None:
    text_min = "min_windows: 7"
    imp = register(text_min)
    rows = days(-14, 0, (1500, 2000), 3600) + days(0, 14, (1540, 2000), 3600)
    assert evaluate(imp, rows).kpis[0].verdict is Verdict.IMPROVED  # +0.02, certain
    reg, _ = parse_register(
        textwrap.dedent(
            """
            version: improvements/v1
            improvements:
              - id: kb
                title: t
                owner: o
                scope: {service: network}
                implemented: 2026-03-02T00:00:00Z
                before: 14d
                expect:
                  - {kpi: fcr_rate, direction: higher, min_effect: 0.03}
                guards: []
            """
        ),
        now=T + 100 * DAY,
    )
    fcr = evaluate(reg.improvements[0], rows).kpis[0]
    assert fcr.verdict is Verdict.NO_EVIDENCE and "smallest effect" in fcr.note


def test_overall_verdicts() -> None:
    guarded = register(guards="guards: [{kpi: csat}]")
    better = days(-14, 0, (150, 200), 3600, csat=(70, 100))
    # the process improved, CSAT did not move
    same = evaluate(guarded, better + days(0, 14, (180, 200), 3000, csat=(70, 100)))
    assert same.overall is Overall.PROCESS_IMPROVED
    # CSAT rose too: the service improved
    up = evaluate(guarded, better + days(0, 14, (180, 200), 3000, csat=(85, 100)))
    assert up.overall is Overall.SERVICE_IMPROVED
    # CSAT fell: side effects, whatever the process did
    down = evaluate(guarded, better + days(0, 14, (180, 200), 3000, csat=(55, 100)))
    assert down.kpis[2].verdict is Verdict.WORSE and down.overall is Overall.SIDE_EFFECTS
    # nothing moved
    flat = evaluate(guarded, better + days(0, 14, (150, 200), 3600, csat=(70, 100)))
    assert flat.overall is Overall.NO_EFFECT


def test_window_series_is_what_was_compared() -> None:
    imp = register()
    rows = days(-20, 20, (150, 200), 3600)
    series = window_series(imp, imp.checks[0], rows)
    assert [s for s, _, _, _ in series] == [T + d * DAY for d in range(-14, 14)]
