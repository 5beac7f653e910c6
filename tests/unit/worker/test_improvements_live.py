"""The worker's improvements register: windows kept as they close, the same evaluation as
over the whole list (replay), the running evaluation on /metrics, reloads that keep the
windows, and a broken edit that changes nothing."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from pipeline.config import load_settings
from pipeline.engine.frames import frame_results
from pipeline.improvements import ImprovementsError, evaluate
from pipeline.metrics.improvements import ImprovementCollector
from pipeline.worker.improvements import ImprovementsFile
from tests.improvement_sim import Desk, simulate_frames

DESK = Desk(fcr=0.10)
TEMPLATE = f"""version: improvements/v1
improvements:
  - id: kb
    title: Knowledge base
    owner: desk
    scope: {{service: network}}
    implemented: {DESK.implemented.isoformat()}
    before: 14d
    settling: 3d
    expect:
      - kpi: KPI
        direction: higher
    guards: [{{kpi: csat}}]
"""


def write(path: Path, kpi: str, mtime: float) -> None:
    path.write_text(TEMPLATE.replace("KPI", kpi))
    os.utime(path, (mtime, mtime))


@pytest.fixture(scope="module")
def frames() -> list:  # type: ignore[type-arg]
    return simulate_frames(DESK, seed=11)


def test_live_evaluation_equals_the_evaluation_of_the_whole_list(
    tmp_path: Path,
    frames: list,  # type: ignore[type-arg]
) -> None:
    path = tmp_path / "improvements.yaml"
    write(path, "fcr_rate", 1_000_000)
    live = ImprovementsFile(load_settings(improvements_file=path))
    for frame in frames:  # as windows close, one at a time
        live.add([frame])
    evaluations = live.evaluations()
    assert evaluations is not None
    assert live.keeper is not None
    (got,) = evaluations
    expected = evaluate(live.keeper.register.improvements[0], list(frame_results(frames)))
    assert got == expected
    assert got.kpis[0].verdict.value == "improved"

    registry = CollectorRegistry()
    registry.register(ImprovementCollector(live.evaluations))
    labels = {"improvement": "kb", "kpi": "fcr_rate", "stat": "value", "role": "expected"}
    labels["kpi_class"] = "process"
    scope = {"window": "24h", "breakdown": "service", "service": "network", "team": ""}
    labels.update(scope, channel="", priority="")
    c = expected.kpis[0].comparison
    assert c is not None
    assert registry.get_sample_value("kpi_improvement_effect", labels) == c.effect
    assert registry.get_sample_value("kpi_improvement_effect_lower", labels) == c.low
    assert registry.get_sample_value("kpi_improvement_effect_upper", labels) == c.high
    verdicts = {
        v: registry.get_sample_value("kpi_improvement_kpi_verdict", {**labels, "verdict": v})
        for v in ("improved", "worse", "no_evidence", "too_little_data")
    }
    assert verdicts == {"improved": 1.0, "worse": 0.0, "no_evidence": 0.0, "too_little_data": 0.0}
    overall = expected.overall.value
    assert (
        registry.get_sample_value(
            "kpi_improvement_verdict", {"improvement": "kb", "verdict": overall}
        )
        == 1.0
    )
    assert (
        registry.get_sample_value("kpi_improvement_after_seconds", {"improvement": "kb"})
        == 14 * 86400
    )
    assert registry.get_sample_value(
        "kpi_improvement_implemented_timestamp_seconds",
        {"improvement": "kb", **scope, "channel": "", "priority": ""},
    ) == DESK.implemented.timestamp()  # fmt: skip
    promtool = shutil.which("promtool")
    if promtool:
        checked = subprocess.run(
            [promtool, "check", "metrics"], input=generate_latest(registry), capture_output=True
        )
        assert checked.returncode == 0, checked.stdout + checked.stderr


def test_while_the_after_period_runs(tmp_path: Path, frames: list) -> None:  # type: ignore[type-arg]
    path = tmp_path / "improvements.yaml"
    write(path, "fcr_rate", 1_000_000)
    live = ImprovementsFile(load_settings(improvements_file=path))
    cut = DESK.implemented.timestamp() + (DESK.settling_days + 5) * 86400
    live.add(f for f in frames if f.end <= cut)
    (e,) = live.evaluations() or []
    assert e.kpis[0].verdict.value == "too_little_data"
    assert e.kpis[0].after_windows == 5 and e.after_days == 5


def test_reload_keeps_windows_and_a_broken_edit_changes_nothing(
    tmp_path: Path,
    frames: list,  # type: ignore[type-arg]
) -> None:
    path = tmp_path / "improvements.yaml"
    write(path, "fcr_rate", 1_000_000)
    live = ImprovementsFile(load_settings(improvements_file=path))
    live.add(frames)
    assert not live.reload_if_changed()  # unchanged

    write(path, "sla_compliance", 1_000_100)
    assert live.reload_if_changed()
    (e,) = live.evaluations() or []
    # The new KPI was not kept before the edit; the guard's windows were, and still count.
    assert e.kpis[0].check.kpi == "sla_compliance" and e.kpis[0].before_n == 0
    assert e.kpis[1].check.kpi == "csat" and e.kpis[1].before_n > 0

    write(path, "fcr", 1_000_200)
    assert not live.reload_if_changed()
    (again,) = live.evaluations() or []
    assert again.kpis[0].check.kpi == "sla_compliance"
    assert not live.reload_if_changed()  # the broken version is not retried every tick


def test_an_invalid_register_stops_the_start(tmp_path: Path) -> None:
    path = tmp_path / "improvements.yaml"
    write(path, "fcr", 1_000_000)
    with pytest.raises(ImprovementsError, match="unknown KPI 'fcr'"):
        ImprovementsFile(load_settings(improvements_file=path))


def test_without_a_register_nothing_is_exported() -> None:
    live = ImprovementsFile(load_settings())
    registry = CollectorRegistry()
    registry.register(ImprovementCollector(live.evaluations))
    assert b"kpi_improvement" not in generate_latest(registry)
