"""Evaluating a register on a replay report's kpis.csv gives the evaluation of the windows the
report was written from (``improvements evaluate``)."""

from __future__ import annotations

import textwrap
from collections import Counter
from pathlib import Path

from click.testing import CliRunner

from pipeline.core.kpis import catalogue
from pipeline.improvements import evaluate_register, parse_register
from pipeline.improvements.cli import improvements as improvements_cli
from pipeline.improvements.rows import read_tidy_rows
from pipeline.replay.report import ReportWriter
from pipeline.replay.summary import ReplayFacts
from tests.improvement_sim import Desk, simulate_desk

DESK = Desk(fcr=0.10)
REGISTER = textwrap.dedent(
    f"""
    version: improvements/v1
    improvements:
      - id: kb
        title: Knowledge base
        owner: desk
        scope: {{service: network}}
        implemented: {DESK.implemented.isoformat()}
        before: 14d
        settling: 3d
        expect:
          - {{kpi: fcr_rate, direction: higher}}
          - {{kpi: first_response_time, stat: p90, direction: lower}}
    """
).lstrip("\n")


def test_the_tidy_rows_give_the_same_evaluation(tmp_path: Path) -> None:
    rows = simulate_desk(DESK, seed=5)
    writer = ReportWriter(tmp_path, catalogue(), None, "24h")
    writer.add(rows)
    facts = ReplayFacts(0.0, 1.0, 0, Counter(), Counter(), len(writer.windows), 0, 1.0, None)
    writer.close(facts)
    register, _ = parse_register(REGISTER, now=2e9)
    from_csv = evaluate_register(register, read_tidy_rows(tmp_path / "kpis.csv"))
    assert from_csv == evaluate_register(register, rows)
    assert from_csv[0].kpis[0].verdict.value == "improved"

    path = tmp_path / "improvements.yaml"
    path.write_text(REGISTER)
    result = CliRunner().invoke(
        improvements_cli, ["evaluate", str(path), "--kpis", str(tmp_path / "kpis.csv")]
    )
    assert result.exit_code == 0, result.output
    assert "kb (service=network, implemented" in result.output
    assert "fcr_rate" in result.output and "improved" in result.output
