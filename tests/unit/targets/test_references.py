"""Error budgets and benchmarks in the targets file, and the Prometheus rules generated from the
budgets (their behaviour is tested with promtool: deploy/prometheus/tests/kpi-budgets.test.yml)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml

from pipeline.alerts.model import Objective, ScopeMatch
from pipeline.targets import TargetsError, parse_targets
from pipeline.targets.rules import BURNS, RULES_FILE, burn_threshold, check, render

WINDOWS = {"1h": 300.0, "24h": 3600.0}


def parse(text: str) -> tuple[object, list[str]]:
    targets, warnings = parse_targets(textwrap.dedent(text).lstrip("\n"), "t.yaml", windows=WINDOWS)
    return targets, [str(w) for w in warnings]


def errors(text: str) -> list[str]:
    with pytest.raises(TargetsError) as caught:
        parse(text)
    return [str(issue) for issue in caught.value.issues]


def test_a_budget_is_read_with_its_share_of_bad_outcomes() -> None:
    targets, warnings = parse(
        """
        version: targets/v1
        budgets:
          - id: sla-28d
            kpi: sla_compliance
            objective: ">= 0.95"
            period: 28d
          - id: reopen
            kpi: reopen_rate
            objective: "<= 0.08"
            period: 30d
            window: 24h
            scope: {service: "*"}
        """
    )
    first, second = targets.budgets  # type: ignore[attr-defined]
    assert (first.id, first.kpi, first.objective, first.period, first.window) == (
        "sla-28d", "sla_compliance", Objective(">=", 0.95), "28d", "1h",
    )  # fmt: skip
    assert first.period_seconds == 28 * 86400 and first.allowed == pytest.approx(0.05)
    assert first.line == 3 and first.scope == ScopeMatch("all")
    assert second.allowed == pytest.approx(0.08) and second.scope == ScopeMatch("service", "*")
    assert warnings == []


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ("{id: x, kpi: resolution_time, objective: '<= 8h', period: 28d}", "not a rate KPI"),
        ("{id: x, kpi: fcr_rate, objective: '>= 1', period: 28d}", "leaves no budget"),
        ("{id: x, kpi: fcr_rate, objective: '>= 0.9', period: 28d, window: 2h}", "not configured"),
        ("{id: x, kpi: fcr_rate, objective: '>= 0.9'}", "period: missing"),
        ("{id: x, kpi: fcr_rate, objective: '>= 0.9', period: 1.5d}", "write the period as"),
        ("{kpi: fcr_rate, objective: '>= 0.9', period: 28d}", "id: missing"),
        ("{id: x, kpi: fcr_rate, objective: '>= 0.9', period: 28d, perod: 1}", "perod"),
    ],
)
def test_bad_budgets_name_line_and_field(item: str, expected: str) -> None:
    problems = errors(f"version: targets/v1\nbudgets:\n  - {item}\n")
    assert any(p.startswith("t.yaml:3: budgets[0]") and expected in p for p in problems), problems


def test_a_budget_no_alert_could_ever_use_is_a_warning() -> None:
    _, warnings = parse(
        """
        version: targets/v1
        budgets:
          - {id: loose, kpi: fcr_rate, objective: ">= 0.70", period: 365d}
        """
    )
    assert len(warnings) == 1 and "none can ever fire" in warnings[0]
    assert warnings[0].startswith("t.yaml:3: budgets[0].objective")


def test_benchmarks_need_source_and_year() -> None:
    targets, _ = parse(
        """
        version: targets/v1
        benchmarks:
          - kpi: fcr_rate
            value: 0.74
            source: HDI Practices and Salary Report
            year: 2017
            peer_group: North American support centres
          - kpi: first_response_time
            stat: p50
            value: 2h
            source: Some survey
            year: 2021
            peer_group: email support
        """
    )
    fcr, frt = targets.benchmarks  # type: ignore[attr-defined]
    assert (fcr.kpi, fcr.stat, fcr.value, fcr.year) == ("fcr_rate", "value", 0.74, 2017)
    assert fcr.line == 3 and frt.value == 7200.0 and frt.stat == "p50"
    problems = errors(
        """
        version: targets/v1
        benchmarks:
          - kpi: fcr_rate
            value: 0.74
            year: 2017
            peer_group: x
          - kpi: csat
            value: 0.8
            source: Somebody
            peer_group: x
          - kpi: csat
            value: 80
            source: Somebody
            year: 2020
            peer_group: x
        """
    )
    assert "t.yaml:3: benchmarks[0].source: missing (required)" in problems
    assert "t.yaml:7: benchmarks[1].year: missing (required)" in problems
    assert any(p.startswith("t.yaml:12: benchmarks[2].value") and "0.8?" in p for p in problems)


def test_burn_thresholds_follow_the_period() -> None:
    targets, _ = parse(
        """
        version: targets/v1
        budgets:
          - {id: a, kpi: csat, objective: ">= 0.99", period: 30d}
          - {id: b, kpi: csat, objective: ">= 0.99", period: 28d}
        """
    )
    month, four_weeks = targets.budgets  # type: ignore[attr-defined]
    # The SRE workbook's table for 30 days: 14.4, 6 and 1.
    assert [burn_threshold(month, burn) for burn in BURNS] == [14.4, 6.0, 1.0]
    assert [burn_threshold(four_weeks, burn) for burn in BURNS] == [13.44, 5.6, 0.933333]


def test_generated_rules_select_the_budgets_series() -> None:
    targets, _ = parse(
        """
        version: targets/v1
        budgets:
          - {id: net, kpi: fcr_rate, objective: ">= 0.9", period: 30d,
             scope: {service: network, priority: "*"}}
          - {id: reopen, kpi: reopen_rate, objective: "<= 0.1", period: 30d}
        """
    )
    text = render(targets, "t.yaml")  # type: ignore[arg-type]
    assert text.startswith("# GENERATED FILE: DO NOT EDIT.")
    net, reopen = yaml.safe_load(text)["groups"]
    bad = net["rules"][0]
    assert bad["record"] == "budget:kpi_bad_outcomes:newest_window"
    assert bad["labels"] == {"budget": "net"}
    # A fixed dimension is selected, a "*" one is not: one series (and alert) per priority.
    assert (
        'kpi_value{kpi="fcr_rate",stat="value",window="1h",breakdown="service_priority",'
        'service="network"}' in bad["expr"]
    )
    assert bad["expr"].startswith("(1 - kpi_value")
    # Lower-better rates count the value itself as the bad share.
    assert reopen["rules"][0]["expr"].startswith("kpi_value{")
    alerts = [r for r in net["rules"] if "alert" in r]
    assert [(a["labels"]["burn"], a["labels"]["severity"]) for a in alerts] == [
        ("fast", "critical"), ("slow", "critical"), ("ticket", "warning"),
    ]  # fmt: skip
    assert 'budget:kpi_burn_rate:1h{budget="net"} > 14.4' in alerts[0]["expr"]
    assert 'budget:kpi_burn_rate:5m{budget="net"} > 14.4' in alerts[0]["expr"]
    remaining = next(r for r in net["rules"] if r.get("record", "").endswith("remaining:period"))
    assert remaining["expr"] == '1 - budget:kpi_error_ratio:period{budget="net"} / 0.1'
    ratio = next(r for r in net["rules"] if r.get("record") == "budget:kpi_error_ratio:period")
    assert "[30d]" in ratio["expr"]


def test_the_shipped_rule_file_is_up_to_date(tmp_path: Path) -> None:
    assert check()
    stale = tmp_path / RULES_FILE.name
    stale.write_text(RULES_FILE.read_text().replace("13.44", "14.4"))
    assert not check(stale)
