"""The targets file: the shipped example, every error and warning kind with its line and field,
durations, scopes, defaults, file encodings, the JSON Schema and the ``targets check`` command.

Inline documents are small and dedented, so the line numbers asserted below can be counted by
eye: line 1 is the first line after the opening quotes.
"""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from pipeline.alerts.model import Objective, ScopeMatch, Severity, Target
from pipeline.config import load_settings
from pipeline.targets import (
    TargetsError,
    TargetWarning,
    configured_windows,
    load_targets,
    parse_targets,
    targets_json_schema,
)
from pipeline.targets.cli import targets as targets_cli

REPO = Path(__file__).resolve().parents[3]
EXAMPLE = REPO / "deploy" / "targets.yaml"
WINDOWS = {"1h": 300.0, "24h": 3600.0}  # the default windows and their steps
SRC = "t.yaml"


def doc(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


def load(text: str, **kwargs: Any) -> tuple[list[Target], list[TargetWarning]]:
    kwargs.setdefault("windows", WINDOWS)
    target_set, warnings = parse_targets(doc(text), SRC, **kwargs)
    return list(target_set.targets), warnings


def errors(text: str, **kwargs: Any) -> list[str]:
    kwargs.setdefault("windows", WINDOWS)
    with pytest.raises(TargetsError) as caught:
        parse_targets(doc(text), SRC, **kwargs)
    assert str(caught.value).count("\n") == len(caught.value.issues)  # head + one line each
    return [str(issue) for issue in caught.value.issues]


def only_error(text: str, **kwargs: Any) -> str:
    found = errors(text, **kwargs)
    assert len(found) == 1, found
    return found[0]


def target(body: str, *, extra: str = "") -> str:
    """A document with one target whose keys are ``body``; the target starts on line 3."""
    indented = textwrap.indent(doc(body), "    ")
    return f"version: targets/v1\n{extra}targets:\n  - " + indented.lstrip() + "\n"


def warnings_of(text: str, **kwargs: Any) -> list[str]:
    return [str(w) for w in load(text, **kwargs)[1]]


# --- the shipped example -------------------------------------------------------------------------


def test_the_uci_what_if_file_loads_cleanly_with_the_replay_windows_it_names() -> None:
    path = REPO / "docs" / "examples" / "uci-targets.yaml"
    replay_windows = {"7d": 7 * 86400.0, "30d": 720 * 3600.0}  # --windows 7d=7d,30d=720h
    target_set, warnings = load_targets(path, windows=replay_windows, breakdowns=["all", "service"])
    assert warnings == []
    assert {t.window for t in target_set.targets} == {"7d", "30d"}
    assert {t.kpi for t in target_set.targets} == {
        "sla_compliance",
        "resolution_time",
        "reopen_rate",
    }
    # The live worker's windows are not the replay's: there the file is refused.
    with pytest.raises(TargetsError, match="window '7d' is not configured"):
        load_targets(path, windows=WINDOWS)


def test_the_example_file_loads_cleanly_with_the_default_settings() -> None:
    settings = load_settings()
    target_set, warnings = load_targets(
        EXAMPLE, windows=configured_windows(settings), breakdowns=settings.breakdowns
    )
    assert warnings == []
    assert target_set.version == "targets/v1" and target_set.source == str(EXAMPLE)
    by_id = {t.id: t for t in target_set.targets}
    assert list(by_id) == [
        "fcr-per-service",
        "sla-compliance",
        "resolution-time-p1",
        "resolution-time-p2",
        "csat-per-service",
        "nps",
        "reopen-rate",
        "escalation-rate",
    ]
    assert by_id["fcr-per-service"] == Target(
        id="fcr-per-service",
        kpi="fcr_rate",
        stat="value",
        window="24h",
        scope=ScopeMatch("service", service="*"),
        objective=Objective(">=", 0.70),
        min_sample=50,
        hold_seconds=7200.0,
        clear_margin=0.03,
        confidence=0.95,
        severities=(Severity("warning", 0.0), Severity("critical", 0.07)),
        line=by_id["fcr-per-service"].line,
    )
    p1 = by_id["resolution-time-p1"]
    assert (p1.kpi, p1.stat, p1.objective) == ("resolution_time", "p90", Objective("<=", 21600.0))
    assert p1.scope == ScopeMatch("service_priority", service="*", priority="P1")
    assert p1.severities == (Severity("warning", 0.0), Severity("critical", 7200.0))
    assert by_id["resolution-time-p2"].objective == Objective("<=", 28800.0)
    assert by_id["sla-compliance"].objective == Objective(">=", 0.90)
    assert by_id["sla-compliance"].scope == ScopeMatch("all")
    assert by_id["csat-per-service"].objective == Objective(">=", 0.80)
    assert by_id["nps"].objective == Objective(">=", 20.0)
    assert by_id["reopen-rate"].objective == Objective("<=", 0.08)
    assert by_id["escalation-rate"].objective == Objective("<=", 0.15)
    assert {t.hold_seconds for t in target_set.targets} >= {3600.0}  # the defaults' hold
    assert all(t.kpi != "backlog" for t in target_set.targets)

    nps_line = by_id["nps"].line
    assert nps_line is not None
    assert EXAMPLE.read_text().splitlines()[nps_line - 1].strip() == "- id: nps"

    fcr_drift, p50_drift = target_set.drift
    assert (fcr_drift.kpi, fcr_drift.window, fcr_drift.scope) == (
        "fcr_rate",
        "1h",
        ScopeMatch("service", service="*"),
    )
    assert (fcr_drift.smoothing, fcr_drift.width, fcr_drift.warmup) == (0.2, 3.0, 12)
    assert (fcr_drift.min_sample, fcr_drift.hold_windows) == (20, 2)
    assert (p50_drift.kpi, p50_drift.stat, p50_drift.window) == ("resolution_time", "p50", "24h")
    assert p50_drift.min_sample == 30  # from defaults


def test_the_example_file_says_why_backlog_is_not_targeted() -> None:
    text = EXAMPLE.read_text()
    assert "backlog" in text
    broken = text.replace("kpi: reopen_rate", "kpi: backlog")
    with pytest.raises(TargetsError, match=r"targets\[6\]\.kpi: backlog cannot be targeted"):
        parse_targets(broken, "example", windows=WINDOWS)


# --- errors: file, line, field -------------------------------------------------------------------


def test_version_must_be_targets_v1() -> None:
    assert only_error("version: targets/v2\ntargets: []\n") == (
        "t.yaml:1: version: 'targets/v2' is not a supported version; this pipeline reads "
        "'targets/v1'"
    )
    assert only_error("targets: []\n").startswith("t.yaml:1: version: missing;")


def test_unknown_keys_are_errors_with_a_suggestion() -> None:
    text = """
        version: targets/v1
        defaults:
          min_samples: 30
        targets:
          - kpi: fcr_rate
            window: 24h
            objectiv: ">= 0.7"
            objective: ">= 0.7"
            scope: {service: "*", servce: x}
        """
    assert errors(text) == [
        "t.yaml:3: defaults.min_samples: unknown key 'min_samples' (did you mean 'min_sample'?) "
        "(keys: min_sample, hold, confidence, clear_margin, severity)",
        "t.yaml:7: targets[0].objectiv: unknown key 'objectiv' (did you mean 'objective'?) "
        "(keys: id, kpi, stat, window, scope, objective, min_sample, hold, confidence, "
        "clear_margin, severity)",
        "t.yaml:9: targets[0].scope.servce: unknown dimension 'servce' (did you mean "
        "'service'?) (dimensions: service, team, channel, priority)",
    ]


def test_unknown_kpi_and_backlog() -> None:
    assert only_error(target('kpi: fcr\nwindow: 24h\nobjective: ">= 0.7"')) == (
        "t.yaml:3: targets[0].kpi: unknown KPI 'fcr' (did you mean 'fcr_rate'?)"
    )
    message = only_error(target('kpi: backlog\nwindow: 24h\nobjective: "<= 100"'))
    assert message.startswith("t.yaml:3: targets[0].kpi: backlog cannot be targeted")
    assert "not a value per window" in message and "kpi_backlog_tickets" in message


def test_stats_must_exist_for_the_kpi_and_time_kpis_need_one() -> None:
    text = target('kpi: resolution_time\nwindow: 24h\nobjective: "<= 8h"')
    assert only_error(text) == (
        "t.yaml:3: targets[0].stat: resolution_time needs a stat: one of mean, p50, p90"
    )
    text = target('kpi: resolution_time\nstat: p95\nwindow: 24h\nobjective: "<= 8h"')
    assert only_error(text) == (
        "t.yaml:4: targets[0].stat: resolution_time has no stat 'p95' (stats: mean, p50, p90)"
        " (did you mean 'p90'?)"
    )
    text = target('kpi: fcr_rate\nstat: p90\nwindow: 24h\nobjective: ">= 0.7"')
    assert only_error(text).startswith("t.yaml:4: targets[0].stat: fcr_rate has no stat 'p90'")


def test_windows_must_be_configured_when_given() -> None:
    text = target('kpi: fcr_rate\nwindow: 12h\nobjective: ">= 0.7"')
    assert only_error(text).startswith(
        "t.yaml:4: targets[0].window: window '12h' is not configured (windows: 1h, 24h)"
    )
    assert load(text, windows=None)[0][0].window == "12h"  # no configured set: any name


def test_scope_dimensions_and_combinations() -> None:
    base = 'kpi: fcr_rate\nwindow: 24h\nobjective: ">= 0.7"\n'
    assert only_error(target(base + "scope: {team: a}")) == (
        "t.yaml:6: targets[0].scope: no breakdown splits by team (scopes: all; {service}; "
        "{service, team}; {service, channel}; {service, priority})"
    )
    assert only_error(target(base + "scope: {service: a, team: b, channel: chat}")).startswith(
        "t.yaml:6: targets[0].scope: no breakdown splits by service, team, channel"
    )
    assert only_error(target(base + "scope: {service: a, priority: p1}")) == (
        "t.yaml:6: targets[0].scope.priority: 'p1' is not a priority (P1, P2, P3, P4, or '*' "
        "for each) (did you mean 'P1'?)"
    )
    assert only_error(target(base + "scope: everything")).startswith(
        "t.yaml:6: targets[0].scope: 'everything' is not a scope"
    )
    message = only_error(target(base + "scope: {service: a, team: b}"), breakdowns=["service"])
    assert message.startswith("t.yaml:6: targets[0].scope: breakdown service_team is not computed")


def test_objective_syntax_units_and_ranges() -> None:
    base = "kpi: fcr_rate\nwindow: 24h\n"
    assert only_error(target(base + 'objective: ">= 85%"')) == (
        "t.yaml:5: targets[0].objective: '>= 85%' is not an objective (expected '>= 0.85' or "
        "'<= 8h')"
    )
    assert only_error(target(base + 'objective: "> 0.7"')).endswith(
        "the operator must be '>=' or '<='"
    )
    assert only_error(target(base + "objective: 0.7")).startswith(
        "t.yaml:5: targets[0].objective: 0.7 is not an objective"
    )
    assert only_error(target(base + 'objective: "<= 8h"')) == (
        "t.yaml:5: targets[0].objective: '<= 8h' is a duration, but fcr_rate is a ratio (0..1)"
    )
    assert only_error(target(base + 'objective: ">= 150"')) == (
        "t.yaml:5: targets[0].objective: '>= 150' is outside the range of fcr_rate (0..1)"
    )
    nps = target('kpi: nps\nwindow: 24h\nobjective: ">= -120"')
    assert only_error(nps).endswith("'>= -120' is outside the range of nps (-100..100)")
    mapping = target(base + "objective:\n  op: '>'\n  value: 0.7")
    assert only_error(mapping).startswith("t.yaml:6: targets[0].objective.op: input should be")
    mapping = target(base + "objective: {op: '>=', value: 8h}")
    assert only_error(mapping).startswith("t.yaml:5: targets[0].objective.value: '>= 8h' is a")


def test_unquoted_objective_gets_a_hint() -> None:
    message = only_error(target("kpi: fcr_rate\nwindow: 24h\nobjective: >= 0.7"))
    assert message.startswith("t.yaml:5: (document): not valid YAML")
    assert "quote values that start with '>'" in message


def test_types_are_strict() -> None:
    text = target(
        'kpi: fcr_rate\nwindow: 24h\nobjective: ">= 0.7"\nmin_sample: true\nhold: soon\n'
        "scope: {service: 12}"
    )
    assert errors(text) == [
        "t.yaml:6: targets[0].min_sample: input should be a valid integer, got True",
        "t.yaml:7: targets[0].hold: 'soon' is not a number or a duration such as '10m'",
        "t.yaml:8: targets[0].scope.service: expected text, got 12 (quote it if it is meant as "
        "text)",
    ]


def test_duplicate_ids_and_duplicate_keys() -> None:
    text = """
        version: targets/v1
        targets:
          - id: fcr
            kpi: fcr_rate
            window: 24h
            objective: ">= 0.7"
          - id: fcr
            kpi: fcr_rate
            window: 1h
            objective: ">= 0.7"
            objective: ">= 0.6"
          - kpi: csat
            window: 24h
            objective: ">= 0.8"
          - kpi: csat
            window: 24h
            objective: ">= 0.9"
        """
    assert errors(text) == [
        "t.yaml:7: targets[1].id: duplicate id 'fcr' (first on line 3); ids name alert "
        "episodes and must be unique, so give one of them an id",
        "t.yaml:11: targets[1].objective: duplicate key (first on line 10)",
        "t.yaml:15: targets[3]: duplicate id 'csat@24h' (first on line 12); ids name alert "
        "episodes and must be unique, so give one of them an id",
    ]


def test_defaults_gaps_must_be_zero_or_relative() -> None:
    text = target(
        'kpi: fcr_rate\nwindow: 24h\nobjective: ">= 0.7"',
        extra="defaults:\n  severity: {warning: 0, critical: 0.1}\n",
    )
    assert only_error(text).startswith(
        "t.yaml:3: defaults.severity.critical: 0.1: in defaults a gap must be 0 or relative"
    )


def test_documents_that_are_not_targets_files() -> None:
    assert only_error("") == "t.yaml:1: (document): empty; start with 'version: targets/v1'"
    assert only_error("- a\n- b\n").startswith("t.yaml:1: (document): must be a mapping")
    assert only_error("version: targets/v1\ntargets: {}\n").startswith(
        "t.yaml:2: targets: input should be a valid list"
    )


def test_all_errors_are_reported_in_line_order() -> None:
    text = """
        version: targets/v1
        targets:
          - kpi: fcr_rat
            window: 24h
            objective: ">= 0.7"
          - kpi: resolution_time
            stat: p90
            window: 2h
            objective: "<= 8x"
            clear_margin: -1
        drift:
          - kpi: csat
            window: 24h
            smoothing: 2
            scope: {team: a}
        """
    places = [re.findall(r"^t\.yaml:(\d+): (\S+):", e)[0] for e in errors(text)]
    assert places == [
        ("3", "targets[0].kpi"),
        ("8", "targets[1].window"),
        ("9", "targets[1].objective"),
        ("10", "targets[1].clear_margin"),
        ("14", "drift[0].smoothing"),
        ("15", "drift[0].scope"),
    ]
    with pytest.raises(TargetsError, match=r"^6 errors in targets file:\n  t\.yaml:3: "):
        parse_targets(doc(text), SRC, windows=WINDOWS)


# --- warnings ------------------------------------------------------------------------------------


def test_ratio_written_as_a_percentage() -> None:
    text = target('kpi: fcr_rate\nwindow: 24h\nobjective: ">= 85"\nhold: 1h')
    assert warnings_of(text) == [
        "t.yaml:5: targets[0].objective: '>= 85': ratios are 0..1; did you mean 0.85?"
    ]


def test_nps_written_as_a_ratio() -> None:
    text = target('kpi: nps\nwindow: 24h\nobjective: ">= 0.3"\nhold: 1h')
    assert warnings_of(text) == [
        "t.yaml:5: targets[0].objective: '>= 0.3': NPS is -100..100; did you mean 30?"
    ]
    assert warnings_of(target('kpi: nps\nwindow: 24h\nobjective: ">= 0"\nhold: 1h')) == []


def test_seconds_without_a_unit_below_a_minute() -> None:
    base = "kpi: first_response_time\nstat: p50\nwindow: 24h\nhold: 1h\n"
    assert warnings_of(target(base + 'objective: "<= 30"')) == [
        "t.yaml:7: targets[0].objective: '<= 30' is 30 seconds; did you mean minutes "
        "('<= 30m')? Write a unit to be explicit"
    ]
    assert warnings_of(target(base + 'objective: "<= 30s"')) == []
    assert warnings_of(target(base + 'objective: "<= 600"')) == []


def test_hold_shorter_than_the_window_step() -> None:
    base = 'kpi: fcr_rate\nwindow: 24h\nobjective: ">= 0.7"\n'
    assert warnings_of(target(base + "hold: 10m")) == [
        "t.yaml:6: targets[0].hold: hold 10m is shorter than the step of window 24h (1h): "
        "windows close once per step, so it acts as a hold of 1h; write 1h, or 0 to fire on "
        "the first breached window"
    ]
    assert warnings_of(target(base)) == [  # the built-in 30m, on a window that closes hourly
        "t.yaml:3: targets[0].hold: hold 30m (default) is shorter than the step of window 24h "
        "(1h): windows close once per step, so it acts as a hold of 1h; write 1h, or 0 to fire "
        "on the first breached window"
    ]
    from_defaults = target(base, extra="defaults:\n  hold: 20m\n")
    assert [w.split(": ")[2][:30] for w in warnings_of(from_defaults)] == [
        "hold 20m (from defaults) is sh"
    ]
    assert warnings_of(target(base + "hold: 0")) == []
    assert warnings_of(target(base + "hold: 10m"), windows={"24h": 300.0}) == []  # 5m steps


def test_small_min_sample() -> None:
    text = target('kpi: fcr_rate\nwindow: 1h\nobjective: ">= 0.7"\nmin_sample: 5')
    assert warnings_of(text) == [
        "t.yaml:6: targets[0].min_sample: min_sample 5 is very small: a handful of tickets is "
        "enough to alert, so expect noise (30 or more is usual)"
    ]
    assert (
        warnings_of(target('kpi: fcr_rate\nwindow: 1h\nobjective: ">= 0.7"\nmin_sample: 10')) == []
    )


def test_clear_margin_that_could_never_be_reached() -> None:
    base = "window: 24h\nhold: 1h\n"
    high = target(base + 'kpi: fcr_rate\nobjective: ">= 0.8"\nclear_margin: 0.25')
    assert warnings_of(high) == [
        "t.yaml:7: targets[0].clear_margin: clear_margin 0.25 is more than the distance from "
        "the objective 0.8 to the top of fcr_rate's range (0.2): an alert could never clear"
    ]
    low = target(base + 'kpi: reopen_rate\nobjective: "<= 0.05"\nclear_margin: 0.06')
    assert warnings_of(low)[0].startswith(
        "t.yaml:7: targets[0].clear_margin: clear_margin 0.06 is more than the distance from "
        "the objective 0.05 to the bottom"
    )
    assert warnings_of(target(base + 'kpi: fcr_rate\nobjective: ">= 0.8"\nclear_margin: 0.2')) == []
    # Time KPIs have no top: a large margin on '>=' is fine; on '<=' the bottom is 0.
    time = "kpi: resolution_time\nstat: p90\n"
    assert warnings_of(target(base + time + 'objective: "<= 1h"\nclear_margin: 2h'))[0].startswith(
        "t.yaml:8: targets[0].clear_margin: clear_margin 7200 is more than the distance"
    )


def test_critical_severity_at_gap_zero() -> None:
    text = target(
        'kpi: fcr_rate\nwindow: 24h\nobjective: ">= 0.7"\nhold: 1h\nseverity: {critical: 0}'
    )
    assert warnings_of(text) == [
        "t.yaml:7: targets[0].severity.critical: critical starts at gap 0, so every breach is "
        "critical; give warning 0 and critical a larger gap"
    ]
    in_defaults = target(
        'kpi: fcr_rate\nwindow: 24h\nobjective: ">= 0.7"\nhold: 1h',
        extra="defaults:\n  severity: {critical: 0%}\n",
    )
    assert [w.split(": ")[1] for w in warnings_of(in_defaults)] == ["defaults.severity.critical"]


def test_other_likely_mistakes() -> None:
    wrong_way = target('kpi: reopen_rate\nwindow: 24h\nobjective: ">= 0.1"\nhold: 1h')
    assert warnings_of(wrong_way) == [
        "t.yaml:5: targets[0].objective: reopen_rate is better lower, so '>= 0.1' alerts when "
        "it is good; did you mean '<='?"
    ]
    confidence = target('kpi: nps\nwindow: 24h\nobjective: ">= 20"\nhold: 1h\nconfidence: 0.9')
    assert warnings_of(confidence) == [
        "t.yaml:7: targets[0].confidence: confidence only applies to rate KPIs (ratios); it is "
        "ignored for nps"
    ]
    assert warnings_of("version: targets/v1\n") == [
        "t.yaml:1: (document): no targets and no drift checks: nothing will ever alert"
    ]


# --- values --------------------------------------------------------------------------------------


def test_durations_are_seconds_in_the_model() -> None:
    (t,) = load(
        target(
            "kpi: resolution_time\nstat: p90\nwindow: 24h\nobjective: {op: '<=', value: 8h}\n"
            "hold: 90m\nclear_margin: 10m\nseverity: {warning: 0, critical: 2h, page: 1d}"
        )
    )[0]
    assert t.objective == Objective("<=", 28800.0)
    assert (t.hold_seconds, t.clear_margin) == (5400.0, 600.0)
    assert t.severities == (
        Severity("warning", 0.0),
        Severity("critical", 7200.0),
        Severity("page", 86400.0),
    )
    (t,) = load(target('kpi: first_response_time\nstat: mean\nwindow: 1h\nobjective: "<= 900"'))[0]
    assert (t.objective.value, t.hold_seconds) == (900.0, 1800.0)  # plain numbers are seconds


@pytest.mark.parametrize(
    ("scope", "expected"),
    [
        ("", ScopeMatch("all")),
        ("scope: all", ScopeMatch("all")),
        ("scope: {}", ScopeMatch("all")),
        ('scope: {service: "*"}', ScopeMatch("service", service="*")),
        ("scope: {service: network}", ScopeMatch("service", service="network")),
        ("scope: {team: l2, service: x}", ScopeMatch("service_team", service="x", team="l2")),
        (
            'scope: {service: "*", channel: chat}',
            ScopeMatch("service_channel", "*", channel="chat"),
        ),
        ('scope: {service: x, priority: "*"}', ScopeMatch("service_priority", "x", priority="*")),
    ],
)
def test_the_breakdown_follows_from_the_dimensions(scope: str, expected: ScopeMatch) -> None:
    (t,) = load(target(f'kpi: fcr_rate\nwindow: 1h\nobjective: ">= 0.7"\n{scope}'))[0]
    assert t.scope == expected


def test_derived_ids() -> None:
    found, _ = load(
        """
        version: targets/v1
        targets:
          - {kpi: fcr_rate, window: 1h, objective: ">= 0.7"}
          - {kpi: resolution_time, stat: p90, window: 1h, objective: "<= 8h",
             scope: {service: "*", priority: P1}}
        drift:
          - {kpi: csat, window: 1h, scope: {service: web}}
        """
    )
    assert [t.id for t in found] == ["fcr_rate@1h", "resolution_time:p90@1h[service=*,priority=P1]"]
    target_set, _ = parse_targets(
        doc("version: targets/v1\ndrift:\n  - {kpi: csat, window: 1h, scope: {service: web}}"),
        SRC,
    )
    assert [d.id for d in target_set.drift] == ["drift:csat@1h[service=web]"]


def test_defaults_apply_and_targets_override_them() -> None:
    text = """
        version: targets/v1
        defaults:
          min_sample: 40
          hold: 2h
          confidence: 0.9
          clear_margin: 5%
          severity: {warning: 0, critical: 10%, page: 50%}
        targets:
          - {kpi: fcr_rate, window: 24h, objective: ">= 0.8"}
          - kpi: sla_compliance
            window: 24h
            objective: ">= 0.9"
            min_sample: 100
            hold: 0
            confidence: 0.99
            clear_margin: 0.01
            severity: {critical: 0.05, page: null}
        drift:
          - {kpi: fcr_rate, window: 1h}
          - {kpi: fcr_rate, window: 24h, min_sample: 12}
        """
    target_set, warnings = parse_targets(doc(text), SRC, windows=WINDOWS)
    assert warnings == []
    inherited, own = target_set.targets
    assert (inherited.min_sample, inherited.hold_seconds, inherited.confidence) == (40, 7200, 0.9)
    assert inherited.clear_margin == pytest.approx(0.04)
    assert inherited.severities == (
        Severity("warning", 0.0),
        Severity("critical", 0.08),
        Severity("page", 0.4),
    )
    assert (own.min_sample, own.hold_seconds, own.confidence, own.clear_margin) == (
        100,
        0.0,
        0.99,
        0.01,
    )
    assert own.severities == (Severity("warning", 0.0), Severity("critical", 0.05))
    assert [d.min_sample for d in target_set.drift] == [40, 12]


def test_without_defaults_the_model_defaults_hold() -> None:
    (t,) = load(target('kpi: fcr_rate\nwindow: 1h\nobjective: ">= 0.7"'))[0]
    assert (t.min_sample, t.hold_seconds, t.confidence, t.clear_margin) == (30, 1800.0, 0.95, 0.0)
    assert t.severities == (Severity("warning", 0.0),)
    assert t.line == 3


def test_severities_sorted_and_unambiguous() -> None:
    base = 'kpi: fcr_rate\nwindow: 1h\nobjective: ">= 0.7"\n'
    (t,) = load(target(base + "severity: {critical: 0.2, warning: 0, major: 0.1}"))[0]
    assert [s.name for s in t.severities] == ["warning", "major", "critical"]
    assert only_error(target(base + "severity: {warning: 0, minor: 0}")).startswith(
        "t.yaml:6: targets[0].severity: severities warning and minor both start at gap 0"
    )
    assert only_error(target(base + "severity: {Critical: 0.1}")).startswith(
        "t.yaml:6: targets[0].severity.Critical: 'Critical' is not a severity name"
    )


def test_anchors_and_merge_keys_keep_their_lines() -> None:
    text = """
        version: targets/v1
        x-daily: &daily
          window: 24h
          hold: 2h
        targets:
          - <<: *daily
            kpi: fcr_rate
            objective: ">= 0.7"
          - <<: *daily
            kpi: csat
            window: 1h
            objective: ">= 0.8"
            hol: 1h
        """
    assert errors(text) == [
        "t.yaml:13: targets[1].hol: unknown key 'hol' (did you mean 'hold'?) (keys: id, kpi, "
        "stat, window, scope, objective, min_sample, hold, confidence, clear_margin, severity)"
    ]
    found, warnings = load(text.replace("    hol: 1h\n", ""))
    assert warnings == []
    assert [(t.window, t.hold_seconds) for t in found] == [("24h", 7200.0), ("1h", 7200.0)]


# --- files, schema, command line ------------------------------------------------------------------


def test_bom_and_crlf_files_load_like_plain_ones(tmp_path: Path) -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    path = tmp_path / "targets.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode("utf-8"))
    plain, _ = load_targets(EXAMPLE, windows=WINDOWS)
    crlf, warnings = load_targets(path, windows=WINDOWS)
    assert warnings == [] and crlf.targets == plain.targets and crlf.drift == plain.drift
    broken = tmp_path / "broken.yaml"
    broken.write_bytes(b"\xef\xbb\xbfversion: targets/v1\r\ntargets:\r\n  - kpi: nope\r\n")
    with pytest.raises(TargetsError) as caught:
        load_targets(broken)
    assert f"{broken}:3: targets[0].kpi: unknown KPI 'nope'" in str(caught.value)


def test_json_schema_describes_the_document() -> None:
    schema = targets_json_schema()
    json.dumps(schema)  # serialisable as a file
    assert schema["properties"]["version"]["const"] == "targets/v1"
    assert schema["additionalProperties"] is False
    target_schema = schema["$defs"]["TargetSpec"]
    assert set(target_schema["required"]) == {"kpi", "window", "objective"}
    assert "fcr_rate" in target_schema["properties"]["kpi"]["enum"]
    text_form = target_schema["properties"]["objective"]["oneOf"][0]
    assert re.match(text_form["pattern"], ">= 0.70") and re.match(text_form["pattern"], "<= 8h")
    assert not re.match(text_form["pattern"], ">= 85%")


def test_cli_check_accepts_the_example() -> None:
    result = CliRunner().invoke(targets_cli, ["check", str(EXAMPLE)])
    assert result.exit_code == 0, result.output
    assert "fcr-per-service" in result.stdout and "fcr-drift-per-service" in result.stdout
    assert "8 targets, 2 drift checks, 1 forecasts, 2 error budgets" in result.stdout
    assert ", 0 warnings" in result.stdout
    assert result.stderr == ""


def test_cli_check_fails_on_a_broken_file(tmp_path: Path) -> None:
    path = tmp_path / "targets.yaml"
    path.write_text(target('kpi: backlog\nwindow: 24h\nobjective: "<= 100"\nfoo: 1'))
    result = CliRunner().invoke(targets_cli, ["check", str(path)])
    assert result.exit_code == 1
    assert f"{path}:3: targets[0].kpi: backlog cannot be targeted" in result.stderr
    assert f"{path}:6: targets[0].foo: unknown key 'foo'" in result.stderr
    assert "2 errors" in result.stderr


def test_cli_check_windows_and_strict(tmp_path: Path) -> None:
    result = CliRunner().invoke(targets_cli, ["check", str(EXAMPLE), "--windows", "24h"])
    assert result.exit_code == 1
    assert "drift[0].window: window '1h' is not configured (windows: 24h)" in result.stderr
    path = tmp_path / "targets.yaml"
    path.write_text(target('kpi: fcr_rate\nwindow: 1h\nobjective: ">= 85"'))
    lenient = CliRunner().invoke(targets_cli, ["check", str(path)])
    assert lenient.exit_code == 0 and "did you mean 0.85?" in lenient.stderr
    strict = CliRunner().invoke(targets_cli, ["check", str(path), "--strict"])
    assert strict.exit_code == 1


def test_cli_help_shows_an_example() -> None:
    result = CliRunner().invoke(targets_cli, ["check", "--help"])
    assert result.exit_code == 0
    assert "version: targets/v1" in result.output and 'objective: ">= 0.70"' in result.output
