from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from pipeline.config import SettingsError, load_settings
from pipeline.worker.context import core_context


def test_defaults_match_the_spec() -> None:
    ctx = core_context(load_settings())
    assert [(w.name, w.size, w.step) for w in ctx.windows] == [
        ("1h", 3600, 300),
        ("24h", 86400, 3600),
    ]
    assert ctx.allowed_lateness == 600 and ctx.tick == 300
    assert ctx.kpi_config.sla_seconds == {"P1": 14400, "P2": 28800, "P3": 86400, "P4": 259200}
    assert load_settings().web.bind == "127.0.0.1" and not load_settings().web.tables_enabled


def test_file_then_env_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "settings.yaml"
    path.write_text(
        "time:\n  allowed_lateness: 15m\n  windows:\n    - {name: 4h, size: 4h, step: 30m}\n"
        "kpi:\n  sla: {P1: 1h}\nbreakdowns: [all, service_team]\n"
    )
    monkeypatch.setenv("KPI_KAFKA__BOOTSTRAP_SERVERS", "broker:9093")
    settings = load_settings(path)
    ctx = core_context(settings)
    assert settings.kafka.bootstrap_servers == "broker:9093"
    assert ctx.allowed_lateness == 900 and ctx.grid.pane == 1800
    assert ctx.kpi_config.sla_seconds == {"P1": 3600}
    assert ctx.breakdowns == ("all", "service_team")


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("kpi:\n  sla: {P7: 1h}\n", "unknown priority"),
        ("kpi:\n  channel_hourly_rates: {phone: -3}\n", ">= 0"),
        ("kpi:\n  channel_hourly_rates: {phnoe: 40}\n", "did you mean 'phone'"),
        ("time:\n  windows:\n    - {name: x, size: 1h, step: 7m}\n", "multiple of step"),
        ("time:\n  allowed_lateness: soon\n", "not a duration"),
        ("colour: blue\n", "colour"),
    ],
)
def test_bad_settings_say_what_is_wrong(tmp_path: Path, yaml_text: str, message: str) -> None:
    path = tmp_path / "settings.yaml"
    path.write_text(yaml_text)
    with pytest.raises((ValidationError, ValueError), match=message):
        core_context(load_settings(path))


def test_secrets_are_not_printed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KPI_KAFKA__SASL_PASSWORD", "hunter2")
    settings = load_settings()
    assert "hunter2" not in repr(settings) and "hunter2" not in str(settings.model_dump())


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("KPI_TIME__IDLE_TIMOUT", "did you mean KPI_TIME__IDLE_TIMEOUT"),
        ("KPI_KAFKA__BOOTSTRAP_SERVER", "did you mean KPI_KAFKA__BOOTSTRAP_SERVERS"),
        ("KPI_TOPICS__TICKET", "did you mean KPI_TOPICS__TICKETS"),
        ("KPI_TARGET_FILE", "did you mean KPI_TARGETS_FILE"),
        ("KPI_TIMES__IDLE_TIMEOUT", "did you mean KPI_TIME"),
        ("kpi_web__prot", "did you mean KPI_WEB__PORT"),
        ("KPI_TIME__WINDOWS__NAME", "takes the whole list"),
    ],
)
def test_unknown_env_keys_are_refused_with_the_nearest_valid_one(
    monkeypatch: pytest.MonkeyPatch, name: str, message: str
) -> None:
    monkeypatch.setenv(name, "30s")
    with pytest.raises(SettingsError, match=message) as caught:
        load_settings()
    assert name in str(caught.value)


def test_known_env_keys_and_auxiliary_vars_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KPI_TIME__IDLE_TIMEOUT", "30s")
    monkeypatch.setenv("KPI_KPI__SLA", '{"P1": "2h"}')
    monkeypatch.setenv("KPI_KAFKA_LIBS", "/opt/kafka/libs")
    settings = load_settings()
    assert settings.time.idle_timeout == "30s" and settings.kpi.sla == {"P1": "2h"}


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("time:\n  idle_timout: 30s\n", "'time.idle_timout': did you mean 'idle_timeout'"),
        ("kafka:\n  bootstrap_server: x:1\n", "did you mean 'bootstrap_servers'"),
        ("time:\n  windows:\n    - {name: a, size: 1h, stepp: 5m}\n", "windows\\[0\\].stepp"),
        ("topcs: {}\n", "'topcs': did you mean 'topics'"),
        ("web:\n  port: 1\n  bnd: 0.0.0.0\n", "'web.bnd': did you mean 'bind'"),
    ],
)
def test_unknown_file_keys_are_refused_at_every_level(
    tmp_path: Path, yaml_text: str, message: str
) -> None:
    path = tmp_path / "settings.yaml"
    path.write_text(yaml_text)
    with pytest.raises(SettingsError, match=message) as caught:
        load_settings(path)
    assert str(path) in str(caught.value)


def test_env_changes_one_key_of_a_file_section(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "settings.yaml"
    path.write_text("time:\n  allowed_lateness: 15m\n")
    monkeypatch.setenv("KPI_TIME__IDLE_TIMEOUT", "5s")
    settings = load_settings(path)
    assert (settings.time.allowed_lateness, settings.time.idle_timeout) == ("15m", "5s")


def test_the_cli_names_the_mistyped_key(monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from pipeline.cli import main

    monkeypatch.setenv("KPI_TIME__IDLE_TIMOUT", "30s")
    result = CliRunner().invoke(main, ["targets", "check", "deploy/targets.yaml"])
    assert result.exit_code == 1
    assert "KPI_TIME__IDLE_TIMOUT" in result.output and "IDLE_TIMEOUT?" in result.output
