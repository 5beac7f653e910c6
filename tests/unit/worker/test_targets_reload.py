"""Changing the targets file takes effect without a restart; a broken edit does not."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from pipeline.config import load_settings
from pipeline.targets import TargetsError
from pipeline.worker.targets import TargetsFile

TEMPLATE = """version: targets/v1
targets:
  - id: fcr
    kpi: fcr_rate
    window: 24h
    scope: {{service: "*"}}
    objective: ">= {objective}"
"""


def write(path: Path, text: str, mtime: float) -> None:
    path.write_text(text)
    os.utime(path, (mtime, mtime))


def test_reload_on_change_keeps_running_targets_on_a_broken_edit(tmp_path: Path) -> None:
    path = tmp_path / "targets.yaml"
    write(path, TEMPLATE.format(objective=0.7), 1_000_000)
    targets = TargetsFile(load_settings(targets_file=path))
    assert targets.current is not None and targets.current.targets[0].objective.value == 0.7
    assert targets.reload_if_changed() is None  # unchanged

    write(path, TEMPLATE.format(objective=0.8), 1_000_100)
    reloaded = targets.reload_if_changed()
    assert reloaded is not None and reloaded.targets[0].objective.value == 0.8

    write(path, TEMPLATE.format(objective="lots"), 1_000_200)
    assert targets.reload_if_changed() is None
    assert targets.current is not None and targets.current.targets[0].objective.value == 0.8
    assert targets.reload_if_changed() is None  # the broken version is not retried every tick


def test_sighup_forces_a_reload(tmp_path: Path) -> None:
    path = tmp_path / "targets.yaml"
    write(path, TEMPLATE.format(objective=0.7), 1_000_000)
    previous = signal.getsignal(signal.SIGHUP)
    try:
        targets = TargetsFile(load_settings(targets_file=path))
        os.kill(os.getpid(), signal.SIGHUP)
        assert targets.reload_if_changed() is not None
        assert targets.reload_if_changed() is None
    finally:
        signal.signal(signal.SIGHUP, previous)


def test_an_invalid_file_stops_the_start(tmp_path: Path) -> None:
    path = tmp_path / "targets.yaml"
    path.write_text(TEMPLATE.format(objective=0.7).replace("fcr_rate", "fcr_ratio"))
    with pytest.raises(TargetsError, match=r"targets.yaml:4: targets\[0\].kpi: unknown KPI"):
        TargetsFile(load_settings(targets_file=path))
