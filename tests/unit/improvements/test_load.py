"""The improvements register: the shipped example, each error kind with its line and field,
default guards, and the ``improvements check`` command.

Inline documents are dedented; line 1 is the first line after the opening quotes.
"""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from pipeline.core.scopes import Scope
from pipeline.improvements import (
    DEFAULT_GUARDS,
    Direction,
    ImprovementsError,
    Role,
    load_register,
    parse_register,
)
from pipeline.improvements.cli import improvements as improvements_cli

REPO = Path(__file__).resolve().parents[3]
EXAMPLE = REPO / "deploy" / "improvements.yaml"
SRC = "i.yaml"
NOW = datetime(2026, 6, 1, tzinfo=UTC).timestamp()
WINDOWS = {"1h", "24h"}


def doc(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


def errors(text: str, **kwargs: Any) -> list[str]:
    kwargs.setdefault("now", NOW)
    kwargs.setdefault("windows", WINDOWS)
    with pytest.raises(ImprovementsError) as caught:
        parse_register(doc(text), SRC, **kwargs)
    return [str(issue) for issue in caught.value.issues]


def only_error(text: str, **kwargs: Any) -> str:
    found = errors(text, **kwargs)
    assert len(found) == 1, found
    return found[0]


ONE = """
version: improvements/v1
improvements:
  - id: kb
    title: Knowledge base
    owner: desk
    scope: {service: network}
    implemented: 2026-03-02T09:00:00Z
    expect:
      - kpi: fcr_rate
        direction: higher
"""


def test_the_shipped_example_loads() -> None:
    register, warnings = load_register(EXAMPLE, now=NOW, windows=WINDOWS)
    assert warnings == []
    first, second = register.improvements
    assert first.scope == Scope("service", service="network")
    assert first.settling_seconds == 7 * 86400
    assert first.after == (first.implemented + 7 * 86400, first.implemented + 35 * 86400)
    assert [(c.label, c.direction) for c in first.expected] == [
        ("fcr_rate", Direction.HIGHER),
        ("resolution_time:p50", Direction.LOWER),
    ]
    assert first.expected[0].min_effect == 0.03
    assert second.scope == Scope("service_channel", service="email", channel="chat")
    assert [c.label for c in second.guards] == ["csat", "reopen_rate"]


def test_a_minimal_improvement_gets_the_defaults() -> None:
    register, _ = parse_register(doc(ONE), SRC, now=NOW)
    (only,) = register.improvements
    assert only.line == 3
    assert only.before_seconds == only.after_seconds == 28 * 86400
    assert only.window == "24h" and only.confidence == 0.95
    assert only.implemented == datetime(2026, 3, 2, 9, tzinfo=UTC).timestamp()


def test_guards_default_to_the_other_class_of_kpi() -> None:
    register, _ = parse_register(doc(ONE), SRC, now=NOW)
    guards = register.improvements[0].guards
    assert [(g.kpi, g.stat) for g in guards] == list(DEFAULT_GUARDS["service"])
    assert all(g.role is Role.GUARD and g.kpi_class == "service" for g in guards)
    service_first = ONE.replace("fcr_rate", "csat")
    register, _ = parse_register(doc(service_first), SRC, now=NOW)
    assert {g.kpi_class for g in register.improvements[0].guards} == {"process"}
    assert ("fcr_rate", "value") in [(g.kpi, g.stat) for g in register.improvements[0].guards]


def test_unknown_kpi_names_its_line() -> None:
    message = only_error(ONE.replace("kpi: fcr_rate", "kpi: fcr"))
    assert message.startswith("i.yaml:9: improvements[0].expect[0].kpi: unknown KPI 'fcr'")
    assert "did you mean 'fcr_rate'" in message


def test_implemented_in_the_future_is_an_error() -> None:
    message = only_error(ONE, now=datetime(2026, 3, 1, tzinfo=UTC).timestamp())
    assert message.startswith("i.yaml:7: improvements[0].implemented: 2026-03-02T09:00:00Z")
    assert "is in the future" in message


def test_a_guard_equal_to_an_expected_kpi_is_an_error() -> None:
    text = ONE + "    guards:\n      - kpi: csat\n      - kpi: fcr_rate\n"
    message = only_error(text)
    assert message.startswith("i.yaml:13: improvements[0].guards[1]: fcr_rate is already an")
    assert "(line 9)" in message


def test_overlapping_periods_on_the_same_scope_and_kpi() -> None:
    second = """
  - id: scripts
    title: Call scripts
    owner: desk
    scope: {service: network}
    implemented: 2026-03-20T00:00:00Z
    expect:
      - kpi: fcr_rate
        direction: higher
"""
    message = only_error(ONE + second.lstrip("\n"))
    assert message.startswith("i.yaml:15: improvements[1].implemented: periods overlap with 'kb'")
    assert "(line 3)" in message and "fcr_rate" in message
    # Another scope, another KPI, or far enough apart: no overlap.
    for change in (
        ("{service: network}", "{service: email}"),
        (
            "      - kpi: fcr_rate\n        direction: higher\n",
            "      - kpi: csat\n        direction: higher\n",
        ),
        ("2026-03-20T00:00:00Z", "2026-05-01T00:00:00Z"),
    ):
        text = ONE + second.lstrip("\n").replace(*change)
        register, _ = parse_register(doc(text), SRC, now=NOW)
        assert len(register.improvements) == 2


def test_shape_errors_name_line_and_field() -> None:
    found = errors(
        """
        version: improvements/v1
        improvements:
          - id: kb
            title: Knowledge base
            owner: desk
            scope: {service: network, team: "*"}
            implemented: 2026-03-02T09:00
            settling: 7
            expect:
              - kpi: resolution_time
                direction: faster
              - kpi: nps
                direction: higher
                min_effect: 5m
            guards:
              - kpi: tickets_created
            color: red
        """
    )
    assert any(
        e.startswith("i.yaml:7: improvements[0].implemented:") and "no UTC offset" in e
        for e in found
    ), found
    assert any(
        e.startswith("i.yaml:8: improvements[0].settling:") and "no unit" in e for e in found
    ), found
    assert any(e.startswith("i.yaml:11: improvements[0].expect[0].direction:") for e in found), (
        found
    )
    assert any(
        e.startswith("i.yaml:17: improvements[0].color: unknown key 'color'") for e in found
    ), found


def test_catalogue_errors_of_a_well_formed_item() -> None:
    found = errors(
        """
        version: improvements/v1
        improvements:
          - id: kb
            title: Knowledge base
            owner: desk
            scope: {service: network, channel: fax}
            implemented: 2026-03-02T09:00:00Z
            window: 7d
            expect:
              - kpi: resolution_time
                direction: lower
              - kpi: nps
                direction: higher
                min_effect: 5m
            guards:
              - kpi: tickets_created
              - kpi: backlog
        """
    )
    assert found == [
        "i.yaml:6: improvements[0].scope.channel: 'fax' is not a channel (phone, email, chat, "
        "web, self_service, social)",
        "i.yaml:8: improvements[0].window: window '7d' is not configured (windows: 1h, 24h)",
        "i.yaml:10: improvements[0].expect[0].stat: resolution_time needs a stat: one of mean, "
        "p50, p90",
        "i.yaml:14: improvements[0].expect[1].min_effect: '5m' is a duration, but nps is in score",
        "i.yaml:16: improvements[0].guards[0].kpi: tickets_created has no better direction, so "
        "it cannot get worse; it cannot be a guard",
        "i.yaml:17: improvements[0].guards[1].kpi: backlog is a level at the watermark, not a "
        "value per window, so it has no before/after windows to compare",
    ]


def test_wrong_version_and_duplicate_ids() -> None:
    assert only_error("version: targets/v1\n").startswith(
        "i.yaml:1: version: 'targets/v1' is not a supported version"
    )
    text = ONE + ONE.split("improvements:\n", 1)[1].replace("2026-03-02", "2026-05-20")
    assert only_error(text).startswith(
        "i.yaml:11: improvements[1].id: duplicate id 'kb' (first on line 3)"
    )


def test_a_direction_against_the_kpi_is_a_warning() -> None:
    _, warnings = parse_register(doc(ONE.replace("higher", "lower")), SRC, now=NOW)
    assert [str(w) for w in warnings] == [
        "i.yaml:10: improvements[0].expect[0].direction: fcr_rate is better higher; expecting "
        "it lower expects it to get worse"
    ]


def test_check_command(tmp_path: Path) -> None:
    runner = CliRunner()
    ok = runner.invoke(improvements_cli, ["check", str(EXAMPLE)])
    assert ok.exit_code == 0, ok.output
    assert "network-kb-articles" in ok.output and "ok, 2 improvements" in ok.output
    bad = tmp_path / "bad.yaml"
    bad.write_text(doc(ONE.replace("kpi: fcr_rate", "kpi: fcr")))
    failed = runner.invoke(improvements_cli, ["check", str(bad)])
    assert failed.exit_code == 1
    assert f"error: {bad}:9: improvements[0].expect[0].kpi: unknown KPI 'fcr'" in failed.output
