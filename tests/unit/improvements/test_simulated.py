"""Statistical honesty on simulated desks with known effects, through the live worker's engine.

Each check runs a few seeds by default; ``KPI_TEST_IMPROVEMENT_SEEDS=200`` runs many (minutes).
Fourteen days before and after (after three settling days, in which tickets created before the
change still resolve) at 6 tickets an hour hold about 2,000 first resolutions per period: more
than the 1,461 that find a 5-point FCR rise with 90% power at 95% confidence.
"""

from __future__ import annotations

import textwrap

import pytest
from scipy import stats as sps

from pipeline.improvements import Overall, Verdict, evaluate, parse_register
from pipeline.improvements.model import Improvement
from pipeline.improvements.stats import sample_for_rates
from tests.improvement_sim import Desk, seed_count, simulate_desk

SEEDS = seed_count(3)


def improvement(desk: Desk, guards: str = "") -> Improvement:
    text = textwrap.dedent(
        f"""
        version: improvements/v1
        improvements:
          - id: change
            title: A change with a known effect
            owner: tests
            scope: {{service: network}}
            implemented: {desk.implemented.isoformat()}
            before: {desk.before_days}d
            settling: {desk.settling_days}d
            after: {desk.after_days}d
            expect:
              - {{kpi: fcr_rate, direction: higher}}
            {guards}
        """
    ).lstrip("\n")
    register, _ = parse_register(text, now=desk.implemented.timestamp() + 365 * 86400)
    return register.improvements[0]


def at_least_90_percent(hits: int, trials: int) -> bool:
    """The power checks: the effects are sized for 90% power or more, so the seeds must
    reach 90%."""
    return hits >= 0.9 * trials


def at_most_5_percent(claims: int, trials: int) -> bool:
    """The false-claim checks: a true rate of 5% gives counts above 5% half the time, so the
    count must be one that a rate of 5% explains (one-sided binomial p >= 0.001)."""
    return claims <= sps.binom.ppf(0.999, trials, 0.05)


def test_a_real_effect_is_found_once_the_after_period_has_the_sample() -> None:
    desk = Desk(fcr=0.05)
    imp = improvement(desk)
    needed = sample_for_rates(0.75, 0.05, imp.confidence, power=0.9)
    found = 0
    for seed in range(SEEDS):
        fcr = evaluate(imp, simulate_desk(desk, seed)).kpis[0]
        assert min(fcr.before_n, fcr.after_n) >= needed, (fcr.before_n, fcr.after_n)
        assert fcr.comparison is not None
        found += fcr.verdict is Verdict.IMPROVED
    assert at_least_90_percent(found, SEEDS), f"improved in {found} of {SEEDS}"


def test_no_effect_is_rarely_called_an_effect() -> None:
    desk = Desk()
    imp = improvement(desk)
    claims = 0
    for seed in range(100, 100 + SEEDS):
        e = evaluate(imp, simulate_desk(desk, seed))
        fcr = e.kpis[0]
        assert fcr.verdict is not Verdict.TOO_LITTLE_DATA
        claims += fcr.verdict in (Verdict.IMPROVED, Verdict.WORSE)
    assert at_most_5_percent(claims, SEEDS), f"an effect claimed in {claims} of {SEEDS}"


def test_a_process_improvement_whose_csat_falls_a_little() -> None:
    # Ten more points of FCR alone would lift CSAT by about 2.5 points (a first-contact
    # resolution pleases); the change also costs 3 points: CSAT ends about half a point lower,
    # too little to show as worse in 600 surveys, and certainly not better.
    desk = Desk(fcr=0.10, csat=-0.03)
    imp = improvement(desk, "guards: [{kpi: csat}]")
    outcomes = []
    for seed in range(200, 200 + SEEDS):
        e = evaluate(imp, simulate_desk(desk, seed))
        fcr, csat = e.kpis
        assert fcr.verdict is Verdict.IMPROVED, seed
        assert csat.comparison is not None and csat.after_n >= 400
        outcomes.append(e.overall)
    assert at_least_90_percent(outcomes.count(Overall.PROCESS_IMPROVED), SEEDS), outcomes


def test_a_process_improvement_that_costs_csat_has_side_effects() -> None:
    desk = Desk(fcr=0.10, csat=-0.15)
    imp = improvement(desk, "guards: [{kpi: csat}]")
    outcomes = [
        evaluate(imp, simulate_desk(desk, seed)).overall for seed in range(300, 300 + SEEDS)
    ]
    assert at_least_90_percent(outcomes.count(Overall.SIDE_EFFECTS), SEEDS), outcomes


@pytest.mark.parametrize("seed", [400])
def test_live_and_replay_see_the_same_windows_so_the_same_verdict(seed: int) -> None:
    # Closed windows arrive one by one live; a replay has them all at once. The evaluation
    # after the last window equals the one over the whole list, in any order.
    desk = Desk(fcr=0.05)
    imp = improvement(desk)
    rows = simulate_desk(desk, seed)
    assert evaluate(imp, list(reversed(rows))) == evaluate(imp, rows)
