"""Wilson interval, severities, episode ids and scope matching."""

from __future__ import annotations

import re

import pytest

from pipeline.alerts.model import AlertKind, ScopeMatch, Severity
from pipeline.alerts.stats import (
    ScopeFilter,
    episode_id,
    relative_gap,
    severity_for,
    two_sided_z,
    wilson_interval,
)
from pipeline.core.scopes import Scope


@pytest.mark.parametrize(
    ("successes", "n", "confidence", "expected"),
    [
        (50, 100, 0.95, (0.4038, 0.5962)),  # the textbook value
        (0, 10, 0.95, (0.0, 0.2775)),  # no collapse to a point at 0%
        (10, 10, 0.95, (0.7225, 1.0)),
        (81, 263, 0.95, (0.2553, 0.3662)),
        (50, 100, 0.99, (0.3753, 0.6247)),
    ],
)
def test_wilson_interval_known_values(
    successes: float, n: int, confidence: float, expected: tuple[float, float]
) -> None:
    low, high = wilson_interval(successes, n, confidence)
    assert (round(low, 4), round(high, 4)) == expected


def test_wilson_interval_takes_fractional_successes_and_no_sample() -> None:
    # value * n of a rate need not be a whole number; the interval is continuous in it.
    low, high = wilson_interval(0.55 * 12, 12, 0.95)
    assert 0.28 < low < 0.30 and 0.78 < high < 0.79
    assert wilson_interval(0, 0, 0.95) == (0.0, 1.0)
    # Clamped: a rate a hair above 1 from float arithmetic still gives a valid interval.
    assert wilson_interval(10.000001, 10, 0.95)[1] == 1.0


def test_two_sided_z() -> None:
    assert two_sided_z(0.95) == pytest.approx(1.959964, abs=1e-6)
    assert two_sided_z(0.90) == pytest.approx(1.644854, abs=1e-6)
    with pytest.raises(ValueError):
        two_sided_z(1.0)


def test_severity_is_the_highest_reached_or_the_lowest() -> None:
    levels = (Severity("info", 0.0), Severity("warning", 0.05), Severity("critical", 0.15))
    assert severity_for(levels, 0.01) == "info"
    assert severity_for(levels, 0.05) == "warning"  # min_gap is inclusive
    assert severity_for(levels, 0.149) == "warning"
    assert severity_for(levels, 0.40) == "critical"
    # Thresholds that start above 0: a credible breach below them still has a severity.
    assert severity_for(levels[1:], 0.01) == "warning"
    assert severity_for((), 0.3) is None


def test_relative_gap() -> None:
    assert relative_gap(0.07, 0.70) == pytest.approx(0.1)
    assert relative_gap(3600.0, -14400.0) == pytest.approx(0.25)  # relative to |objective|
    assert relative_gap(0.2, 0.0) is None
    assert relative_gap(None, 0.7) is None


def test_episode_id_is_stable_and_depends_on_every_part() -> None:
    key = Scope("service", service="billing").encode()
    first = episode_id(AlertKind.TARGET, "fcr", key, 1_767_229_200)
    assert re.fullmatch(r"[0-9a-f]{16}", first)
    assert first == episode_id(AlertKind.TARGET, "fcr", key, 1_767_229_200.0)  # int or float
    others = {
        episode_id(AlertKind.DRIFT, "fcr", key, 1_767_229_200),
        episode_id(AlertKind.TARGET, "fcr2", key, 1_767_229_200),
        episode_id(
            AlertKind.TARGET, "fcr", Scope("service", service="email").encode(), 1_767_229_200
        ),
        episode_id(AlertKind.TARGET, "fcr", key, 1_767_232_800),
    }
    assert first not in others and len(others) == 4


def test_scope_filter() -> None:
    every_service = ScopeFilter(ScopeMatch("service", service="*"), "t")
    assert every_service(Scope("service", service="billing"))
    assert every_service(Scope("service", service="email"))
    assert not every_service(Scope("all"))
    assert not every_service(Scope("service_team", service="billing", team="l1"))

    one_team = ScopeFilter(ScopeMatch("service_team", service="billing", team="l1"), "t")
    assert one_team(Scope("service_team", service="billing", team="l1"))
    assert not one_team(Scope("service_team", service="billing", team="l2"))
    assert not one_team(Scope("service_team", service="email", team="l1"))

    # A breakdown dimension left open means every value of it.
    all_teams = ScopeFilter(ScopeMatch("service_team", service="billing"), "t")
    assert all_teams(Scope("service_team", service="billing", team="l2"))

    assert ScopeFilter(ScopeMatch("all"), "t")(Scope("all"))


def test_scope_filter_refuses_scopes_that_match_nothing() -> None:
    with pytest.raises(ValueError, match="does not split by team"):
        ScopeFilter(ScopeMatch("service", service="billing", team="l1"), "target x")
    with pytest.raises(ValueError, match="unknown breakdown"):
        ScopeFilter(ScopeMatch("region"), "target x")
