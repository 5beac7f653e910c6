"""The improvements section of a replay report, from a simulated desk's closed windows: the
verdicts in improvements.csv and summary.md are the evaluation's, and the plot is drawn."""

from __future__ import annotations

import csv
import textwrap
from collections import Counter
from pathlib import Path
from xml.etree import ElementTree

from pipeline.core.kpis import catalogue
from pipeline.improvements import OVERALL_TEXT, evaluate, parse_register
from pipeline.replay.improvements import IMPROVEMENT_COLUMNS
from pipeline.replay.report import ReportWriter
from pipeline.replay.summary import ReplayFacts
from tests.improvement_sim import START, Desk, simulate_desk


def test_report_section_per_improvement(tmp_path: Path) -> None:
    desk = Desk(fcr=0.10)
    text = textwrap.dedent(
        f"""
        version: improvements/v1
        improvements:
          - id: kb
            title: Knowledge base
            owner: desk
            scope: {{service: network}}
            implemented: {desk.implemented.isoformat()}
            before: 14d
            expect:
              - {{kpi: fcr_rate, direction: higher}}
              - {{kpi: resolution_time, stat: p50, direction: lower}}
            guards: [{{kpi: csat}}]
          - id: later
            title: Not evaluated yet
            owner: desk
            scope: all
            implemented: {(desk.implemented.replace(day=desk.implemented.day + 7)).isoformat()}
            before: 14d
            expect:
              - {{kpi: csat, direction: higher}}
        """
    ).lstrip("\n")
    register, _ = parse_register(text, "imp.yaml", now=desk.implemented.timestamp() + 1e8)
    rows = simulate_desk(desk, seed=7)
    writer = ReportWriter(tmp_path, catalogue(), None, "24h", improvements=register)
    for day in sorted({r.end for r in rows}):
        writer.add([r for r in rows if r.end == day])  # windows close one day at a time
    facts = ReplayFacts(
        start=START.timestamp(),
        end=START.timestamp() + 28 * 86400,
        records=1,
        received=Counter(),
        rejected=Counter(),
        windows=len(writer.windows),
        rows=writer.rows,
        elapsed=1.0,
        targets_source=None,
    )
    summary = writer.close(facts).read_text()

    with (tmp_path / "improvements.csv").open() as handle:
        table = list(csv.DictReader(handle))
    assert list(table[0]) == IMPROVEMENT_COLUMNS
    expected = evaluate(register.improvements[0], rows)
    kb = [r for r in table if r["improvement"] == "kb"]
    assert [(r["kpi"], r["stat"], r["role"], r["verdict"]) for r in kb] == [
        (v.check.kpi, v.check.stat, v.check.role.value, v.verdict.value) for v in expected.kpis
    ]
    fcr = kb[0]
    assert fcr["verdict"] == "improved" and float(fcr["ci_low"]) > 0
    assert expected.kpis[0].comparison is not None
    assert float(fcr["effect"]) == expected.kpis[0].comparison.effect
    assert {r["overall"] for r in kb} == {expected.overall.value}
    later = [r for r in table if r["improvement"] == "later"]
    assert {r["verdict"] for r in later} == {"too_little_data"}
    closed = desk.days - desk.before_days - 7  # daily windows since 'later' was implemented
    assert f"after period running: {closed} of 14 windows" in later[0]["note"]

    assert "## Improvements (2)" in summary
    assert f"### kb: {OVERALL_TEXT[expected.overall]}" in summary
    assert "### later: too little data" in summary
    assert "![kb](plots/improvement-kb.svg)" in summary
    chart = ElementTree.parse(tmp_path / "plots" / "improvement-kb.svg").getroot()
    texts = [t.text for t in chart.iter("{http://www.w3.org/2000/svg}text")]
    assert texts[0] == f"kb: {OVERALL_TEXT[expected.overall]}"
    assert {"before", "after", "24h windows"} <= set(texts)
