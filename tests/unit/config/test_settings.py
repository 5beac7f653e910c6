from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from pipeline.config import load_settings
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
