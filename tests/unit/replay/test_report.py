"""The report folder from known closed windows and alert events: tidy CSV, alerts CSV, plots,
summary."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path
from xml.etree import ElementTree

import pytest

from pipeline.alerts.engine import AlertEngine
from pipeline.alerts.model import Objective, ScopeMatch, TargetSet
from pipeline.core.context import CoreContext
from pipeline.core.results import WindowResult
from pipeline.core.windows import WindowSpec
from pipeline.replay.plots import SeriesStore, _gapped, _time_scale
from pipeline.replay.report import KPI_COLUMNS, ReportWriter
from pipeline.replay.summary import ReplayFacts
from tests.unit.alerts import HOUR, T0, result, scope, target

SVG = "{http://www.w3.org/2000/svg}"

FCR = [0.80, 0.50, 0.40, 0.45, 0.50, 0.90, 0.90]  # a breach held for 3 windows, then recovery
ORG = scope(breakdown="all")
BILLING = scope("billing")


def windows() -> list[list[WindowResult]]:
    """Per closed 24h window (hourly): fcr_rate for the org and billing, resolution time stats
    for billing, and a KPI without sample (value None)."""
    batches = []
    for i, fcr in enumerate(FCR):
        end = T0 + (i + 1) * HOUR
        batches.append(
            [
                result(fcr, 100, end, where=ORG),
                result(fcr, 100, end, where=BILLING),
                *(
                    result(v, 40, end, kpi="resolution_time", stat=s, where=BILLING)
                    for s, v in (("mean", 3600.0 + i), ("p50", 3000.0), ("p90", 7200.5))
                ),
                result(None, 0, end, kpi="csat", where=BILLING, unit="ratio"),
            ]
        )
    return batches


@pytest.fixture
def report(tmp_path: Path) -> Path:
    targets = TargetSet(
        "targets/v1",
        (
            target(
                id="fcr-org",
                scope=ScopeMatch("all"),
                hold_seconds=2 * HOUR,
                clear_margin=0.0,
                min_sample=50,
            ),
            target(
                id="p90-billing",
                kpi="resolution_time",
                stat="p90",
                objective=Objective("<=", 7200.0),
            ),
        ),
        source="what-if.yaml",
    )
    ctx = CoreContext(windows=(WindowSpec("24h", 86400, 3600),))
    writer = ReportWriter(tmp_path / "out", ctx.kpis, targets, plot_window="24h")
    engine = AlertEngine(targets)
    for batch in windows():
        writer.add(batch, engine.observe(batch))
    facts = ReplayFacts(
        start=T0 - 23 * HOUR,
        end=T0 + 7 * HOUR,
        records=1234,
        received=Counter(tickets=1200, surveys=34),
        rejected=Counter(late=3),
        windows=len(writer.windows),
        rows=writer.rows,
        elapsed=2.0,
        targets_source="what-if.yaml",
    )
    writer.close(facts)
    return tmp_path / "out"


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_tidy_csv_has_one_row_per_window_kpi_stat_and_scope(report: Path) -> None:
    with (report / "kpis.csv").open(newline="", encoding="utf-8") as f:
        header = next(csv.reader(f))
    assert header == KPI_COLUMNS
    got = rows(report / "kpis.csv")
    assert len(got) == sum(len(b) for b in windows()) == 7 * 6
    third_p90 = next(
        r
        for r in got
        if r["kpi"] == "resolution_time"
        and r["stat"] == "p90"
        and r["window_end"] == "2026-01-01T03:00:00Z"
    )
    assert third_p90 == {
        "window": "24h",
        "window_start": "2025-12-31T03:00:00Z",
        "window_end": "2026-01-01T03:00:00Z",
        "kpi": "resolution_time",
        "kpi_class": "process",
        "unit": "seconds",
        "stat": "p90",
        "service": "billing",
        "team": "",
        "channel": "",
        "priority": "",
        "breakdown": "service",
        "value": "7200.5",
        "sample_size": "40",
    }
    org = [r for r in got if r["breakdown"] == "all"]
    assert [float(r["value"]) for r in org] == FCR
    assert all(r["service"] == "" for r in org)
    empty = [r for r in got if r["kpi"] == "csat"]
    assert {(r["value"], r["sample_size"]) for r in empty} == {("", "0")}


def test_alerts_csv_has_the_episode_with_its_times_and_worst_gap(report: Path) -> None:
    (episode,) = [r for r in rows(report / "alerts.csv") if r["rule"] == "fcr-org"]
    # Pending at the first breach (2nd window), firing once held 2 h (4th), resolved at 0.90;
    # the worst window (0.40, gap 0.30) caused no transition: it comes from the windows.
    assert episode["rule"] == "fcr-org"
    assert episode["breakdown"] == "all"
    assert episode["pending_at"] == "2026-01-01T02:00:00Z"
    assert episode["firing_at"] == "2026-01-01T04:00:00Z"
    assert episode["resolved_at"] == "2026-01-01T06:00:00Z"
    assert episode["state_at_end"] == "resolved"
    assert episode["objective"] == ">= 0.7"
    assert float(episode["worst_value"]) == 0.40
    assert float(episode["worst_gap"]) == pytest.approx(0.30)
    assert episode["episode_id"]


def test_plots_are_written_for_kpis_with_data(report: Path) -> None:
    plots = sorted(p.name for p in (report / "plots").iterdir())
    assert {"fcr_rate.svg", "resolution_time.svg"} <= set(plots)
    assert "tickets_created.svg" not in plots  # no data, no plot
    assert "csat.svg" not in plots  # rows, but no value in any of them: empty panels only
    for name in ("fcr_rate.svg", "resolution_time.svg"):
        svg = ElementTree.parse(report / "plots" / name).getroot()  # well-formed
        texts = [t.text for t in svg.iter(f"{SVG}text")]
        assert texts[0].startswith(name.removesuffix(".svg"))  # the chart's title
        assert "service billing" in texts
        assert list(svg.iter(f"{SVG}polyline"))  # the series are drawn
    fcr = ElementTree.parse(report / "plots" / "fcr_rate.svg").getroot()
    texts = [t.text for t in fcr.iter(f"{SVG}text")]
    assert {"organisation", "target fcr-org (value >= 0.7)"} <= set(texts)
    # The fcr-org episode: pending (amber) and firing (red), shaded.
    fills = {r.get("fill") for r in fcr.iter(f"{SVG}rect")}
    assert {"#ffa500", "#ff0000"} <= fills


def test_summary_links_the_files_and_judges_the_target(report: Path) -> None:
    text = (report / "summary.md").read_text(encoding="utf-8")
    assert "[kpis.csv](kpis.csv)" in text
    assert "[alerts.csv](alerts.csv)" in text
    assert "![fcr_rate](plots/fcr_rate.svg)" in text
    assert "1234 records read (surveys 34, tickets 1200)" in text
    assert "late 3" in text
    # 7 windows judged, 3 met (0.80, 0.90, 0.90), worst 0.4, one episode fired
    row = next(line for line in text.splitlines() if line.startswith("| fcr-org "))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells == ["fcr-org", "fcr_rate", "value", "24h", ">= 0.7", "7", "43%", "0.4", "1", "0"]
    # times read as durations: 7200.5 s missed 2 h in every window
    row = next(line for line in text.splitlines() if line.startswith("| p90-billing "))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[4:8] == ["<= 2.0 h", "7", "0%", "2.0 h"]


def test_plotted_series_break_at_missing_windows_and_times_get_a_readable_unit() -> None:
    # Windows end every hour; the 3rd and 4th are missing (no event in that scope).
    ends, values = _gapped([0.0, 3600.0, 4 * 3600.0, 5 * 3600.0], [1.0, 2.0, 3.0, 4.0])
    assert list(ends) == [0.0, 3600.0, 2 * 3600.0, 4 * 3600.0, 5 * 3600.0]
    assert [str(v) for v in values] == ["1.0", "2.0", "nan", "3.0", "4.0"]

    store = SeriesStore("24h")
    ctx = CoreContext(windows=(WindowSpec("24h", 86400, 3600),))
    resolution = next(k for k in ctx.kpis if k.name == "resolution_time")
    store.add([result(40 * 86400.0, 10, T0 + HOUR, kpi="resolution_time", where=ORG)])
    assert _time_scale(store, resolution) == (86400.0, "days")
    store = SeriesStore("24h")
    store.add([result(5 * 3600.0, 10, T0 + HOUR, kpi="resolution_time", where=ORG)])
    assert _time_scale(store, resolution) == (3600.0, "hours")


def test_benchmarks_are_labelled_reference_lines_on_their_kpi_only() -> None:
    from pipeline.alerts.model import Benchmark
    from pipeline.core.kpis import catalogue
    from pipeline.replay.charts import Panel
    from pipeline.replay.plots import _benchmark_lines

    kpis = {k.name: k for k in catalogue()}
    hdi = Benchmark("hdi-fcr", "fcr_rate", "value", 0.641, "HDI research brief", 2013, "phone")
    fcr, csat = Panel("fcr"), Panel("csat")
    _benchmark_lines(fcr, kpis["fcr_rate"], [hdi], 1.0)
    _benchmark_lines(csat, kpis["csat"], [hdi], 1.0)
    (rule,) = fcr.rules
    assert rule.y == 0.641 and rule.x0 is None  # across the panel
    assert rule.label is not None
    assert rule.label.startswith("benchmark 0.641 (HDI research brief, 2013; phone)")
    assert csat.rules == []
